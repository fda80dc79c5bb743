"""Helpers for the payments service tests: a small client of one payments process or app."""

from __future__ import annotations

from typing import Any

import httpx

from flashsale.runtime.process import ServiceProcess
from support import plain_http
from support.ids import unique
from support.metrics import sample

AMOUNT = 2500


def new_order_id() -> str:
    return unique("o")


class PaymentsClient:
    """A client of a payments process, one short-lived connection per call (nothing to close when
    a test ends or fails, nothing left open to a process a test kills), or of the app served
    in-process, through its client."""

    def __init__(self, target: ServiceProcess | str | httpx.Client, admin_token: str) -> None:
        """`target`: a service process (or its URL), or the client of an app served in-process."""
        self.process = target if isinstance(target, ServiceProcess) else None
        self.http = target if isinstance(target, httpx.Client) else None
        if isinstance(target, httpx.Client):
            self.url = str(target.base_url).rstrip("/")
        else:
            self.url = target.url if isinstance(target, ServiceProcess) else target
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def kill(self) -> None:
        """SIGKILL the payments process (a crash test's cut)."""
        assert self.process is not None, "only a payments process can be killed"
        self.process.kill()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.http is not None:
            return self.http.request(method, path, **kwargs)
        return plain_http.request(method, f"{self.url}{path}", **kwargs)

    def authorise(self, order_id: str, token: str = "tok_ok", amount: int = AMOUNT) -> httpx.Response:
        body = {"orderId": order_id, "amountCents": amount, "paymentToken": token}
        return self.request("POST", "/payments", json=body, timeout=30)

    def authorised(self, token: str = "tok_ok", amount: int = AMOUNT) -> str:
        """A new order whose payment is authorised (or declined, by the token's rule)."""
        order_id = new_order_id()
        answer = self.authorise(order_id, token, amount)
        assert answer.status_code == 200, answer.text
        return order_id

    def capture(self, order_id: str) -> httpx.Response:
        return self.request("POST", f"/payments/{order_id}/capture", timeout=30)

    def refund(self, order_id: str) -> httpx.Response:
        return self.request("POST", f"/payments/{order_id}/refund", timeout=30)

    def payment(self, order_id: str) -> httpx.Response:
        return self.request("GET", f"/payments/{order_id}", timeout=10)

    def status(self, order_id: str) -> str:
        return str(self.payment(order_id).json()["status"])

    def ledger(self, order_id: str) -> dict[str, Any]:
        answer = self.request("GET", f"/payments/{order_id}/ledger", timeout=10)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def entry_kinds(self, order_id: str) -> list[str]:
        return [e["kind"] for e in self.ledger(order_id)["entries"]]

    def provider_operations(self, order_id: str) -> dict[str, dict[str, Any]]:
        """What the provider did for the order, by kind (authorise, capture, void, refund); nothing
        while the order has no payment yet."""
        answer = self.request("GET", f"/payments/{order_id}/provider-operations", headers=self.admin, timeout=10)
        if answer.status_code == 404:
            return {}
        assert answer.status_code == 200, answer.text
        return {op["kind"]: op for op in answer.json()["operations"]}

    def effects(self, order_id: str) -> dict[str, int]:
        return {kind: op["effects"] for kind, op in self.provider_operations(order_id).items()}

    def metric(self, name: str, **labels: str) -> float:
        return sample(self.request("GET", "/metrics", timeout=10).text, name, **labels)


def assert_ledger_consistent(ledger: dict[str, Any]) -> None:
    """The ledger's rules, as seen through the API."""
    kinds = [e["kind"] for e in ledger["entries"]]
    assert len(kinds) == len(set(kinds)), kinds
    assert ledger["capturedCents"] + ledger["voidedCents"] <= ledger["authorisedCents"], ledger
    assert ledger["refundedCents"] <= ledger["capturedCents"], ledger
    assert ledger["balanceCents"] == ledger["capturedCents"] - ledger["refundedCents"] >= 0, ledger
