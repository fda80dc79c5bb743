"""The PostgreSQL the benches measure on: where it is, whether it answers, a fresh database prefix per run.

FLASHSALE_BENCH_POSTGRES names the server (default: the local one, user postgres). A run's
services each create their own database under the run's prefix (`flashsale.kit.db`
service_database_url) and the bench drops them afterwards.
"""

from __future__ import annotations

import os
import socket
import uuid

POSTGRES = os.environ.get("FLASHSALE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/")


def postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def fresh_prefix(name: str) -> str:
    """A database prefix of this run's own (`<name>_<6 hex>`) on the bench's server."""
    return POSTGRES.rstrip("/") + f"/{name}_{uuid.uuid4().hex[:6]}"
