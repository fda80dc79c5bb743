"""The gateway's public edge: who may call what. Two customers never read or write each other's
orders; missing, expired and forged tokens are 401; roles are kept apart; the services' internal
calls have no route; bodies are size-limited and callers rate-limited."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from gateway_support import (
    PASSWORD,
    Customer,
    Gateway,
    backends,
    bearer,
    gateway_env,
    mint,
    module_database_base,  # noqa: F401 - a fixture: SQLite only, it says why
)

from support.ids import unique

pytestmark = pytest.mark.service

# Every customer route that names an object, and a harmless request to it. The matrix test
# checks this list against the gateway's OpenAPI, so a new route cannot slip past it.
OBJECT_ROUTES = [
    ("GET", "/api/orders/{orderId}", None),
    ("POST", "/api/orders/{orderId}/pay", {"paymentToken": "tok_ok"}),
    ("POST", "/api/orders/{orderId}/cancel", None),
    ("GET", "/api/notifications?orderId={orderId}", None),
]
PUBLIC = {"/api/signup", "/api/auth/token", "/api/auth/refresh", "/api/auth/admin", "/api/products",
          "/api/products/{productId}"}


@pytest.fixture
def gateway(house: Any) -> Gateway:
    return Gateway(house.shared("gateway", **gateway_env(backends(house))), house.admin_token)


@pytest.fixture
def admin(gateway: Gateway) -> dict[str, str]:
    return gateway.admin()


def routes(gateway: Gateway) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route in the gateway's OpenAPI."""
    for path, operations in gateway.get("/openapi.json").json()["paths"].items():
        for method in operations:
            yield method.upper(), path


def cross_answers(gateway: Gateway, caller: Customer, order_id: str) -> list[tuple[str, httpx.Response]]:
    answers = []
    for method, template, body in OBJECT_ROUTES:
        path = template.format(orderId=order_id)
        answers.append((f"{method} {path}", gateway.call(method, path, headers=caller.headers, json=body)))
    return answers


def test_two_customers_never_read_or_write_each_others_orders(gateway: Gateway, admin: dict[str, str]) -> None:
    templates = {(method, template.split("?")[0]) for method, template, _ in OBJECT_ROUTES}
    with_ids = {(m, p) for m, p in routes(gateway) if "{" in p and p not in PUBLIC and "/admin/" not in p}
    assert with_ids <= templates, f"routes with an object id missing from the matrix: {with_ids - templates}"

    product_id = gateway.new_product(admin, stock=10)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")
    order_of = {c.customer_id: gateway.place(c, product_id)["orderId"] for c in (ann, bob)}
    nobody_id = unique("o")
    nobody = cross_answers(gateway, ann, nobody_id)

    violations = []
    for caller, owner in ((ann, bob), (bob, ann)):
        theirs = order_of[owner.customer_id]
        for (route, answer), (_, unknown) in zip(cross_answers(gateway, caller, theirs), nobody, strict=True):
            if route.startswith("GET /api/notifications"):
                leaked = answer.status_code != 200 or answer.json()["notifications"] != []
            else:  # a foreign order is answered as an unknown one, byte for byte but for the id asked
                leaked = answer.status_code != 404 or _masked(answer, theirs) != _masked(unknown, nobody_id)
            if leaked:
                violations.append((caller.customer_id, route, answer.status_code, answer.text))

    assert violations == []
    for owner in (ann, bob):  # untouched by the other, and every route works for its owner
        mine = order_of[owner.customer_id]
        composed = gateway.get(f"/api/orders/{mine}", headers=owner.headers).json()
        assert (composed["order"]["status"], composed["order"]["customerId"]) == ("PENDING_PAYMENT", owner.customer_id)
        paid = gateway.post(f"/api/orders/{mine}/pay", headers=owner.headers, json={"paymentToken": "tok_ok"})
        assert paid.status_code == 200, paid.text
        assert gateway.post(f"/api/orders/{mine}/cancel", headers=owner.headers).status_code in (200, 409)
        listed = gateway.get("/api/orders", headers=owner.headers).json()["orders"]
        assert [o["orderId"] for o in listed] == [mine]


def _masked(answer: httpx.Response, order_id: str) -> str:
    """The answer with the id that was asked for blanked out."""
    return answer.text.replace(order_id, "ID")


