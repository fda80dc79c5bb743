"""A house listening beyond loopback: its internal APIs ask for the house's credential, its own
services present it on every call, and buyers keep using the gateway.

The house binds this machine's first non-loopback IPv4 address, as a house spread over several
machines would bind each one's. A sale through the gateway (sign-up, sign-in, orders, payments,
the saga's calls to inventory, payments and shipping) must finish and audit clean; a caller with
no credential, or a token the house did not sign, gets 401 `house_credential_required` and
changes nothing; an operator's admin token is let through. And the gateway, the public edge,
answers what its OpenAPI document says, schemathesis fuzzing it with a signed-in customer's and an
admin's tokens (gateway_fuzz.py): whatever a buyer sends, every call it makes carries the
credential, so no 401 of the house's reaches a buyer.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from gateway_fuzz import HOUSE_SETTINGS, Callers, a_day_at_the_gateway, check, schema, signed_in_callers
from hypothesis import HealthCheck, settings
from rich.console import Console

from flashsale.kit.house_auth import AUDIENCE
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.commands import running_house
from openapi_checks import EXAMPLES, EXPLORE
from support import plain_http

pytestmark = pytest.mark.system


def non_loopback_address() -> str | None:
    """The address this machine would use to reach another one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.254", 9))  # TEST-NET-1: routed, never answered
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def house_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bound")


@pytest.fixture(scope="module")
def house(house_dir: Path) -> Iterator[ServicesFile]:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to bind a house to")
    with running_house(house_dir, orders_instances=2, hold_ttl=120, console=Console(quiet=True),
                       env={"FLASHSALE_TRUSTED_PROXIES": "*", **HOUSE_SETTINGS}, bind=address) as services:
        yield services


def test_a_sale_through_the_gateway_of_a_house_bound_beyond_loopback_finishes_and_audits_clean(
    house: ServicesFile, house_dir: Path,
) -> None:
    command = [sys.executable, "-m", "flashsale.cli", "sale", "--services", str(house_dir / "services.json"),
               "--buyers", "40", "--stock", "10"]
    sale = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert sale.returncode == 0, sale.stdout[-3000:] + sale.stderr[-3000:]
    assert "oversold: 0" in sale.stdout


def test_an_internal_api_refuses_a_caller_without_the_houses_credential(house: ServicesFile) -> None:
    inventory, product = house.url("inventory"), f"auth-{uuid.uuid4().hex[:8]}"
    admin = {"Authorization": f"Bearer {house.admin_token}"}
    forged = jwt.encode({"sub": "orders", "aud": AUDIENCE, "exp": 4_000_000_000}, b"not the house's key" * 2)
    received = plain_http.post(f"{inventory}/inventory/{product}/receive", json={"quantity": 5}, headers=admin)
    assert received.status_code == 200, received.text

    for headers in ({}, {"Authorization": f"Bearer {forged}"}, {"Authorization": "Bearer guess"}):
        refused = plain_http.post(f"{inventory}/inventory/reserve", json={"productId": product, "quantity": 5},
                             headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "house_credential_required"
    assert plain_http.get(f"{inventory}/inventory/{product}", headers=admin).json()["available"] == 5  # nothing held

    held = plain_http.post(f"{inventory}/inventory/reserve", json={"productId": product, "quantity": 5}, headers=admin)
    assert held.status_code == 200, held.text
    assert plain_http.get(f"{inventory}/health").status_code == 200  # supervisors and probes need no credential


def test_the_public_edge_needs_no_house_credential(house: ServicesFile) -> None:
    products = plain_http.get(f"{house.url('gateway')}/api/products")

    assert products.status_code == 200, products.text


@pytest.fixture(scope="module")
def callers(house: ServicesFile) -> Iterator[Callers]:
    signed_in = signed_in_callers(house)
    yield signed_in
    print(f"\n{signed_in.summary()}")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          derandomize=not EXPLORE)
@pytest.mark.timeout(600)  # an operation's requests, and the house's start for the first: `make fuzz` sends many
def test_the_gateway_answers_what_its_openapi_document_says(case: Any, callers: Callers) -> None:
    check(case, callers.send(case), callers)


def test_what_a_buyer_and_an_operator_are_answered_is_what_the_gateways_document_says(callers: Callers) -> None:
    answers = a_day_at_the_gateway(callers)

    assert [status for _, _, answer in answers if (status := answer.status_code) >= 500] == []
    untrue = []
    for method, template, answer in answers:
        try:
            schema[template][method].validate_response(answer)
        except Exception as failure:  # noqa: BLE001 - every answer the document gets wrong is listed
            untrue.append(f"{method} {template} {answer.status_code}: {failure}")
    assert untrue == [], "\n".join(untrue)
    assert {answer.status_code for _, _, answer in answers} >= {200, 201, 204, 402}  # successes and a decline
