"""Ids a test makes for its own data, unique across tests and runs (nothing is shared or wiped)."""

from __future__ import annotations

import uuid


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
