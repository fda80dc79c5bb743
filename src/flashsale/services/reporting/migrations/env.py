"""Alembic environment of the reporting service: migrate on the connection the kit hands over."""

from flashsale.kit.migrations import run_env

run_env()
