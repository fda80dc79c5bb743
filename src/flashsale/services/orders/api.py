"""HTTP routes of the order service (docs/contract.md#orders), and the problem each refusal
(errors.py) is answered with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse

from flashsale.contracts.api import (
    ID_PATTERN,
    ApiModel,
    ContactView,
    CreateOrder,
    OrderDetailView,
    OrderItem,
    OrderView,
    PayOrder,
    ReconcileRound,
)
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.kit.errors import DependencyUnavailable
from flashsale.kit.idempotency import MAX_KEY_LENGTH, REPLAYED_HEADER, Answer, IdempotencyStore, KeyClaim, KeyTicket
from flashsale.kit.openapi import answers
from flashsale.kit.problems import MEDIA_TYPE, Problem, answer_errors
from flashsale.kit.service import require_admin
from flashsale.services.orders import domain
from flashsale.services.orders import saga_plan as plan
from flashsale.services.orders.domain import Contact
from flashsale.services.orders.errors import (
    HoldExpired,
    InvalidItems,
    InvalidState,
    LimitExceeded,
    NotInCatalog,
    OrderError,
    OutOfStock,
    PaymentDeclined,
    RequestInProgress,
    SaleClosed,
    SaleNotOpen,
    UnknownContact,
    UnknownOrder,
    UnknownProduct,
)
from flashsale.services.orders.operations import Checkout, refused_as_sold_out
from flashsale.services.orders.reconcile import ContactReconciler
from flashsale.services.orders.store import ContactStore, Order, OrderStore, Saga, SagaStore, Step

router = APIRouter()

OrderId = Annotated[str, Path(alias="orderId", pattern=ID_PATTERN)]
CustomerId = Annotated[str, Path(alias="customerId", pattern=ID_PATTERN)]
# The key's length is checked by the idempotency store (422 invalid_idempotency_key); the document says it.
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH})]
# A product the gateway's sold-out copy holds sold out: the gateway cannot keep Idempotency-Keys,
# so a keyed attempt it would refuse at its door comes here with this, and is refused as the
# inventory would refuse it, without asking the catalog or the inventory; its key keeps the answer.
SoldOutHint = Annotated[str | None, Header(
    alias="Flashsale-Sold-Out", pattern=ID_PATTERN,
    description="The house's gateway: a product its sold-out copy refuses; the attempt is 409 out_of_stock "
                "without a hold asked for (its Idempotency-Key keeps that answer)")]
STATUS_PATTERN = "^(" + "|".join(domain.STATUSES) + ")$"
SAGA_STATES = (plan.RUNNING, plan.COMPENSATING, plan.COMPLETED, plan.COMPENSATED, plan.NEEDS_ATTENTION)
SAGA_STATE_PATTERN = "^(" + "|".join(SAGA_STATES) + ")$"


class SagaStepView(ApiModel):
    step: str
    kind: str  # action | compensation
    status: str  # STARTED | DONE | SKIPPED
    outcome: str | None
    detail: str | None
    attempts: int
    started_at: str
    finished_at: str | None
    error: str | None


class SagaView(ApiModel):
    order_id: str
    state: str  # RUNNING | COMPENSATING | COMPLETED | COMPENSATED | NEEDS_ATTENTION
    reason: str | None
    attempts: int
    last_error: str | None
    created_at: str
    updated_at: str
    steps: list[SagaStepView]


class SagaSummaryView(ApiModel):
    """A saga without its steps: a line in an operator's list."""

    order_id: str
    state: str
    reason: str | None
    attempts: int
    last_error: str | None
    created_at: str
    updated_at: str


class SagaList(ApiModel):
    sagas: list[SagaSummaryView]


class CustomerOrders(ApiModel):
    orders: list[OrderView]


class OrderPage(ApiModel):
    orders: list[OrderView]
    next: str | None


async def _reconciler(request: Request) -> ContactReconciler:
    reconciler: ContactReconciler | None = request.app.state.reconciler
    if reconciler is None:
        raise DependencyUnavailable("customers", "no customers service configured (FLASHSALE_CUSTOMERS_URLS)")
    return reconciler


CheckoutDep = Annotated[Checkout, from_app_state("checkout")]
StoreDep = Annotated[OrderStore, from_app_state("orders")]
SagasDep = Annotated[SagaStore, from_app_state("sagas")]
IdempotencyDep = Annotated[IdempotencyStore, from_app_state("idempotency")]
ContactsDep = Annotated[ContactStore, from_app_state("contacts")]
ReconcilerDep = Annotated[ContactReconciler, Depends(_reconciler)]
ADMIN = [Depends(require_admin)]
# An Idempotency-Key's own answers (kit/idempotency.py), on the routes that honour one.
KEYED = ((409, "request_in_progress"), (422, "idempotency_key_reused"), (422, "invalid_idempotency_key"))
UNKNOWN_ORDER = (404, "unknown_order")


