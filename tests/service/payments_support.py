"""Helpers for the payments service tests: a small client of one payments process."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from flashsale.runtime.process import ServiceProcess
from polling import unique

AMOUNT = 2500


def new_order_id() -> str:
    return unique("o")


class PaymentsClient:
    """One short-lived connection per call: nothing to close when a test ends or fails."""

    def __init__(self, process: ServiceProcess, admin_token: str) -> None:
        self.process = process
        self.url = process.url
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def authorise(self, order_id: str, token: str = "tok_ok", amount: int = AMOUNT) -> httpx.Response:
        body = {"orderId": order_id, "amountCents": amount, "paymentToken": token}
        return httpx.post(f"{self.url}/payments", json=body, timeout=30)

    def authorised(self, token: str = "tok_ok", amount: int = AMOUNT) -> str:
        """A new order whose payment is authorised (or declined, by the token's rule)."""
        order_id = new_order_id()
        answer = self.authorise(order_id, token, amount)
        assert answer.status_code == 200, answer.text
        return order_id

    def capture(self, order_id: str) -> httpx.Response:
        return httpx.post(f"{self.url}/payments/{order_id}/capture", timeout=30)

    def refund(self, order_id: str) -> httpx.Response:
        return httpx.post(f"{self.url}/payments/{order_id}/refund", timeout=30)

    def payment(self, order_id: str) -> httpx.Response:
        return httpx.get(f"{self.url}/payments/{order_id}", timeout=10)

    def status(self, order_id: str) -> str:
        return str(self.payment(order_id).json()["status"])

    def ledger(self, order_id: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/payments/{order_id}/ledger", timeout=10)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def entry_kinds(self, order_id: str) -> list[str]:
        return [e["kind"] for e in self.ledger(order_id)["entries"]]

    def provider_operations(self, order_id: str) -> dict[str, dict[str, Any]]:
        """What the provider did for the order, by kind (authorise, capture, void, refund); nothing
        while the order has no payment yet."""
        answer = httpx.get(f"{self.url}/payments/{order_id}/provider-operations", headers=self.admin, timeout=10)
        if answer.status_code == 404:
            return {}
        assert answer.status_code == 200, answer.text
        return {op["kind"]: op for op in answer.json()["operations"]}

    def effects(self, order_id: str) -> dict[str, int]:
        return {kind: op["effects"] for kind, op in self.provider_operations(order_id).items()}

    def metric(self, name: str, **labels: str) -> float:
        text = httpx.get(f"{self.url}/metrics", timeout=10).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0


def assert_ledger_consistent(ledger: dict[str, Any]) -> None:
    """The ledger's rules, as seen through the API."""
    kinds = [e["kind"] for e in ledger["entries"]]
    assert len(kinds) == len(set(kinds)), kinds
    assert ledger["capturedCents"] + ledger["voidedCents"] <= ledger["authorisedCents"], ledger
    assert ledger["refundedCents"] <= ledger["capturedCents"], ledger
    assert ledger["balanceCents"] == ledger["capturedCents"] - ledger["refundedCents"] >= 0, ledger
