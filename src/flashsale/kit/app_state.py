"""Routes depend on what a service's lifespan built, never on `app.state` directly.

A composition root (`app.py`) puts the service's parts on `app.state` when it starts; a route
declares the part it needs as a parameter typed `Annotated[Products, from_app_state("products")]`.
One helper instead of a hand-written getter per part per service.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request


def from_app_state(name: str) -> Any:
    """A FastAPI dependency answering `request.app.state.<name>`."""

    async def part(request: Request) -> Any:
        return getattr(request.app.state, name)

    part.__name__ = f"app_state_{name}"
    return Depends(part)
