"""What the catalog service refuses, as problems the API answers with (RFC 9457).

CatalogProblem (kit Problem)
├── UnknownProduct      404 unknown_product: no product with that id is listed
└── InvalidSaleWindow   422 invalid_sale_window: the sale would end before (or as) it starts

Everything the availability read model learns comes from inventory events; an event it cannot
use is retried and dead-lettered by the bus, never answered to a client.
"""

from __future__ import annotations

from flashsale.kit.problems import Problem


class CatalogProblem(Problem):
    pass


class UnknownProduct(CatalogProblem):
    def __init__(self, product_id: str) -> None:
        super().__init__(404, "unknown_product", "Unknown product", f"no product {product_id}")


class InvalidSaleWindow(CatalogProblem):
    def __init__(self) -> None:
        super().__init__(422, "invalid_sale_window", "Invalid sale window",
                         "saleEndsAt must come after saleStartsAt")
