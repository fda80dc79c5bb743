"""The envelopes of the facts the inventory announces (stream INVENTORY, subjects inventory.<Type>).

Only the store appends them to the outbox, in the transaction of the change they announce.
An event caused by another event carries its correlation id and names it as the cause.
"""

from __future__ import annotations

from collections.abc import Iterable

from flashsale.contracts import events
from flashsale.kit.clock import iso_from_ms
from flashsale.kit.envelope import Envelope
from flashsale.services.inventory import SERVICE
from flashsale.services.inventory.domain import Line, Reservation, ReservationStatus


def envelope(
    payload: events.EventData, *, subject: str, now_ms: int, cause: Envelope | None = None
) -> Envelope:
    return Envelope.new(
        source=SERVICE.source,
        type=type(payload).__name__,
        subject=subject,
        data=payload.to_data(),
        now_ms=now_ms,
        correlation_id=(cause.correlationid or cause.id) if cause else None,
        causation_id=cause.id if cause else None,
    )


def _lines(lines: Iterable[Line]) -> list[events.Line]:
    return [events.Line(product_id=line.product_id, quantity=line.quantity) for line in lines]


def stock_received(product_id: str, quantity: int, available: int, now_ms: int) -> Envelope:
    payload = events.StockReceived(product_id=product_id, quantity=quantity, available=available)
    return envelope(payload, subject=product_id, now_ms=now_ms)


def stock_adjusted(product_id: str, delta: int, reason: str, available: int, now_ms: int) -> Envelope:
    payload = events.StockAdjusted(product_id=product_id, delta=delta, reason=reason, available=available)
    return envelope(payload, subject=product_id, now_ms=now_ms)


def stock_reserved(reservation: Reservation, now_ms: int) -> Envelope:
    payload = events.StockReserved(
        reservation_id=reservation.reservation_id,
        order_id=reservation.order_id,
        items=_lines(reservation.lines),
        expires_at=iso_from_ms(reservation.expires_at_ms),
    )
    return envelope(payload, subject=reservation.reservation_id, now_ms=now_ms)


def reservation_released(
    reservation: Reservation, reason: str, now_ms: int, cause: Envelope | None = None
) -> Envelope:
    payload = events.ReservationReleased(
        reservation_id=reservation.reservation_id,
        order_id=reservation.order_id,
        items=_lines(reservation.lines),
        reason=reason,
    )
    return envelope(payload, subject=reservation.reservation_id, now_ms=now_ms, cause=cause)


def reservation_expired(reservation: Reservation, now_ms: int) -> Envelope:
    payload = events.ReservationExpired(
        reservation_id=reservation.reservation_id,
        order_id=reservation.order_id,
        items=_lines(reservation.lines),
    )
    return envelope(payload, subject=reservation.reservation_id, now_ms=now_ms)


def reservation_confirmed(reservation: Reservation, order_id: str, now_ms: int, cause: Envelope) -> Envelope:
    payload = events.ReservationConfirmed(
        reservation_id=reservation.reservation_id,
        order_id=order_id,
        items=_lines(reservation.lines),
        confirmed_at=iso_from_ms(now_ms),
    )
    return envelope(payload, subject=reservation.reservation_id, now_ms=now_ms, cause=cause)


def reservation_revoked(
    reservation: Reservation, stage: ReservationStatus, reason: str, now_ms: int
) -> Envelope:
    """A write-off took the reservation's units back: `stage` says whether they were held or sold."""
    payload = events.ReservationRevoked(
        reservation_id=reservation.reservation_id,
        order_id=reservation.order_id,
        customer_id=reservation.customer_id,
        items=_lines(reservation.lines),
        stage=stage.value,
        reason=reason,
    )
    return envelope(payload, subject=reservation.reservation_id, now_ms=now_ms)


def reservation_rejected(
    reservation_id: str, order_id: str, reason: str, now_ms: int, cause: Envelope
) -> Envelope:
    payload = events.ReservationRejected(reservation_id=reservation_id, order_id=order_id, reason=reason)
    return envelope(payload, subject=reservation_id, now_ms=now_ms, cause=cause)
