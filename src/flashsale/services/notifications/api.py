"""HTTP routes of the notifications service: what each customer was told, and when; and the
problem each refusal (errors.py) is answered with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Query

from flashsale.contracts.api import ID_PATTERN, Notifications, NotificationView
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.kit.openapi import answers
from flashsale.kit.problems import Problem, answer_errors
from flashsale.services.notifications.errors import MissingFilter, NotificationError
from flashsale.services.notifications.store import Notification, NotificationStore

router = APIRouter()

MAX_LIMIT = 1000


StoreDep = Annotated[NotificationStore, from_app_state("store")]


@router.get("/notifications", responses=answers((422, "invalid_request")))
async def list_notifications(
    store: StoreDep,
    customer_id: Annotated[str | None, Query(alias="customerId", pattern=ID_PATTERN)] = None,
    order_id: Annotated[str | None, Query(alias="orderId", pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> Notifications:
    """A customer's or an order's messages (both given: that customer's about that order), newest first."""
    if customer_id is None and order_id is None:
        raise MissingFilter()
    found = await store.find(customer_id=customer_id, order_id=order_id, limit=limit)
    return Notifications(notifications=[notification_view(n) for n in found])


def notification_view(notification: Notification) -> NotificationView:
    return NotificationView(
        notification_id=notification.notification_id, customer_id=notification.customer_id,
        order_id=notification.order_id, kind=notification.kind, reason=notification.reason,
        message=notification.message, created_at=iso_from_ms(notification.created_at_ms),
    )


def _problem(error: NotificationError) -> Problem:
    # One refusal so far (MissingFilter): a query the schema alone cannot refuse, answered as one it does.
    return Problem(422, "invalid_request", "Invalid request", str(error))


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become problem details (RFC 9457) with a `code`."""
    answer_errors(app, NotificationError, _problem)