def _tampered(token: str, **claims: Any) -> str:
    """A genuine token whose payload was rewritten after signing."""
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**body, **claims}).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def bad_credentials(customer_id: str) -> dict[str, tuple[dict[str, str], str]]:
    """What a caller might send instead of a good token, and the 401 code it gets."""
    payload = {"sub": customer_id, "role": "customer", "iat": 1, "exp": 4_000_000_000, "iss": "flashsale-gateway"}
    return {
        "missing": ({}, "unauthenticated"),
        "expired": (bearer(mint(customer_id, issued_s=1_700_000_000)), "token_expired"),
        "expired admin": (bearer(mint("admin", "admin", issued_s=1_700_000_000)), "token_expired"),
        "other secret": (bearer(mint(customer_id, secret="x" * 64)), "token_invalid"),
        "payload rewritten": (bearer(_tampered(mint(customer_id), sub="someone-else")), "token_invalid"),
        "role rewritten": (bearer(_tampered(mint(customer_id), role="admin")), "token_invalid"),
        "alg none": (bearer(jwt.encode(payload, None, algorithm="none")), "token_invalid"),
        "unknown role": (bearer(mint(customer_id, role="root")), "token_invalid"),
        "not a jwt": (bearer("not-a-token"), "token_invalid"),
        "basic scheme": ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "token_invalid"),
    }


def test_missing_expired_and_forged_tokens_get_401_on_every_protected_route(gateway: Gateway) -> None:
    protected = [(m, p) for m, p in routes(gateway) if p not in PUBLIC]
    assert len(protected) >= 15

    wrong = []
    for method, template in protected:
        path = template.replace("{orderId}", unique("o")).replace("{productId}", unique("p")) \
            .replace("{customerId}", unique("c"))
        for kind, (headers, code) in bad_credentials(unique("c")).items():
            answer = gateway.call(method, path, headers=headers, json={})
            challenge = answer.headers.get("www-authenticate", "")
            if answer.status_code != 401 or answer.json()["code"] != code or not challenge.startswith("Bearer"):
                wrong.append((method, template, kind, answer.status_code, answer.text[:120]))

    assert wrong == []


def test_a_token_for_a_past_instant_is_expired_even_when_its_signature_is_good(gateway: Gateway) -> None:
    customer = gateway.sign_up()
    stale = bearer(mint(customer.customer_id, issued_s=1_700_000_000, ttl_s=60))

    answer = gateway.get("/api/me", headers=stale)

    assert answer.status_code == 401
    assert 'error="invalid_token"' in answer.headers["www-authenticate"]
    assert gateway.get("/api/me", headers=customer.headers).json()["customerId"] == customer.customer_id


def test_roles_are_kept_apart(gateway: Gateway, admin: dict[str, str]) -> None:
    customer = gateway.sign_up()

    as_customer = gateway.get(f"/api/admin/orders/{unique('o')}/saga", headers=customer.headers)
    receive = gateway.post(f"/api/admin/inventory/{unique('p')}/receive", headers=customer.headers,
                           json={"quantity": 5})
    as_admin = gateway.get("/api/orders", headers=admin)

    assert (as_customer.status_code, receive.status_code, as_admin.status_code) == (403, 403, 403)
    assert {a.json()["code"] for a in (as_customer, receive, as_admin)} == {"forbidden"}


def test_signing_in_takes_the_right_password_and_the_admin_token_only(gateway: Gateway) -> None:
    customer = gateway.sign_up()

    wrong = gateway.post("/api/auth/token", json={"email": customer.email, "password": "not the password"})
    not_admin = gateway.post("/api/auth/admin", json={"adminToken": "guess"})
    me = gateway.get("/api/me", headers=customer.headers)

    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
    assert (not_admin.status_code, not_admin.json()["code"]) == (401, "invalid_credentials")
    assert (me.status_code, me.json()["email"]) == (200, customer.email)
    assert "accessToken" not in wrong.text


def test_a_refresh_token_buys_new_tokens_and_nothing_else(gateway: Gateway) -> None:
    """A buyer signed in before a drop stays signed in through it: the refresh token from sign-in
    gives a new access token; it is no access token itself, nor is an access token a refresh token."""
    customer = gateway.sign_up()
    signed_in = gateway.post("/api/auth/token", json={"email": customer.email, "password": PASSWORD}).json()

    renewed = gateway.post("/api/auth/refresh", json={"refreshToken": signed_in["refreshToken"]})
    me = gateway.get("/api/me", headers=bearer(renewed.json()["accessToken"]))
    refresh_as_access = gateway.get("/api/me", headers=bearer(signed_in["refreshToken"]))
    access_as_refresh = gateway.post("/api/auth/refresh", json={"refreshToken": signed_in["accessToken"]})
    forged = gateway.post("/api/auth/refresh", json={"refreshToken": mint(customer.customer_id, aud="flashsale-refresh",
                                                                          secret="another secret " * 3)})

    assert renewed.status_code == 200 and renewed.headers["cache-control"] == "no-store"
    assert signed_in["refreshExpiresIn"] > signed_in["expiresIn"] and "refreshToken" in renewed.json()
    assert (me.status_code, me.json()["email"]) == (200, customer.email)
    assert (refresh_as_access.status_code, refresh_as_access.json()["code"]) == (401, "token_invalid")
    assert (access_as_refresh.status_code, access_as_refresh.json()["code"]) == (401, "token_invalid")
    assert (forged.status_code, forged.json()["code"]) == (401, "token_invalid")


