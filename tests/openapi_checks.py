"""What the OpenAPI fuzz tests check beyond schemathesis's defaults, and the few rules a schema
cannot say, shared by the services' (tests/service/test_openapi_fuzz.py) and the gateway's
(tests/system/test_gateway_openapi_fuzz.py)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import schemathesis

EXAMPLES = int(os.environ.get("FLASHSALE_FUZZ_EXAMPLES", "5"))
# The bounded run in `make test` sends the same requests every time, so a red build is one anyone
# can reproduce; `make fuzz` (FLASHSALE_FUZZ_EXAMPLES set) explores new ones on every run.
EXPLORE = "FLASHSALE_FUZZ_EXAMPLES" in os.environ
PROBLEM = "application/problem+json"

Check = Callable[[Any, Any, Any], "bool | None"]
Excuse = Callable[[Any, Any], bool]  # (case, response): a valid request's refusal the schema cannot foresee


def problem_with_code(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx is RFC 9457 problem details with the `code` clients switch on."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith(PROBLEM), f"{response.status_code} answered as {content_type!r}"
        body = response.json()
        assert isinstance(body.get("code"), str) and body["code"], f"{response.status_code} without a code: {body}"
    return None


def refused_as(response: Any, status: int, *codes: str) -> bool:
    """The response is the problem `status` with one of `codes`."""
    return response.status_code == status and response.json().get("code") in codes


def whole_floats(value: Any) -> bool:
    """An integer spelled as a float (`1.0`) anywhere in a body."""
    if isinstance(value, float):
        return value.is_integer()
    if isinstance(value, dict):
        return any(whole_floats(v) for v in value.values())
    if isinstance(value, list):
        return any(whole_floats(v) for v in value)
    return False


# Rules across a body's values that JSON Schema cannot say, refused as 422 invalid_request: what
# the validation error says (its `msg`).
INEXPRESSIBLE = (
    "each productId may appear once",  # uniqueItems compares whole items, not one member of them
    "must be an ISO 8601 time", "must carry a UTC offset",  # a pattern does not know the calendar
    "imageUrl must be an absolute http(s) URL",  # `format: uri` admits schemes and hosts we do not
    # customers: an email must look deliverable and a country code be an assigned one (domain.py)
    "invalid value of",
)


def inexpressible(response: Any) -> bool:
    if response.status_code != 422:
        return False
    body = response.json()
    said = [str(e.get("msg", "")) for e in body.get("errors", [])] or [str(body.get("detail", ""))]
    return all(any(rule in words for rule in INEXPRESSIBLE) for words in said)


def accepting_valid_requests(excused: Excuse) -> Check:
    """Schemathesis's positive_data_acceptance, but for an integer spelled as a float (`1.0`): the
    request models are strict (`1.0` for a quantity is 422, as `"1"` or `true` are:
    tests/service/test_inventory_bad_input.py), and JSON Schema has no way to tell `1.0` from `1`;
    nor for the rules in INEXPRESSIBLE, nor for what `excused(case, response)` names."""

    def accepts_valid_requests(ctx: Any, response: Any, case: Any) -> bool | None:
        if whole_floats(case.body) or inexpressible(response) or excused(case, response):
            return None
        return schemathesis.checks.positive_data_acceptance(ctx, response, case)

    return accepts_valid_requests
