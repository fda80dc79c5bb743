"""The gateway: the public edge (backend for frontend). It signs customers up and in, checks that
every caller owns what it asks for, composes reads from the services behind it and degrades
gracefully when one of them is slow or down. It owns no data."""
