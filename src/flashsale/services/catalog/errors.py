"""What the catalog service refuses, in the domain's words (no HTTP: api.py answers each).

CatalogError
├── UnknownProduct      no product with that id is listed
└── InvalidSaleWindow   the sale would end before (or as) it starts

Everything the availability read model learns comes from inventory events; an event it cannot
use is retried and dead-lettered by the bus, never answered to a client.
"""

from __future__ import annotations


class CatalogError(Exception):
    pass


class UnknownProduct(CatalogError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"no product {product_id}")
        self.product_id = product_id


class InvalidSaleWindow(CatalogError):
    def __init__(self) -> None:
        super().__init__("saleEndsAt must come after saleStartsAt")
