"""The storefront's static assets (one script, one stylesheet, an icon), served by the gateway
under /static with content-hashed URLs (see gateway/assets.py). A package only so that its files
ship with the distribution."""
