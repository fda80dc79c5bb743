"""What the gateway refuses, as problems (RFC 9457), some with the headers HTTP asks for.

GatewayProblem (kit Problem; `headers` go out with the answer)
├── Unauthenticated  401 unauthenticated (no token) / token_expired / token_invalid,
│                    with `WWW-Authenticate: Bearer` (RFC 6750)
├── Forbidden        403 forbidden: the token's role may not use this route
├── OrderNotFound    404 order_not_found: no such order *for this caller*; another customer's
│                    order gets exactly this answer, so nothing tells the two apart
├── PayloadTooLarge  413 payload_too_large: the body is over the limit (answered by edge.BodyLimit)
├── RateLimited      429 rate_limited, with `Retry-After`
├── Overloaded       503 overloaded, with `Retry-After`: more buy attempts in flight than the house
│                    takes (edge.Admission)
└── SoldOutHere      409 out_of_stock: the product is sold out (sold_out.py), the order service's
                     own answer, given without asking it

What a service behind the gateway answers (a 409 out_of_stock, a 402 payment_declined) goes out
as it came; a service that is down is 503 `<service>_unavailable` (kit DependencyUnavailable).
"""

from __future__ import annotations

from flashsale.kit.problems import Problem

REALM = "flashsale"


class GatewayProblem(Problem):
    headers: dict[str, str] = {}


class Unauthenticated(GatewayProblem):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(401, code, "Unauthenticated", detail)
        challenge = f'Bearer realm="{REALM}"'
        if code != "unauthenticated":  # RFC 6750 §3.1: a token was sent and is not good
            challenge += f', error="invalid_token", error_description="{detail}"'
        self.headers = {"WWW-Authenticate": challenge}


class Forbidden(GatewayProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(403, "forbidden", "Forbidden", detail)


class OrderNotFound(GatewayProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(404, "order_not_found", "Order not found", f"you have no order {order_id}")


class PayloadTooLarge(GatewayProblem):
    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large", "Payload too large",
                         f"request bodies are limited to {limit} bytes", limitBytes=limit)
        self.headers = {"Connection": "close"}  # the rest of the body is never read


class RateLimited(GatewayProblem):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(429, "rate_limited", "Too many requests",
                         f"slow down: try again in {retry_after_s} s")
        self.headers = {"Retry-After": str(retry_after_s)}


class SoldOutHere(GatewayProblem):
    def __init__(self, product_id: str) -> None:
        # The order service's words for it (its OutOfStock), so a buyer cannot tell who answered.
        super().__init__(409, "out_of_stock", "Out of stock", f"{product_id} is sold out")


class Overloaded(GatewayProblem):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(503, "overloaded", "Too busy", f"the sale is busier than we can answer: try again in "
                         f"{retry_after_s} s")
        self.headers = {"Retry-After": str(retry_after_s)}
