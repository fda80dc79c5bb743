"""A service's database is migrated from a forked child before the process serves, so the
serving process never loads Alembic. Each test runs the migration from a real, fresh Python
process (a fork is safe only before threads and event loops, which pytest's process has)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

import flashsale.services.catalog
from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url

pytestmark = pytest.mark.service

CATALOG_MIGRATIONS = Path(flashsale.services.catalog.__file__).parent / "migrations"
NEWEST_CATALOG_REVISION = max(path.name[:4] for path in (CATALOG_MIGRATIONS / "versions").glob("0*.py"))

MIGRATE_AND_REPORT = """
import sys
from pathlib import Path
from flashsale.kit.migrations import MigrationFailed, upgrade_in_child
try:
    upgrade_in_child(sys.argv[1], Path(sys.argv[2]))
except MigrationFailed as failure:
    print("failed:", failure)
    sys.exit(3)
print("alembic loaded here:", any(name.split(".")[0] == "alembic" for name in sys.modules))
"""


def migrate_from_a_new_process(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", MIGRATE_AND_REPORT, url, str(CATALOG_MIGRATIONS)],
        capture_output=True, text=True, timeout=60, check=False,
    )


async def revision_of(url: str) -> str | None:
    db = await Database.connect(url)
    try:
        async with db.read() as conn:
            return await conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    finally:
        await db.dispose()


async def test_a_child_brings_a_fresh_database_to_the_newest_revision(database_base: str) -> None:
    url = service_database_url(database_base, "catalog")

    first = migrate_from_a_new_process(url)
    again = migrate_from_a_new_process(url)  # a restart: already at the newest, nothing to do

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert await revision_of(url) == NEWEST_CATALOG_REVISION
    assert "alembic loaded here: False" in first.stdout  # the serving process stays without it


def test_a_migration_that_fails_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a database cannot live under a file")
    url = f"sqlite:///{blocker}/catalog.db"

    failed = migrate_from_a_new_process(url)

    assert failed.returncode == 3
    assert "failed: migrating" in failed.stdout
    assert "Traceback" in failed.stderr  # the child's own error, for whoever reads the log
