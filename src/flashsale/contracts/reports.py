"""Bodies of the reporting service's answers (`GET /reports/...`). camelCase on the wire.

Units are counted from the inventory's facts (a hold granted, a deduction, a release ...), orders
from the order service's, money from the payments'. A ratio is null while its denominator is 0.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

# The time buckets a sales series can be cut into.
Bucket = Literal["1s", "10s", "1m"]


class ReportModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class SalesPoint(ReportModel):
    """One time bucket of a product's sale (only buckets in which something happened)."""

    bucket_start: str
    received: int
    held: int
    sold: int
    sold_so_far: int
    # Units sold so far / units received so far.
    sell_through: float | None


class OrderFigures(ReportModel):
    """Orders holding the product, by what happened to them (an order counts once per product)."""

    created: int
    paid: int
    completed: int
    cancelled: int
    cancelled_by_reason: dict[str, int]


class MoneyFigures(ReportModel):
    """Money of the orders holding the product. An order of several products shares its amounts
    among them by units."""

    captured_cents: int
    refunded_cents: int
    voided_cents: int


class ProductSales(ReportModel):
    product_id: str
    received: int
    adjusted: int
    held: int
    sold: int
    released: int
    expired: int
    revoked: int
    orders: OrderFigures
    money: MoneyFigures
    # Hold to purchase: units sold / units held.
    conversion: float | None
    # Units sold / units received.
    sell_through: float | None
    series: list[SalesPoint]


class SalesReport(ReportModel):
    bucket: Bucket
    products: list[ProductSales]


class EventCounts(ReportModel):
    total: int
    by_type: dict[str, int]