@router.post("/orders", status_code=201, response_model=OrderView, responses=answers(
    *KEYED, (409, "out_of_stock"), (409, "limit_exceeded"), (409, "sale_not_open"), (409, "sale_closed"),
    (404, "unknown_product"), (422, "unknown_product"),
    (503, "inventory_unavailable"), (503, "catalog_unavailable"),
))
async def place_order(
    request: Request, body: CreateOrder, checkout: CheckoutDep, keys: IdempotencyDep, key: IdempotencyKey = None,
    sold_out: SoldOutHint = None,
) -> JSONResponse:
    """Hold the stock and create the order (201); no stock, no order (409 out_of_stock)."""
    lines = [domain.Line(item.product_id, item.quantity) for item in body.items]

    def created(order: Order) -> Answer:
        return Answer(201, _json(order))

    async def place(claim: KeyClaim | None) -> Answer:
        # With a key, the answer is stored in the transaction that creates the order.
        keyed = None if claim is None else (claim, created)
        answer = created(await checkout.place(body.customer_id, lines, fulfilment=body.fulfilment, keyed=keyed,
                                              sold_out=sold_out))
        return replace(answer, stored=claim is not None)

    # Refused on the gateway's word: with a key, that answer is stored as the key is taken.
    refused = refused_as_sold_out(lines, sold_out)
    known = None if refused is None else _problem(refused)
    return await _answer_once(key, request, lambda: place(None), lambda key, body: keys.run_keyed(
        "create-order", key, body, _refusals_answered(place), known=known))


@router.post("/orders/{orderId}/pay", response_model=OrderView, responses=answers(
    *KEYED, UNKNOWN_ORDER, (402, "payment_declined"), (409, "invalid_state"), (409, "hold_expired"),
    (503, "payments_unavailable"),
))
async def pay_order(
    order_id: OrderId, request: Request, body: PayOrder, checkout: CheckoutDep, keys: IdempotencyDep,
    key: IdempotencyKey = None,
    customer_id: Annotated[str | None, Query(alias="customerId", pattern=ID_PATTERN)] = None,
) -> JSONResponse:
    """Pay a PENDING_PAYMENT order: 200 PAID, or 402 payment_declined (the order is cancelled).

    Paying a PAID or COMPLETED order again answers 200 with the order as it is: payments are
    per order, so nothing is charged twice. A CANCELLED order is 409 invalid_state, or
    hold_expired when that is why it was cancelled. With `customerId` (the gateway paying for a
    signed-in customer), an order of another customer is 404 unknown_order, as a missing one.
    """

    def paid(order: Order) -> Answer:
        return Answer(200, _json(order))

    def paid_or_declined(outcome: Order | PaymentDeclined) -> Answer:
        if isinstance(outcome, PaymentDeclined):
            declined = _problem(outcome)
            return Answer(declined.status, declined.body())
        return paid(outcome)

    async def pay(ticket: KeyTicket | None) -> Answer:
        # With a key, the key is taken in the pay's first transaction, and the answer (paid, or
        # declined) stored in the transaction that records the payment, when this request pays.
        done = await checkout.pay(order_id, body.payment_token, customer_id=customer_id,
                                  keyed=None if ticket is None else (ticket, paid_or_declined))
        return done.answer or paid(done.order)

    return await _answer_once(key, request, lambda: pay(None), lambda key, body: keys.run_taking(
        f"pay:{order_id}", key, body, _refusals_answered(pay)))


@router.post("/orders/{orderId}/cancel", responses=answers(
    UNKNOWN_ORDER, (409, "invalid_state"), (409, "request_in_progress"),
    (503, "payments_unavailable"), (503, "inventory_unavailable"), (503, "shipping_unavailable"),
))
async def cancel_order(order_id: OrderId, checkout: CheckoutDep) -> OrderView:
    return order_view(await checkout.cancel(order_id))


# Registered before the order's own sub-resources, which these paths would otherwise match.
@router.get("/orders/customer-contacts/{customerId}", dependencies=ADMIN,
            responses=answers((404, "unknown_customer"), admin=True))
