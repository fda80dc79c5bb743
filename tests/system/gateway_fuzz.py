"""Fuzzing the gateway's OpenAPI document against a running house with schemathesis (the test is
in test_internal_auth.py, whose house it uses).

The gateway is a front for the other services: most of what it answers is theirs, relayed, so its
document is checked against a whole house, over real HTTP, not against the gateway alone. Requests
carry a signed-in customer's token on the customer's routes and an admin token on the admin routes
(the document's bearer schemes say which route takes which), the open routes a customer's token
too; schemathesis leaves them out or spoils them on purpose to check that a route that needs one
refuses the request. For every operation of the gateway's document it sends the boundary values and
undeclared methods (coverage) and random valid and invalid requests (fuzzing); no answer may be a
5xx, every status, content type, body and header must be one the document lists, valid requests
must be accepted and invalid ones refused, undeclared methods get 405 with Allow, and every 4xx is
a problem with a `code` (tests/openapi_checks.py). FLASHSALE_FUZZ_EXAMPLES bounds the random
requests per operation (`make fuzz` sends many more).

What the fuzzer can hardly reach, a success that needs a listed product with stock and the buyer's
own order, is asked for in `a_day_at_the_gateway`, whose answers are checked against the document
too.
"""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis

from flashsale.runtime.services_file import ServicesFile
from flashsale.services.gateway.app import create_app
from flashsale.services.gateway.settings import GatewaySettings
from openapi_checks import accepting_valid_requests, problem_with_code, refused_as
from support import plain_http
from support.ids import unique

# Every request of the fuzzer comes from one caller (a customer, the admin, or one address): at the
# gateway's 20 requests a second per caller most of them would be answered 429, which says nothing
# about the rest of the document (the limit has its own tests: tests/service/test_gateway_auth.py).
HOUSE_SETTINGS = {"FLASHSALE_RATE_LIMIT": "100000/second"}
PASSWORD = "correct horse battery"
ADDRESS = {"line1": "1 Main St", "city": "Berlin", "postalCode": "10115", "country": "DE"}

# The gateway's document as its code builds it, read when the tests are collected (before any house
# runs): `signed_in_callers` checks that the running gateway serves exactly this one.
DOCUMENT = create_app(GatewaySettings(gateway_secret=secrets.token_hex(32))).openapi()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@schema.auth(refresh_interval=None)
class Credentials:
    """A token of the scheme the operation takes (the first its document names) on every request.

    Schemathesis builds its coverage cases, credentials included, while it collects the test, before
    any house runs: a request carries the scheme's name as its token, which `Callers.send` replaces
    with the token of that scheme just before it goes out."""

    def get(self, case: Any, context: Any) -> str | None:
        requirements = context.operation.definition.raw.get("security", [])
        names = [name for requirement in requirements for name in requirement]
        return names[0] if names else None

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@dataclass
class Callers:
    """The running gateway and a token per security scheme of its document; what it answered."""

    url: str
    tokens: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)

    def send(self, case: Any) -> Any:
        scheme = (case.headers or {}).get("Authorization", "").removeprefix("Bearer ")
        if scheme in self.tokens:
            case.headers["Authorization"] = f"Bearer {self.tokens[scheme]}"
        response = case.call(base_url=self.url, timeout=30)
        self.statuses[response.status_code] += 1
        return response

    def summary(self) -> str:
        return f"gateway fuzz: {self.statuses.total()} requests answered {dict(sorted(self.statuses.items()))}"