def test_whose_order_it_is_comes_from_the_token_never_the_body(gateway: Gateway, admin: dict[str, str]) -> None:
    product_id = gateway.new_product(admin, stock=5)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")

    answer = gateway.post("/api/orders", headers=ann.headers,
                          json={"customerId": bob.customer_id, "items": [{"productId": product_id, "quantity": 1}]})

    assert answer.status_code == 422
    assert gateway.get("/api/orders", headers=bob.headers).json()["orders"] == []


def test_idempotency_keys_are_each_customers_own(gateway: Gateway, admin: dict[str, str]) -> None:
    product_id = gateway.new_product(admin, stock=5)
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")
    body = {"items": [{"productId": product_id, "quantity": 1}]}

    first = gateway.post("/api/orders", headers={**ann.headers, "Idempotency-Key": "k-1"}, json=body)
    again = gateway.post("/api/orders", headers={**ann.headers, "Idempotency-Key": "k-1"}, json=body)
    other = gateway.post("/api/orders", headers={**bob.headers, "Idempotency-Key": "k-1"}, json=body)

    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 201)
    assert first.json()["orderId"] == again.json()["orderId"] != other.json()["orderId"]
    assert other.json()["customerId"] == bob.customer_id


def test_profile_changes_go_to_the_callers_own_profile(gateway: Gateway) -> None:
    ann, bob = gateway.sign_up("Ann"), gateway.sign_up("Bob")

    changed = gateway.call("PATCH", "/api/me", headers=ann.headers, json={"name": "Ann Lee-Smith"})

    assert changed.status_code == 200
    assert (changed.json()["customerId"], changed.json()["version"]) == (ann.customer_id, 2)
    assert gateway.get("/api/me", headers=bob.headers).json()["name"] == "Bob"


INTERNAL = [
    ("POST", "/inventory/reserve"), ("POST", "/api/inventory/reserve"), ("POST", "/api/admin/inventory/reserve"),
    ("POST", "/inventory/reservations/r-1/release"), ("POST", "/api/inventory/reservations/r-1/release"),
    ("POST", "/payments"), ("POST", "/api/payments"), ("POST", "/payments/o-1/capture"),
    ("POST", "/api/payments/o-1/refund"), ("POST", "/api/admin/payments/o-1/refund"),
    ("POST", "/shipments"), ("POST", "/api/shipments"), ("POST", "/orders"), ("GET", "/customers/c-1"),
]


def test_the_services_internal_calls_have_no_route_through_the_gateway(gateway: Gateway, admin: dict[str, str]) -> None:
    customer = gateway.sign_up()
    body = {"productId": "p-1", "quantity": 1, "orderId": "o-1", "amountCents": 1, "paymentToken": "tok_ok"}

    reached = []
    for headers in ({}, customer.headers, admin):
        for method, path in INTERNAL:
            answer = gateway.call(method, path, headers=headers, json=body)
            if answer.status_code not in (404, 405):
                reached.append((method, path, answer.status_code))

    assert reached == []
    paths = [path for _, path in routes(gateway)]
    assert not [p for p in paths if any(word in p for word in ("reserve", "payments", "shipments", "release"))]


def test_a_body_over_the_limit_is_413_whether_or_not_it_says_its_length(gateway: Gateway) -> None:
    customer = gateway.sign_up()
    items = [{"productId": f"p-{n:05d}-{'x' * 80}", "quantity": 1} for n in range(200)]  # ~20 KiB
    body = json.dumps({"items": items}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 4096):
            yield body[start:start + 4096]

    declared = gateway.post("/api/orders", headers=customer.headers, content=body)
    streamed = gateway.post("/api/orders", headers={**customer.headers, "Content-Type": "application/json"},
                            content=chunks())

    assert len(body) > 16_384
    for answer in (declared, streamed):
        assert (answer.status_code, answer.json()["code"]) == (413, "payload_too_large")
    assert "content-length" not in streamed.request.headers
    assert gateway.get("/api/orders", headers=customer.headers).json()["orders"] == []


def test_each_customer_has_their_own_rate_limit_and_the_429_says_when_to_retry(house: Any) -> None:
    limited = Gateway(house.shared("gateway", **gateway_env(backends(house), rate_limit="5/minute")),
                      house.admin_token)
    ann, bob = bearer(mint(unique("ann"))), bearer(mint(unique("bob")))

    ann_answers = [limited.get("/api/orders", headers=ann).status_code for _ in range(7)]
    bob_answer = limited.get("/api/orders", headers=bob)
    refused = limited.get("/api/orders", headers=ann)

    assert ann_answers == [200] * 5 + [429] * 2
    assert bob_answer.status_code == 200
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


def test_anonymous_callers_are_rate_limited_by_address(house: Any) -> None:
    limited = Gateway(house.shared("gateway", **gateway_env(backends(house), rate_limit="3/minute")),
                      house.admin_token)

    answers = [limited.post("/api/auth/token", json={"email": "a@example.com", "password": "guess-guess"})
               for _ in range(5)]

    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
