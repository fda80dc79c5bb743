"""RFC 9457 problem details, with the extra member `code` that clients switch on.

A service raises errors in its domain's words and maps each to its problem at its HTTP edge,
once (`answer_errors`); the kit's own errors (kit/errors.py) are mapped here. The handlers
installed by `install_problem_handlers` turn those, a `Problem` raised as is, request validation
errors and malformed JSON into `application/problem+json`. Nothing a client sends can produce a
5xx: an unexpected exception is logged and answered as a generic 500 problem, which is a bug to
fix, never an expected path.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from flashsale.kit.errors import (
    DatabaseUnavailable,
    DependencyUnavailable,
    IdempotencyError,
    InvalidKey,
    KeyInProgress,
    KeyReused,
)
from flashsale.kit.openapi import MEDIA_TYPE, document

log = structlog.get_logger(__name__)

PROBLEM_TYPE_BASE = "https://flashsale.dev/problems/"
__all__ = [
    "MEDIA_TYPE", "Problem", "answer_errors", "answer_for", "idempotency_problem", "install_problem_handlers",
    "problem_response",
]

E = TypeVar("E", bound=Exception)


class Problem(Exception):
    def __init__(self, status: int, code: str, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(f"{status} {code}: {detail or title}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_TYPE_BASE + self.code.replace("_", "-"),
            "title": self.title,
            "status": self.status,
            "code": self.code,
        }
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def problem_response(
    problem: Problem, instance: str | None = None, headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(problem.body(instance), status_code=problem.status, media_type=MEDIA_TYPE, headers=headers)


def answer_errors(app: FastAPI, errors: type[E], problem_of: Callable[[E], Problem]) -> None:
    """Answer every error of the class `errors` (a service's domain errors) with the problem
    `problem_of` maps it to: the one place where a service's refusals meet HTTP."""

    async def _answer(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors)
        return problem_response(problem_of(exc), request.url.path)

    app.add_exception_handler(errors, _answer)


def idempotency_problem(error: IdempotencyError) -> Problem:
    """What a client is told when its Idempotency-Key cannot run its request (kit/idempotency.py)."""
    match error:
        case KeyInProgress():  # KeyTakenOver too: the retry that holds the key answers for it
            return Problem(409, "request_in_progress", "Request in progress",
                           "a request with this Idempotency-Key is still running")
        case KeyReused():
            return Problem(422, "idempotency_key_reused", "Idempotency-Key reused",
                           "this key was used with a different request body")
        case InvalidKey():
            return Problem(422, "invalid_idempotency_key", "Invalid Idempotency-Key",
                           f"the key must be 1..{error.max_length} characters")
    return Problem(409, "idempotency_conflict", "Idempotency conflict", str(error))


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return Problem(400, "malformed_json", "Malformed JSON", "the request body is not valid JSON")
    return Problem(422, "invalid_request", "Invalid request", "the request does not match the schema", errors=errors)


_HTTP_CODES = {
    400: ("malformed_request", "Malformed request"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


async def answer_for(app: FastAPI, request: Request, exc: Exception) -> Response:
    """The answer of `app`'s own exception handler for `exc` (the nearest class of it that has
    one), for code that answers in front of the app's exception middleware: the same problem the
    app's routes give. Every service app has a handler for `Exception` (`install_problem_handlers`)."""
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            answer = handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
    raise exc


def _allowed(request: Request) -> dict[str, str]:
    """A 405's `Allow` (RFC 9110): every method some route of the path takes. Starlette's names only
    those of the first route matching the path, and a path often has one route per method."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\0"})  # a method no route takes: path only
        if match is Match.PARTIAL:
            methods.update(getattr(route, "methods", None) or ())
    return {"Allow": ", ".join(sorted(methods))}


def install_problem_handlers(app: FastAPI) -> None:
    """The problem handlers, and the OpenAPI document saying which problems each route answers
    (kit/openapi.py)."""
    document(app, database=lambda: getattr(getattr(app.state, "runtime", None), "migrations", None) is not None)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(_validation_problem(exc), request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
        headers = _allowed(request) if exc.status_code == 405 else dict(exc.headers or {})
        return problem_response(Problem(exc.status_code, code, title, str(exc.detail)), request.url.path, headers)

    answer_errors(app, IdempotencyError, idempotency_problem)

    @app.exception_handler(DependencyUnavailable)
    async def _dependency(request: Request, exc: DependencyUnavailable) -> JSONResponse:
        problem = Problem(503, f"{exc.dependency}_unavailable", "Dependency unavailable", exc.reason)
        return problem_response(problem, request.url.path)

    @app.exception_handler(DatabaseUnavailable)
    async def _database(request: Request, exc: DatabaseUnavailable) -> JSONResponse:
        log.warning("database_unavailable", path=request.url.path, error=str(exc))
        problem = Problem(503, "database_unavailable", "Database unavailable", "the service cannot reach its database")
        return problem_response(problem, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return problem_response(Problem(500, "internal_error", "Internal error"), request.url.path)
