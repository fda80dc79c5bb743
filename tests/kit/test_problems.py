"""Outages answer 503 problems with a code, never a bare 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from flashsale.kit.errors import DatabaseUnavailable
from flashsale.kit.problems import install_problem_handlers
from support import plain_http


async def test_a_database_out_of_reach_is_a_503_problem() -> None:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/stock")
    async def stock() -> None:
        raise DatabaseUnavailable("postgresql: sorry, too many clients already")

    async with plain_http.async_client(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        answer = await client.get("/stock")

    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "database_unavailable"
    assert "too many clients" not in answer.text  # the driver's words stay in the log
