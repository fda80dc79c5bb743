"""The payment's authorisation and capture answered in front of the FastAPI app
(kit.front_routes says why): each checkout asks both once, through the order service's saga.
The routes in api.py answer everything else (and the same, for what is answered here)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import FastAPI

from flashsale.contracts.api import AuthorisePayment, PaymentView
from flashsale.kit.front_routes import FrontRoute, front_routes
from flashsale.services.payments.api import authorised, captured


async def _authorise(app: FastAPI, _: Mapping[str, str], body: AuthorisePayment) -> PaymentView:
    return await authorised(app.state.payments, body)


async def _capture(app: FastAPI, ids: Mapping[str, str], _: None) -> PaymentView:
    return await captured(app.state.payments, ids["orderId"])


FRONT = front_routes(
    FrontRoute("POST", "/payments", _authorise, body=AuthorisePayment),
    FrontRoute("POST", "/payments/{orderId}/capture", _capture),
)
