"""Every service's OpenAPI document tells the truth: schemathesis fuzzes each one in-process.

Each service's app is built with its `create_app(...)` against a real SQLite database in a
temporary directory and the session's real NATS, started once (its lifespan: migrations, relay,
consumers) and called through ASGI, as a house that asks for its credential serves it (an internal
API behind house_auth.InternalApi; the requests carry the admin token). For every operation of its
`/openapi.json`, schemathesis sends the document's examples, its boundary values and undeclared
methods (coverage), and random valid and invalid requests (fuzzing), and checks with its default
checks that no answer is a 5xx, that every status, content type, body and header is one the
document lists, that valid requests are accepted and invalid ones refused, and that undeclared
methods get 405; and with ours (tests/openapi_checks.py, shared with the gateway's fuzz test), that
every 4xx is a problem (`application/problem+json` with a `code`).

FLASHSALE_FUZZ_EXAMPLES bounds the random requests per operation (`make fuzz` sends many more).
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from flashsale.kit import house_auth
from flashsale.kit import service as kit_service
from flashsale.kit.db_admin import service_database_url
from flashsale.kit.service import front
from openapi_checks import EXAMPLES, EXPLORE, accepting_valid_requests, problem_with_code, refused_as
from support.in_process import APPS as EVERY_APP

pytestmark = pytest.mark.service

# Every service's app but the gateway's, which is fuzzed in a running house (tests/system/gateway_fuzz.py).
APPS = {name: app for name, app in EVERY_APP.items() if name != "gateway"}

# Checks a single operation cannot pass without breaking the contract, and why.
EXCLUDED: dict[tuple[str, str], list[str]] = {
    # Both filters are optional in the document, one of them is required (README: `?customerId=` or
    # `?orderId=`, else 422): OpenAPI cannot say "at least one of these query parameters".
    ("notifications", "GET /notifications"): ["positive_data_acceptance"],
}


OUT_OF_REACH_SERVICES = ("inventory", "payments", "shipping", "customers")
# Where the out-of-reach services "are": a port this module holds bound and never listens on, so a
# call is refused at once. (A port merely free when looked up may be taken by another test's
# process meanwhile, and a call there waits for its timeout: the fuzz's requests timed out so.)
NOBODY = socket.socket()
NOBODY.bind(("127.0.0.1", 0))
OUT_OF_REACH = {f"{name}_unavailable" for name in OUT_OF_REACH_SERVICES}


class Service:
    """A service's app, built here (nothing starts: the document is read without a request) and
    started by its first request, once `configure` has given it a database and the broker."""

    def __init__(self, name: str) -> None:
        create, kind = APPS[name]
        self.name = name
        self.settings = kind(tracing="off", log_level="ERROR")
        self.app = create(self.settings)
        self.schema = schemathesis.openapi.from_dict(self.app.openapi())
        self.token = secrets.token_urlsafe(16)
        # What the server runs (run_service): its front route too, and an internal API behind the
        # gate of a house that asks for its credential, which the admin token below passes.
        served = front(self.app)
        internal = name not in house_auth.PUBLIC_EDGES
        self.schema.app = house_auth.InternalApi(served, house_auth.HouseGate(self.token)) if internal else served
        # Sent with every request schemathesis makes, which knows it (it leaves it out on purpose
        # to check that an admin route refuses a request without it).
        self.schema.config.update(headers={"Authorization": f"Bearer {self.token}"})

    def configure(self, databases: str, nats_url: str) -> None:
        self.settings.database_url = service_database_url(databases, self.name)
        self.settings.broker_url = nats_url
        self.settings.admin_token = self.token
        # The services the orders call are out of reach (nothing listens there): their outage is
        # an answer the document lists (503 inventory_unavailable, ...) and the fuzzer meets it.
        nobody = f"http://127.0.0.1:{NOBODY.getsockname()[1]}"
        for field in (f"{name}_urls" for name in OUT_OF_REACH_SERVICES):
            if hasattr(self.settings, field):
                setattr(self.settings, field, nobody)


SERVICES = {name: Service(name) for name in APPS}


@pytest.fixture(scope="module", autouse=True)
def house(tmp_path_factory: pytest.TempPathFactory, nats_url: str) -> Iterator[None]:
    databases = f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/"
    for service in SERVICES.values():
        service.configure(databases, nats_url)
    # A service's start configures structlog for its process (and caches every logger on first
    # use); here that process is the test worker, whose later tests capture logs: leave it alone.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kit_service, "configure_logging", lambda *args, **kwargs: None)
        yield
        asgi.shutdown_lifespans()  # every app started here stops (its relay, consumers, database)


def _outage(response: Any) -> bool:
    """A 503 for a service this one calls, which the test left out of reach (Service.configure)."""
    return response.status_code == 503 and response.json().get("code") in OUT_OF_REACH


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis's not_a_server_error, but for the outage of a service left out of reach."""
    return None if _outage(response) else schemathesis.checks.not_a_server_error(ctx, response, case)


# The contract's 422 for an Idempotency-Key sent again with another body: the fuzzer draws keys at
# random and cannot know one was used.
accepts_valid_requests = accepting_valid_requests(
    lambda case, response: refused_as(response, 422, "idempotency_key_reused"))


def _fuzz(service: Service) -> Callable[..., None]:
    @service.schema.parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
              derandomize=not EXPLORE)
    def test(case: Any) -> None:
        # The fuzz checks answers, not latency: on a machine loaded by the rest of `make test` a
        # request took longer than schemathesis's default 10 s.
        response = case.call(timeout=30)
        assert response.status_code < 500 or _outage(response), f"{case.method} {case.path}: {response.text}"
        excluded = EXCLUDED.get((service.name, f"{case.method} {case.path}"), [])
        accepts = [] if "positive_data_acceptance" in excluded else [accepts_valid_requests]
        case.validate_response(
            response, additional_checks=[problem_with_code, no_server_error, *accepts],
            excluded_checks=[schemathesis.checks.not_a_server_error, schemathesis.checks.positive_data_acceptance],
        )

    return test


test_inventory = _fuzz(SERVICES["inventory"])
test_orders = _fuzz(SERVICES["orders"])
test_payments = _fuzz(SERVICES["payments"])
test_shipping = _fuzz(SERVICES["shipping"])
test_notifications = _fuzz(SERVICES["notifications"])
test_catalog = _fuzz(SERVICES["catalog"])
test_customers = _fuzz(SERVICES["customers"])
test_reporting = _fuzz(SERVICES["reporting"])
test_monitor = _fuzz(SERVICES["monitor"])
