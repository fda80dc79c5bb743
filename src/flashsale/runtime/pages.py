"""The pages a running house serves to people, and where: the operations dashboard (the monitor)
and the storefront (the gateway). `flashsale up` and `flashsale demo --dashboard` print them."""

from __future__ import annotations

from flashsale.runtime.services_file import ServicesFile


def page_urls(services: ServicesFile) -> dict[str, str]:
    """{"dashboard": ..., "storefront": ...}, for the services the house runs."""
    urls = services.urls
    pages = {}
    if urls.get("monitor"):
        pages["dashboard"] = urls["monitor"][0].rstrip("/") + "/dashboard"
    if urls.get("gateway"):
        pages["storefront"] = urls["gateway"][0].rstrip("/") + "/"
    return pages
