"""HTTP routes of the reporting service: sales per product, and how many events it has kept."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from flashsale.contracts.api import ID_PATTERN
from flashsale.contracts.reports import (
    Bucket,
    EventCounts,
    MoneyFigures,
    OrderFigures,
    ProductSales,
    SalesPoint,
    SalesReport,
)
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.services.reporting import domain
from flashsale.services.reporting.store import ReportStore

router = APIRouter(tags=["reporting"])
DEFAULT_BUCKET: Bucket = "10s"  # a flash sale is over in seconds to minutes


StoreDep = Annotated[ReportStore, from_app_state("store")]


@router.get("/reports/sales")
async def sales(
    store: StoreDep,
    product_id: Annotated[str | None, Query(alias="productId", pattern=ID_PATTERN)] = None,
    bucket: Bucket = DEFAULT_BUCKET,
) -> SalesReport:
    """Per product (one, or every product the events named): units, orders, money, ratios, and
    units over time in `bucket`s. Only buckets in which something happened are listed."""
    found = await store.sales(product_id, domain.BUCKET_MS[bucket])
    return SalesReport(bucket=bucket, products=[product_view(p) for p in found])


@router.get("/reports/events/count")
async def event_counts(store: StoreDep) -> EventCounts:
    counts = await store.counts()
    return EventCounts(total=sum(counts.values()), by_type=counts)


def product_view(sales: domain.ProductSales) -> ProductSales:
    units, orders, money = sales.units, sales.orders, sales.money
    return ProductSales(
        product_id=sales.product_id, received=units.received, adjusted=units.adjusted, held=units.held,
        sold=units.sold, released=units.released, expired=units.expired, revoked=units.revoked,
        orders=OrderFigures(created=orders.created, paid=orders.paid, completed=orders.completed,
                            cancelled=orders.cancelled, cancelled_by_reason=dict(orders.cancelled_by_reason)),
        money=MoneyFigures(captured_cents=money.captured_cents, refunded_cents=money.refunded_cents,
                           voided_cents=money.voided_cents),
        conversion=sales.conversion, sell_through=sales.sell_through,
        series=[SalesPoint(bucket_start=iso_from_ms(p.bucket_start_ms), received=p.received, held=p.held,
                           sold=p.sold, sold_so_far=p.sold_so_far, sell_through=p.sell_through)
                for p in sales.series],
    )
