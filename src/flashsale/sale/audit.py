"""The audit: is the house consistent? Judged only from what its public APIs say.

`audit_snapshot` is a pure function of the listings (stock, reservations, orders, and each order's
payment ledger), so its rules are unit-tested on hand-made data; `audit_house` fetches them from a
running house.

Rules (each violation is listed with the entity it concerns):
- stock: available, reserved, sold >= 0 and available + reserved + sold == received - writtenOff;
- stock matches holds: reserved == units in HELD reservations, sold == units in CONFIRMED ones;
- no oversell: units in PAID or COMPLETED orders never exceed what was received minus written off;
- orders agree with reservations: a COMPLETED order's reservation is CONFIRMED, a CONFIRMED
  reservation's order is COMPLETED, a CANCELLED order holds nothing, a PENDING_PAYMENT order's hold
  is HELD, and no order is left PAID (a paid order must complete or be compensated);
- the money books balance: a COMPLETED order's money is captured and kept (balance == captured > 0),
  a CANCELLED order keeps nothing (balance 0: voided, refunded, or never taken), and no ledger
  refunds more than it captured;
- the price is the snapshot's: where an order states its `totalCents`, that is the sum of its
  lines at their snapshot unit prices, and a COMPLETED order captured exactly that much.
The order/reservation rules describe a quiet system; while events are in flight they may be
briefly false, which is why the callers retry until a deadline before they call it a violation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flashsale.sale.client import HouseClient

Row = dict[str, Any]


@dataclass
class AuditReport:
    products: int = 0
    reservations: int = 0
    orders: int = 0
    oversold: int = 0
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and self.oversold == 0


def _units(rows: Iterable[Row]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        for item in row["items"]:
            totals[item["productId"]] += int(item["quantity"])
    return totals


def _check_stock(stock: Row, held: int, confirmed: int, report: AuditReport) -> None:
    pid = stock["productId"]
    counts = {k: int(stock[k]) for k in ("available", "reserved", "sold", "received", "writtenOff")}
    if min(counts["available"], counts["reserved"], counts["sold"]) < 0:
        report.violations.append(f"stock {pid}: negative count {counts}")
    if counts["available"] + counts["reserved"] + counts["sold"] != counts["received"] - counts["writtenOff"]:
        report.violations.append(f"stock {pid}: available+reserved+sold != received-writtenOff {counts}")
    if counts["reserved"] != held:
        report.violations.append(f"stock {pid}: reserved={counts['reserved']} but HELD reservations hold {held}")
    if counts["sold"] != confirmed:
        report.violations.append(f"stock {pid}: sold={counts['sold']} but CONFIRMED reservations hold {confirmed}")


def _check_order(order: Row, reservation: Row | None, report: AuditReport) -> None:
    oid, status = order["orderId"], order["status"]
    held = reservation["status"] if reservation else None
    expected: dict[str, set[str | None]] = {
        "COMPLETED": {"CONFIRMED"},
        "CANCELLED": {"RELEASED", "EXPIRED", "REVOKED", None},
        "PENDING_PAYMENT": {"HELD"},
    }
    if status == "PAID":
        report.violations.append(f"order {oid}: still PAID (neither completed nor compensated)")
    elif status in expected and held not in expected[status]:
        report.violations.append(f"order {oid}: {status} but its reservation is {held}")


def _check_money(order: Row, ledger: Row | None, report: AuditReport) -> None:
    oid, status = order["orderId"], order["status"]
    if ledger is None:
        if status == "COMPLETED":
            report.violations.append(f"order {oid}: COMPLETED but no payment")
        return
    captured, refunded, balance = (int(ledger[k]) for k in ("capturedCents", "refundedCents", "balanceCents"))
    if refunded > captured or balance != captured - refunded:
        report.violations.append(f"order {oid}: ledger does not add up {ledger}")
    if status == "COMPLETED" and not (balance == captured > 0):
        report.violations.append(f"order {oid}: COMPLETED but the money kept is {balance} of {captured} captured")
    if status == "CANCELLED" and balance != 0:
        report.violations.append(f"order {oid}: CANCELLED but {balance} cents were kept")
    total = order.get("totalCents")
    if status == "COMPLETED" and total is not None and captured != int(total):
        report.violations.append(f"order {oid}: COMPLETED for {total} cents but {captured} were captured")


def _check_total(order: Row, report: AuditReport) -> None:
    """The order's total is its lines at their snapshot prices (orders that state both)."""
    total = order.get("totalCents")
    prices = [item.get("unitPriceCents") for item in order["items"]]
    if total is None or any(price is None for price in prices):
        return
    lines = sum(int(item["quantity"]) * int(item["unitPriceCents"]) for item in order["items"])
    if lines != int(total):
        report.violations.append(f"order {order['orderId']}: totalCents {total} but its lines add up to {lines}")


def audit_snapshot(
    products: list[Row], reservations: list[Row], orders: list[Row], ledgers: dict[str, Row] | None = None,
) -> AuditReport:
    report = AuditReport(len(products), len(reservations), len(orders))
    held = _units(r for r in reservations if r["status"] == "HELD")
    confirmed = _units(r for r in reservations if r["status"] == "CONFIRMED")
    paid = _units(o for o in orders if o["status"] in ("PAID", "COMPLETED"))
    for stock in products:
        pid = stock["productId"]
        _check_stock(stock, held.get(pid, 0), confirmed.get(pid, 0), report)
        sellable = int(stock["received"]) - int(stock["writtenOff"])
        report.oversold += max(0, paid.get(pid, 0) - sellable, int(stock["sold"]) - sellable)
    by_reservation = {r["reservationId"]: r for r in reservations}
    by_order = {o["orderId"]: o for o in orders}
    for order in orders:
        _check_order(order, by_reservation.get(order.get("reservationId") or ""), report)
        _check_total(order, report)
        if ledgers is not None:
            _check_money(order, ledgers.get(order["orderId"]), report)
    for reservation in reservations:
        owner = by_order.get(reservation.get("orderId") or "")
        if reservation["status"] == "CONFIRMED" and owner is not None and owner["status"] != "COMPLETED":
            report.violations.append(
                f"reservation {reservation['reservationId']}: CONFIRMED but its order is {owner['status']}"
            )
    return report


async def audit_house(client: HouseClient) -> AuditReport:
    products = await client.all_products()
    reservations = await client.all_reservations()
    orders = await client.all_orders()
    ledgers = await client.ledgers([o["orderId"] for o in orders if o["status"] in ("COMPLETED", "CANCELLED")])
    return audit_snapshot(products, reservations, orders, ledgers)
