"""Alembic environment of the inventory's migration history (applied at service start)."""

from flashsale.kit.migrations import run_env

run_env()
