"""What a refusal must look like: an RFC 9457 problem (`application/problem+json`) with a `code`."""

from __future__ import annotations

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(answer: httpx.Response, status: int, code: str | None = None, case: object = "") -> None:
    """`answer` is a problem with this status and, when given, this code (`case` names the input
    in the failure message)."""
    assert answer.status_code == status, f"{case!r}: {answer.status_code} {answer.text}"
    assert answer.headers["content-type"].startswith(PROBLEM_JSON), f"{case!r}: {answer.headers['content-type']}"
    found = answer.json().get("code")
    assert found if code is None else found == code, f"{case!r}: {answer.text}"


def assert_client_error_problem(answer: httpx.Response, case: object = "") -> None:
    """`answer` is some 4xx problem with a code (for inputs whose exact refusal is not the point)."""
    assert 400 <= answer.status_code < 500, f"{case!r}: {answer.status_code} {answer.text}"
    assert answer.headers["content-type"].startswith(PROBLEM_JSON), f"{case!r}: {answer.headers['content-type']}"
    assert answer.json().get("code"), f"{case!r}: {answer.text}"