def signed_in_callers(services: ServicesFile) -> Callers:
    """A customer signed up and in, and the admin signed in, through the running gateway."""
    gateway = services.url("gateway")
    served = plain_http.get(f"{gateway}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == DOCUMENT, "the gateway serves another document"
    email = f"{unique('fuzz')}@example.com"
    signed_up = plain_http.post(f"{gateway}/api/signup", timeout=30,
                           json={"name": "Fuzz Buyer", "email": email, "password": PASSWORD, "address": ADDRESS})
    assert signed_up.status_code == 201, signed_up.text
    customer = plain_http.post(f"{gateway}/api/auth/token", json={"email": email, "password": PASSWORD}, timeout=30)
    assert customer.status_code == 200, customer.text
    admin = plain_http.post(f"{gateway}/api/auth/admin", json={"adminToken": services.admin_token}, timeout=30)
    assert admin.status_code == 200, admin.text
    return Callers(gateway, {"customerToken": customer.json()["accessToken"],
                             "adminAccessToken": admin.json()["accessToken"]})


Answered = tuple[str, str, httpx.Response]  # (method, path template of the document, the answer)


def a_day_at_the_gateway(callers: Callers) -> list[Answered]:
    """An operator lists a product and stocks it; a buyer signs up, buys, pays, is declined once,
    cancels once, reads their orders, profile and notifications; the operator looks at an order."""
    gateway, answers = callers.url, []
    admin = {"Authorization": f"Bearer {callers.tokens['adminAccessToken']}"}

    def ask(method: str, template: str, headers: dict[str, str], json: Any = None, **ids: str) -> httpx.Response:
        answer = plain_http.request(method, gateway + template.format(**ids), headers=headers, json=json, timeout=30)
        answers.append((method, template, answer))
        return answer

    product = {"productId": unique("fz")}
    ask("PUT", "/api/admin/products/{productId}", admin, {"name": "Console", "priceCents": 49900}, **product)
    ask("PUT", "/api/admin/products/{productId}", admin, {"name": "Console", "priceCents": 45900}, **product)
    ask("PATCH", "/api/admin/products/{productId}", admin, {"description": "The last ones"}, **product)
    ask("POST", "/api/admin/inventory/{productId}/receive", admin, {"quantity": 5}, **product)
    ask("GET", "/api/admin/inventory/{productId}", admin, **product)

    email = f"{unique('day')}@example.com"
    ask("POST", "/api/signup", {}, {"name": "Ann", "email": email, "password": PASSWORD, "address": ADDRESS})
    signed_in = ask("POST", "/api/auth/token", {}, {"email": email, "password": PASSWORD}).json()
    ask("POST", "/api/auth/refresh", {}, {"refreshToken": signed_in["refreshToken"]})
    buyer = {"Authorization": f"Bearer {signed_in['accessToken']}"}
    line = {"items": [{"productId": product["productId"], "quantity": 1}]}

    paid = {"orderId": ask("POST", "/api/orders", buyer, line).json()["orderId"]}
    ask("GET", "/api/orders/{orderId}", buyer, **paid)
    ask("GET", "/api/products/{productId}", buyer, **product)  # read from the inventory: the buyer just ordered
    ask("POST", "/api/orders/{orderId}/pay", buyer, {"paymentToken": "tok_ok"}, **paid)
    declined = {"orderId": ask("POST", "/api/orders", buyer, line).json()["orderId"]}
    ask("POST", "/api/orders/{orderId}/pay", buyer, {"paymentToken": "tok_declined"}, **declined)
    cancelled = {"orderId": ask("POST", "/api/orders", buyer, line).json()["orderId"]}
    ask("POST", "/api/orders/{orderId}/cancel", buyer, **cancelled)
    ask("GET", "/api/orders", buyer)
    ask("GET", "/api/products", {})

    profile = ask("GET", "/api/me", buyer)
    ask("PATCH", "/api/me", {**buyer, "If-Match": profile.headers["etag"]}, {"name": "Ann Lee"})
    ask("GET", "/api/notifications", buyer)
    ask("GET", "/api/admin/orders/{orderId}", admin, **paid)
    ask("GET", "/api/admin/orders/{orderId}/saga", admin, **paid)
    ask("POST", "/api/admin/customers/{customerId}/password", admin, {"password": f"new {PASSWORD}"},
        customerId=profile.json()["customerId"])
    return answers


def _excused(case: Any, response: Any) -> bool:
    """A valid request's refusal that the document lists and the fuzzer cannot foresee: products
    it makes up are not in the catalog (docs/contract.md#orders: 422 unknown_product), an Idempotency-Key it
    draws may have been used with another body, a password it draws is one the rules refuse (at
    least 8 characters, not the email: the customers service's), an If-Match it draws names another
    version of the profile, a sale window it draws ends before it starts."""
    return (refused_as(response, 422, "unknown_product", "idempotency_key_reused", "weak_password",
                       "invalid_sale_window")
            or refused_as(response, 412, "version_mismatch"))


accepts_valid_requests = accepting_valid_requests(_excused)


def refuses_invalid_requests(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schemathesis's negative_data_rejection, with 413 payload_too_large a refusal too: a body over
    the gateway's limit (a string drawn long enough) is refused before it is read (edge.BodyLimit)."""
    if refused_as(response, 413, "payload_too_large"):
        return None
    return schemathesis.checks.negative_data_rejection(ctx, response, case)


def check(case: Any, response: Any, callers: Callers) -> None:
    """Schemathesis's default checks and ours, on an answer of the gateway."""
    assert response.status_code < 500, f"{case.method} {case.path}: {response.status_code} {response.text}"
    case.validate_response(
        response, additional_checks=[problem_with_code, accepts_valid_requests, refuses_invalid_requests],
        excluded_checks=[schemathesis.checks.positive_data_acceptance, schemathesis.checks.negative_data_rejection],
        transport_kwargs={"base_url": callers.url, "timeout": 30},
    )
