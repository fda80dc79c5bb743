"""HTTP routes of the payments service (internal: called by the order service's checkout saga), and
the problem each refusal (errors.py) is answered with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path

from flashsale.contracts.api import ID_PATTERN, ApiModel, AuthorisePayment, PaymentView
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.kit.openapi import answers
from flashsale.kit.problems import Problem, answer_errors
from flashsale.kit.service import require_admin
from flashsale.services.payments import domain
from flashsale.services.payments.errors import (
    NotCapturable,
    NotRefundable,
    PaymentError,
    PaymentInProgress,
    ProviderUnavailable,
    UnknownPayment,
)
from flashsale.services.payments.operations import Payments
from flashsale.services.payments.provider import ProviderOperation
from flashsale.services.payments.store import LedgerEntry, Payment

router = APIRouter()

OrderId = Annotated[str, Path(alias="orderId", pattern=ID_PATTERN)]
ADMIN = [Depends(require_admin)]


class LedgerEntryView(ApiModel):
    entry_id: str
    payment_id: str
    kind: str
    amount_cents: int
    at: str


class LedgerView(ApiModel):
    """An order's money movements; `balanceCents` (captured - refunded) is never negative."""

    order_id: str
    authorised_cents: int
    captured_cents: int
    refunded_cents: int
    voided_cents: int
    balance_cents: int
    entries: list[LedgerEntryView]


class ProviderOperationView(ApiModel):
    kind: str
    idempotency_key: str
    calls: int
    effects: int
    approved: bool | None
    reason: str | None


class ProviderOperationsView(ApiModel):
    """What the provider did for an order: `effects` is 1 at most per key, however often asked."""

    order_id: str
    operations: list[ProviderOperationView]


PaymentsDep = Annotated[Payments, from_app_state("payments")]


@router.post("/payments", responses=answers((409, "payment_in_progress")))
async def authorise_payment(body: AuthorisePayment, payments: PaymentsDep) -> PaymentView:
    """Authorise the order's payment once; a repeated call answers with the stored payment."""
    return await authorised(payments, body)  # answered in front of the app too (hot_routes.py)


async def authorised(payments: Payments, body: AuthorisePayment) -> PaymentView:
    return payment_view(await payments.authorise(body.order_id, body.amount_cents, body.payment_token))


@router.post("/payments/{orderId}/capture", responses=answers(
    (404, "unknown_payment"), (409, "not_capturable"), (503, "payments_provider_unavailable")))
async def capture_payment(order_id: OrderId, payments: PaymentsDep) -> PaymentView:
    return await captured(payments, order_id)  # answered in front of the app too (hot_routes.py)


async def captured(payments: Payments, order_id: str) -> PaymentView:
    return payment_view(await payments.capture(order_id))


@router.post("/payments/{orderId}/refund", responses=answers(
    (404, "unknown_payment"), (409, "not_refundable"), (503, "payments_provider_unavailable")))
async def refund_payment(order_id: OrderId, payments: PaymentsDep) -> PaymentView:
    """Give the money back: void an authorisation, refund a capture (idempotent)."""
    return payment_view(await payments.refund(order_id))


@router.get("/payments/{orderId}", responses=answers((404, "unknown_payment")))
async def get_payment(order_id: OrderId, payments: PaymentsDep) -> PaymentView:
    return payment_view(await payments.find(order_id))


@router.get("/payments/{orderId}/ledger", responses=answers((404, "unknown_payment")))
async def get_ledger(order_id: OrderId, payments: PaymentsDep) -> LedgerView:
    return ledger_view(order_id, await payments.ledger(order_id))


@router.get("/payments/{orderId}/provider-operations", dependencies=ADMIN,
            responses=answers((404, "unknown_payment"), admin=True))
async def get_provider_operations(order_id: OrderId, payments: PaymentsDep) -> ProviderOperationsView:
    return provider_operations_view(order_id, await payments.provider_operations(order_id))


def payment_view(payment: Payment) -> PaymentView:
    return PaymentView(payment_id=payment.payment_id, order_id=payment.order_id, status=payment.status,
                       amount_cents=payment.amount_cents, reason=payment.reason)


def ledger_view(order_id: str, entries: list[LedgerEntry]) -> LedgerView:
    totals = domain.totals((e.kind, e.amount_cents) for e in entries)
    return LedgerView(
        order_id=order_id, authorised_cents=totals.authorised, captured_cents=totals.captured,
        refunded_cents=totals.refunded, voided_cents=totals.voided, balance_cents=totals.balance,
        entries=[LedgerEntryView(entry_id=e.entry_id, payment_id=e.payment_id, kind=e.kind,
                                 amount_cents=e.amount_cents, at=iso_from_ms(e.at_ms)) for e in entries],
    )


def provider_operations_view(order_id: str, operations: list[ProviderOperation]) -> ProviderOperationsView:
    return ProviderOperationsView(order_id=order_id, operations=[
        ProviderOperationView(kind=o.kind, idempotency_key=o.idempotency_key, calls=o.calls, effects=o.effects,
                              approved=o.approved, reason=o.reason)
        for o in operations
    ])


def _problem(error: PaymentError) -> Problem:
    detail = str(error)
    match error:
        case UnknownPayment():
            return Problem(404, "unknown_payment", "Unknown payment", detail)
        case PaymentInProgress():
            return Problem(409, "payment_in_progress", "Payment in progress", detail)
        case NotCapturable():
            return Problem(409, "not_capturable", "Not capturable", detail, paymentStatus=error.payment_status)
        case NotRefundable():
            return Problem(409, "not_refundable", "Not refundable", detail, paymentStatus=error.payment_status)
        case ProviderUnavailable():
            return Problem(503, "payments_provider_unavailable", "Payment provider unavailable", detail)
    return Problem(409, "payment_conflict", "Payment conflict", detail)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become problem details (RFC 9457) with a `code`."""
    answer_errors(app, PaymentError, _problem)
