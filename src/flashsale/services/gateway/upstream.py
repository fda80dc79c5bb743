"""The services behind the gateway: one client each (own pool, timeouts, retries for idempotent
calls, own circuit breaker: kit.http.ServiceClient), and how their answers go out again.

Calls carry only what the gateway decides: the customer's id from the verified token, never one
from the request; the admin token for admin routes; never the caller's own Authorization header.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse

from flashsale.kit.house_auth import ServiceCredential
from flashsale.kit.http import Answer, ServiceClient
from flashsale.kit.problems import MEDIA_TYPE
from flashsale.services.gateway.errors import OrderNotFound
from flashsale.services.gateway.settings import GatewaySettings

RELAYED_HEADERS = ("etag", "idempotent-replayed")


class Upstreams:
    def __init__(self, settings: GatewaySettings) -> None:
        credential = ServiceCredential("gateway", settings.admin_token)

        def client(name: str) -> ServiceClient:
            return ServiceClient(
                name, settings.urls(f"{name}_urls"), timeout_s=settings.call_timeout_s,
                breaker_threshold=settings.breaker_threshold, breaker_ttl_s=settings.breaker_ttl_s,
                credential=credential,
            )

        self.orders = client("orders")
        self.customers = client("customers")
        self.catalog = client("catalog")
        self.inventory = client("inventory")
        self.notifications = client("notifications")
        self.admin_headers = {"Authorization": f"Bearer {settings.admin_token}"}

    async def close(self) -> None:
        for client in (self.orders, self.customers, self.catalog, self.inventory, self.notifications):
            await client.close()

    async def owned_order(self, customer_id: str, order_id: str) -> dict[str, Any]:
        """The order if it is this customer's; OrderNotFound alike when it is nobody's or another's."""
        answer = await self.orders.request("GET", f"/orders/{order_id}")
        if answer.status_code == 200:
            order: dict[str, Any] = answer.json()
            if order.get("customerId") == customer_id:
                return order
        raise OrderNotFound(order_id)


def relay(answer: Answer, instance: str) -> Response:
    """A service's answer as the gateway's: status, body, entity tag and whether it is a key's answer
    sent again, as they came; a problem's `instance` names the gateway's path, not the service's."""
    headers = {name: answer.headers[name] for name in RELAYED_HEADERS if name in answer.headers}
    media_type = answer.headers.get("content-type", "application/json")
    if answer.status_code >= 400 and media_type.startswith(MEDIA_TYPE):
        problem = answer.json()
        if isinstance(problem, dict):
            problem["instance"] = instance
            return JSONResponse(problem, status_code=answer.status_code, media_type=MEDIA_TYPE, headers=headers)
    if answer.status_code == 204:
        return Response(status_code=204, headers=headers)
    return Response(answer.content, status_code=answer.status_code, media_type=media_type, headers=headers)


def problem_code(answer: Answer) -> str | None:
    """The `code` of a service's problem answer, if it is one."""
    if not answer.headers.get("content-type", "").startswith(MEDIA_TYPE):
        return None
    try:
        problem = answer.json()
    except ValueError:
        return None
    return str(problem.get("code")) if isinstance(problem, dict) else None
