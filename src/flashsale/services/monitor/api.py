"""HTTP routes of the monitor: the last consistency round's result."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from flashsale.kit.openapi import answers
from flashsale.kit.problems import Problem

router = APIRouter(tags=["monitor"])


@router.get("/consistency", responses=answers((503, "no_round_yet")))
async def last_round(request: Request) -> dict[str, Any]:
    """The last round: per model, entities sampled, matched, lagging (caught up within the grace
    period) and mismatched (drift), the match ratio, a few mismatches, and a note when a model
    was skipped. 503 `no_round_yet` until the first round has finished."""
    last: dict[str, Any] | None = request.app.state.monitor.last
    if last is None:
        raise Problem(503, "no_round_yet", "No consistency round yet", "the first round is still running")
    return last
