"""HTTP routes of the payments service (internal: called by the order service, not by buyers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from flashsale.contracts.api import ID_PATTERN, ApiModel, AuthorisePayment, PaymentView
from flashsale.kit.clock import iso_from_ms
from flashsale.services.payments import domain
from flashsale.services.payments.operations import Payments
from flashsale.services.payments.store import LedgerEntry, Payment

router = APIRouter()

OrderId = Annotated[str, Path(alias="orderId", pattern=ID_PATTERN)]


class LedgerEntryView(ApiModel):
    entry_id: str
    payment_id: str
    kind: str
    amount_cents: int
    at: str


class LedgerView(ApiModel):
    """An order's money movements; `balanceCents` (captured - refunded) is never negative."""

    order_id: str
    balance_cents: int
    entries: list[LedgerEntryView]


async def _payments(request: Request) -> Payments:
    payments: Payments = request.app.state.payments
    return payments


PaymentsDep = Annotated[Payments, Depends(_payments)]


@router.post("/payments")
async def authorise_payment(body: AuthorisePayment, payments: PaymentsDep) -> PaymentView:
    """Charge the order once; a repeated call answers with the stored outcome."""
    return payment_view(await payments.authorise(body.order_id, body.amount_cents, body.payment_token))


@router.post("/payments/{orderId}/refund")
async def refund_payment(order_id: OrderId, payments: PaymentsDep) -> PaymentView:
    return payment_view(await payments.refund(order_id))


@router.get("/payments/{orderId}")
async def get_payment(order_id: OrderId, payments: PaymentsDep) -> PaymentView:
    return payment_view(await payments.find(order_id))


@router.get("/payments/{orderId}/ledger")
async def get_ledger(order_id: OrderId, payments: PaymentsDep) -> LedgerView:
    return ledger_view(order_id, await payments.ledger(order_id))


def payment_view(payment: Payment) -> PaymentView:
    return PaymentView(payment_id=payment.payment_id, order_id=payment.order_id, status=payment.status,
                       amount_cents=payment.amount_cents, reason=payment.reason)


def ledger_view(order_id: str, entries: list[LedgerEntry]) -> LedgerView:
    return LedgerView(
        order_id=order_id,
        balance_cents=domain.balance_cents((e.kind, e.amount_cents) for e in entries),
        entries=[LedgerEntryView(entry_id=e.entry_id, payment_id=e.payment_id, kind=e.kind,
                                 amount_cents=e.amount_cents, at=iso_from_ms(e.at_ms)) for e in entries],
    )
