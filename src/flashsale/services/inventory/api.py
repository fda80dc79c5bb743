"""The inventory's HTTP API (docs/contract.md#inventory): parse, call one store operation, map the answer.

Route order matters: `/inventory/reservations...` is declared before `/inventory/{productId}`,
so a GET of a reservation is never read as a product id.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query

from flashsale.contracts.api import (
    ID_PATTERN,
    AdjustStock,
    ApiModel,
    Item,
    PurchaseLimit,
    PurchaseLimitView,
    ReceiveStock,
    ReservationView,
    ReserveStock,
    StockView,
)
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.kit.openapi import answers
from flashsale.kit.outbox import outbox_backlog
from flashsale.kit.problems import Problem, answer_errors
from flashsale.kit.service import require_admin
from flashsale.services.inventory.domain import Fulfilment, Line, Reservation, ReservationStatus
from flashsale.services.inventory.errors import (
    AlreadyConfirmed,
    CustomerRequired,
    InsufficientStock,
    InventoryError,
    LimitExceeded,
    OrderAlreadyReserved,
    OutOfStock,
    UnknownProduct,
    UnknownReservation,
    WriteOffContended,
)
from flashsale.services.inventory.operations import Inventory
from flashsale.services.inventory.store import ProductStock

MAX_PAGE = 1000


class StockPage(ApiModel):
    """Admin listing for the auditor and the read models' reconciliation: `next` is the `after` of
    the following page, or null. `asOf` is when the page was read (after its rows); and
    `unpublishedSince` is the creation time of the oldest event not yet published (null: none),
    read after that. An `unpublishedSince` later than a page's `asOf` means every event that
    page reflects is out on the broker (catalog/reconcile.py relies on it)."""

    products: list[StockView]
    next: str | None
    as_of: str | None = None
    unpublished_since: str | None = None


class ReservationPage(ApiModel):
    reservations: list[ReservationView]
    next: str | None


Store = Annotated[Inventory, from_app_state("store")]
ProductId = Annotated[str, Path(alias="productId", pattern=ID_PATTERN)]
ReservationId = Annotated[str, Path(alias="reservationId", max_length=100)]
After = Annotated[str | None, Query(max_length=100)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
ADMIN = [Depends(require_admin)]
LIMIT_ANSWERS = answers((404, "unknown_product"), admin=True)

router = APIRouter(prefix="/inventory", tags=["inventory"])


@router.post("/reserve", response_model=ReservationView, responses=answers(
    (404, "unknown_product"), (409, "out_of_stock"), (409, "limit_exceeded"), (409, "order_already_reserved"),
    (422, "customer_required"),
))
async def reserve(body: ReserveStock, store: Store) -> ReservationView:
    # Answered in front of the app (hot_path.py), by `held` as here.
    return await held(store, body)


async def held(store: Inventory, body: ReserveStock) -> ReservationView:
    lines = [Line(item.product_id, item.quantity) for item in body.lines()]
    reservation = await store.reserve(
        lines, order_id=body.order_id, customer_id=body.customer_id, ttl_s=body.ttl_seconds,
        fulfilment=Fulfilment(body.fulfilment),
    )
    return reservation_view(reservation)


@router.get("/reservations", response_model=ReservationPage, dependencies=ADMIN, responses=answers(admin=True))
async def list_reservations(
    store: Store, status: ReservationStatus | None = None, after: After = None, limit: Limit = 100
) -> ReservationPage:
    page = await store.reservations(status=status, after=after, limit=limit)
    return ReservationPage(reservations=[reservation_view(r) for r in page.items], next=page.next)


@router.get("/reservations/{reservationId}", response_model=ReservationView,
            responses=answers((404, "unknown_reservation")))
async def get_reservation(reservation_id: ReservationId, store: Store) -> ReservationView:
    return reservation_view(await store.reservation(reservation_id))


@router.post("/reservations/{reservationId}/release", response_model=ReservationView,
             responses=answers((404, "unknown_reservation"), (409, "already_confirmed")))
async def release_reservation(reservation_id: ReservationId, store: Store) -> ReservationView:
    return reservation_view(await store.release(reservation_id))


@router.get("", response_model=StockPage, dependencies=ADMIN, responses=answers(admin=True))
async def list_stock(store: Store, after: After = None, limit: Limit = 100) -> StockPage:
    page = await store.products(after=after, limit=limit)
    as_of = store.clock.now_ms()
    _, oldest_unpublished = await outbox_backlog(store.db)
    return StockPage(products=[stock_view(s) for s in page.items], next=page.next, as_of=iso_from_ms(as_of),
                     unpublished_since=None if oldest_unpublished is None else iso_from_ms(oldest_unpublished))


@router.get("/{productId}", response_model=StockView, responses=answers((404, "unknown_product")))
async def get_stock(product_id: ProductId, store: Store) -> StockView:
    return stock_view(await store.stock_of(product_id))


@router.post("/{productId}/receive", response_model=StockView, dependencies=ADMIN, responses=answers(admin=True))
async def receive_stock(product_id: ProductId, body: ReceiveStock, store: Store) -> StockView:
    return stock_view(await store.receive(product_id, body.quantity))


@router.post("/{productId}/adjust", response_model=StockView, dependencies=ADMIN, responses=answers(
    (404, "unknown_product"), (409, "insufficient_stock"), (409, "write_off_contended"), admin=True,
))
async def adjust_stock(product_id: ProductId, body: AdjustStock, store: Store) -> StockView:
    return stock_view(await store.adjust(product_id, body.delta, body.reason))


@router.get("/{productId}/limit", response_model=PurchaseLimitView, dependencies=ADMIN,
            responses=LIMIT_ANSWERS)
async def get_purchase_limit(product_id: ProductId, store: Store) -> PurchaseLimitView:
    return PurchaseLimitView(product_id=product_id, per_customer=await store.purchase_limit(product_id))


@router.put("/{productId}/limit", response_model=PurchaseLimitView, dependencies=ADMIN,
            responses=LIMIT_ANSWERS)
async def set_purchase_limit(product_id: ProductId, body: PurchaseLimit, store: Store) -> PurchaseLimitView:
    limit = await store.set_purchase_limit(product_id, body.per_customer)
    return PurchaseLimitView(product_id=product_id, per_customer=limit)


@router.delete("/{productId}/limit", response_model=PurchaseLimitView, dependencies=ADMIN,
               responses=LIMIT_ANSWERS)
async def clear_purchase_limit(product_id: ProductId, store: Store) -> PurchaseLimitView:
    limit = await store.set_purchase_limit(product_id, None)
    return PurchaseLimitView(product_id=product_id, per_customer=limit)


# -- answers --------------------------------------------------------------------------------


def stock_view(stock: ProductStock) -> StockView:
    level = stock.level
    return StockView(
        product_id=stock.product_id, available=level.available, reserved=level.reserved,
        sold=level.sold, received=level.received, written_off=level.written_off,
    )


def reservation_view(reservation: Reservation) -> ReservationView:
    """The answer to every reserve (the hot path's too): built without validation, as every value
    comes from a reservation the store has already checked; the JSON is the same."""
    confirmed = reservation.confirmed_at_ms
    return ReservationView.model_construct(
        reservation_id=reservation.reservation_id,
        status=reservation.status.value,
        items=[Item.model_construct(product_id=line.product_id, quantity=line.quantity) for line in reservation.lines],
        expires_at=iso_from_ms(reservation.expires_at_ms),
        order_id=reservation.order_id,
        confirmed_at=None if confirmed is None else iso_from_ms(confirmed),
    )


def _problem(error: InventoryError) -> Problem:
    detail = str(error)
    match error:
        case OutOfStock():
            return Problem(409, "out_of_stock", "Out of stock", detail, productId=error.product_id)
        case UnknownProduct():
            return Problem(404, "unknown_product", "Unknown product", detail, productId=error.product_id)
        case LimitExceeded():
            return Problem(
                409, "limit_exceeded", "Purchase limit exceeded", detail,
                productId=error.product_id, perCustomer=error.per_customer,
            )
        case CustomerRequired():
            return Problem(422, "customer_required", "Customer required", detail, productId=error.product_id)
        case InsufficientStock():
            return Problem(409, "insufficient_stock", "Not enough stock on hand", detail, productId=error.product_id)
        case WriteOffContended():
            return Problem(409, "write_off_contended", "Write-off contended, try again", detail)
        case UnknownReservation():
            return Problem(404, "unknown_reservation", "Unknown reservation", detail)
        case AlreadyConfirmed():
            return Problem(409, "already_confirmed", "Reservation already confirmed", detail)
        case OrderAlreadyReserved():
            return Problem(
                409, "order_already_reserved", "Order already holds other items", detail,
                reservationId=error.reservation_id,
            )
    return Problem(409, "inventory_conflict", "Inventory conflict", detail)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become problem details (RFC 9457) with a `code`."""
    answer_errors(app, InventoryError, _problem)
