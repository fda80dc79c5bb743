"""The payment's authorisation and capture answered in front of the FastAPI app
(kit.front_routes says why): each checkout asks both once, through the order service's saga.
The routes in api.py answer everything else (and the same, for what is answered here)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from flashsale.contracts.api import AuthorisePayment, PaymentView
from flashsale.kit.front_routes import FrontRoute, front_routes
from flashsale.services.payments.api import payment_view
from flashsale.services.payments.operations import Payments


async def _authorise(app: FastAPI, _: Mapping[str, str], body: AuthorisePayment) -> PaymentView:
    payments: Payments = app.state.payments
    return payment_view(await payments.authorise(body.order_id, body.amount_cents, body.payment_token))


async def _capture(app: FastAPI, ids: Mapping[str, str], _: None) -> PaymentView:
    payments: Payments = app.state.payments
    return payment_view(await payments.capture(ids["orderId"]))


FRONT = front_routes(
    FrontRoute("POST", "/payments", _authorise, body=AuthorisePayment),
    FrontRoute("POST", "/payments/{orderId}/capture", _capture),
)