async def get_contact(customer_id: CustomerId, contacts: ContactsDep) -> ContactView:
    """Admin: the order service's copy of a customer's contact (404 unknown_customer when the copy
    has not heard of the customer), for consistency checkers to compare with its source."""
    contact = await contacts.find(customer_id)
    if contact is None:
        raise UnknownContact(customer_id)
    return ContactView(customer_id=contact.customer_id, name=contact.name, email=contact.email,
                       version=contact.version)


@router.post("/orders/reconcile", dependencies=ADMIN,
             responses=answers((503, "customers_unavailable"), admin=True))
async def reconcile_contacts(reconciler: ReconcilerDep) -> ReconcileRound:
    """Admin: one reconciliation round of the contact copy now; 503 customers_unavailable when
    the customers service cannot be walked (the copy is left as far as the round got)."""
    done = await reconciler.run("on_demand")
    return ReconcileRound(processed=done.processed, fixed=done.fixed)


@router.get("/sagas", dependencies=ADMIN, responses=answers(admin=True))
async def list_sagas(
    sagas: SagasDep,
    state: Annotated[str, Query(pattern=SAGA_STATE_PATTERN)] = plan.NEEDS_ATTENTION,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SagaList:
    """Admin: the sagas in one state (default: parked for an operator), the most recently
    changed first; the operations dashboard lists the latest few."""
    return SagaList(sagas=[_saga_summary(saga) for saga in await sagas.recent(state, limit)])


@router.get("/orders/{orderId}/saga", responses=answers(UNKNOWN_ORDER))
async def get_saga(order_id: OrderId, checkout: CheckoutDep) -> SagaView:
    """The order's checkout saga: its state, and each step with its timestamps and outcome."""
    return saga_view(await checkout.find_saga(order_id))


@router.post("/orders/{orderId}/saga/retry", responses=answers(UNKNOWN_ORDER, (409, "invalid_state"), admin=True))
async def retry_saga(order_id: OrderId, request: Request, checkout: CheckoutDep) -> SagaView:
    """Admin: send a saga parked as NEEDS_ATTENTION back to work (409 invalid_state otherwise)."""
    await require_admin(request)
    return saga_view(await checkout.retry_saga(order_id))


@router.get("/orders/{orderId}", responses=answers(UNKNOWN_ORDER))
async def get_order(order_id: OrderId, checkout: CheckoutDep) -> OrderDetailView:
    # Answered in front of the app (hot_routes.py), by order_detail_view as here.
    order, contact = await checkout.find_with_contact(order_id)
    return order_detail_view(order, contact)


# Without customerId it is an operator's listing: 401/403 without the admin token, so the document
# lists them, but names no security requirement (a customer's own listing needs none).
@router.get("/orders", response_model=CustomerOrders | OrderPage,
            responses=answers((401, "unauthorized"), (403, "forbidden")))
async def list_orders(
    request: Request,
    store: StoreDep,
    customer_id: Annotated[str | None, Query(alias="customerId", pattern=ID_PATTERN)] = None,
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    after: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CustomerOrders | OrderPage:
    """A customer's orders newest first; without customerId, every order (admin only), paged."""
    if customer_id is not None:
        orders = await store.of_customer(customer_id, status=status, limit=limit)
        return CustomerOrders(orders=[order_view(o) for o in orders])
    await require_admin(request)
    page = await store.page(status=status, after=after, limit=limit)
    last = page[-1].order_id if len(page) == limit else None
    return OrderPage(orders=[order_view(o) for o in page], next=last)


class _NotYet(Exception):
    """Carries a "still in progress" refusal past the idempotency store, which then forgets the
    key instead of replaying "in progress" forever: a retry with that key should run again."""

    def __init__(self, in_progress: RequestInProgress) -> None:
        super().__init__(str(in_progress))
        self.in_progress = in_progress


_Held = TypeVar("_Held", KeyClaim, KeyTicket)  # how a request holds its key: claimed, or to take


async def _answer_once(
    key: str | None, request: Request, unkeyed: Callable[[], Awaitable[Answer]],
    keyed: Callable[[str, bytes], Awaitable[Answer]],
) -> JSONResponse:
    """Answer a request without an Idempotency-Key by running it (`unkeyed`), and one with a key
    through the idempotency store (`keyed`: its `run_keyed`, or `run_taking` for work that takes
    its key in its own first transaction), which answers what the first request with it answered."""
    if key is None:
        return _response(await unkeyed())
    try:
        return _response(await keyed(key, await request.body()))
    except _NotYet as not_yet:
        raise not_yet.in_progress from None


def _refusals_answered(work: Callable[[_Held], Awaitable[Answer]]) -> Callable[[_Held], Awaitable[Answer]]:
    """`work` with its refusals made answers the key keeps (problems), and "still in progress"
    carried past the store (_NotYet), which then forgets the key: a retry with it runs again."""

    async def settled_work(held: _Held) -> Answer:
        try:
            return await work(held)
        except RequestInProgress as in_progress:
            raise _NotYet(in_progress) from in_progress
        except OrderError as refused:
            raise _problem(refused) from refused

    return settled_work


def _response(answer: Answer) -> JSONResponse:
    media_type = MEDIA_TYPE if answer.status >= 400 else "application/json"
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status, media_type=media_type, headers=headers)


def _json(order: Order) -> dict[str, object]:
    return order_view(order).model_dump(by_alias=True, mode="json")


def order_view(order: Order) -> OrderView:
    return OrderView(**_order_fields(order))


def order_detail_view(order: Order, contact: Contact | None) -> OrderDetailView:
    return OrderDetailView(**_order_fields(order), contact_email=None if contact is None else contact.email)


def _order_fields(order: Order) -> dict[str, Any]:
    return dict(
        order_id=order.order_id,
        customer_id=order.customer_id,
        status=order.status,
        status_reason=order.status_reason,
        items=[OrderItem(product_id=line.product_id, quantity=line.quantity, name=line.name,
                         unit_price_cents=line.unit_price_cents) for line in order.lines],
        reservation_id=order.reservation_id,
        expires_at=None if order.expires_at_ms is None else iso_from_ms(order.expires_at_ms),
        created_at=iso_from_ms(order.created_at_ms),
        updated_at=iso_from_ms(order.updated_at_ms),
        paid_at=None if order.paid_at_ms is None else iso_from_ms(order.paid_at_ms),
        total_cents=order.amount_cents,
    )


def saga_view(saga: Saga) -> SagaView:
    steps = sorted(saga.steps.values(), key=lambda step: plan.STEPS.index(step.name))
    return SagaView(
        order_id=saga.order_id, state=saga.state, reason=saga.reason, attempts=saga.attempts,
        last_error=saga.last_error, created_at=iso_from_ms(saga.created_at_ms),
        updated_at=iso_from_ms(saga.updated_at_ms), steps=[_step_view(step) for step in steps],
    )


def _saga_summary(saga: Saga) -> SagaSummaryView:
    return SagaSummaryView(
        order_id=saga.order_id, state=saga.state, reason=saga.reason, attempts=saga.attempts,
        last_error=saga.last_error, created_at=iso_from_ms(saga.created_at_ms),
        updated_at=iso_from_ms(saga.updated_at_ms),
    )


def _step_view(step: Step) -> SagaStepView:
    return SagaStepView(
        step=step.name, kind="action" if step.name in plan.FORWARD_STEPS else "compensation",
        status=step.status, outcome=step.outcome, detail=step.detail, attempts=step.attempts,
        started_at=iso_from_ms(step.started_at_ms),
        finished_at=None if step.finished_at_ms is None else iso_from_ms(step.finished_at_ms), error=step.error,
    )


def _problem(error: OrderError) -> Problem:
    detail = str(error)
    match error:
        case UnknownOrder():
            return Problem(404, "unknown_order", "Unknown order", detail)
        case UnknownProduct():
            return Problem(404, "unknown_product", "Unknown product", detail)
        case OutOfStock():
            return Problem(409, "out_of_stock", "Out of stock", detail)
        case LimitExceeded():
            return Problem(409, "limit_exceeded", "Purchase limit reached", detail)
        case HoldExpired():
            return Problem(409, "hold_expired", "Hold expired", detail)
        case InvalidState():
            return Problem(409, "invalid_state", "Invalid state", detail)
        case RequestInProgress():
            return Problem(409, "request_in_progress", "Request in progress", detail)
        case PaymentDeclined():
            return Problem(402, "payment_declined", "Payment declined", detail, reason=error.reason)
        case InvalidItems():
            return Problem(422, "invalid_request", "Invalid request", detail)
        case NotInCatalog():
            return Problem(422, "unknown_product", "Unknown product", detail)
        case SaleNotOpen():
            return Problem(409, "sale_not_open", "Sale not open", detail)
        case SaleClosed():
            return Problem(409, "sale_closed", "Sale closed", detail)
        case UnknownContact():
            return Problem(404, "unknown_customer", "Unknown customer", detail)
    return Problem(409, "order_conflict", "Order conflict", detail)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become problem details (RFC 9457) with a `code`."""
    answer_errors(app, OrderError, _problem)
