"""Shared fixtures: a real NATS JetStream server, real databases, real service processes.

Databases are parametrised over SQLite and PostgreSQL. PostgreSQL tests skip with a visible
reason when no server answers at FLASHSALE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1/),
and fail instead when CI=true: there a missing PostgreSQL is a broken build, not a skip.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from flashsale.kit.db_admin import service_database_url
from flashsale.runtime.nats_server import free_port, start_nats, wait_for_port
from flashsale.runtime.process import ServiceProcess, stop_together

POSTGRES_URL = os.environ.get("FLASHSALE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/")
# A port found free is free only until someone binds it: a process of another test worker may take
# it before the service does (the service then exits); it gets another port, this many times.
PORT_ATTEMPTS = 3
IN_CI = os.environ.get("CI", "").lower() == "true"


def _postgres_reachable() -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _lost_its_port(proc: ServiceProcess) -> bool:
    log = proc.log_file.read_text(errors="replace") if proc.log_file and proc.log_file.exists() else ""
    return "address already in use" in log.lower()


def require_postgres() -> None:
    if _postgres_reachable():
        return
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI but {POSTGRES_URL} does not answer")
    pytest.skip(
        f"PostgreSQL not reachable at {POSTGRES_URL} (set FLASHSALE_TEST_POSTGRES); CI=true makes this a failure"
    )


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS JetStream server of our own, on a free port, for the whole test session."""
    data_dir = tmp_path_factory.mktemp("nats")
    port = free_port()
    proc = start_nats(data_dir, port, data_dir / "nats.log")
    try:
        wait_for_port(port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """How `make test` (pytest -n 3 --dist loadfile) shares the work among its workers.

    A test file stays whole on one worker, so its module-wide processes start once; and every
    system test goes to one worker, one module after the other: each of those modules starts a
    whole house (a dozen processes), and two or three houses at once on a 2-core machine made each
    other miss their deadlines. (Hand-made because pytest-xdist's own grouping, --dist loadgroup,
    renames node ids, which pytest 9 no longer lets it do.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class SystemTestsTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "tests/system" if nodeid.startswith("tests/system/") else str(super()._split_scope(nodeid))

    return SystemTestsTogether(config, log)


def _database_base(kind: str, tmp_path: Path) -> Iterator[str]:
    """A base database URL (one database per service is derived from it), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path}/db/"
        return
    require_postgres()
    name = f"fs_test_{uuid.uuid4().hex[:10]}"
    yield POSTGRES_URL.rstrip("/") + "/" + name
    _DROPS.submit(asyncio.run, _drop_databases_of(name))


# Dropping a PostgreSQL database forces a checkpoint and took ~2 s each on a busy machine, at the
# end of every test and module that had databases: a thread of its own drops them while the next
# tests run, and the session waits for it only at its end (pytest_sessionfinish).
_DROPS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-test-databases")


async def _drop_databases_of(base_name: str) -> None:
    """Drop every database made from the base `base_name` (one per service that started)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = make_url(POSTGRES_URL).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        names = await conn.fetch("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", f"{base_name}_")
        for row in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    finally:
        await conn.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    _DROPS.shutdown(wait=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_base(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Fresh databases for each test."""
    yield from _database_base(request.param, tmp_path)


@pytest.fixture
def postgres_database_base(tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database, for what only PostgreSQL has (deadlocks, single statements)."""
    yield from _database_base("postgresql", tmp_path)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_database_base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Databases shared by one test module's tests (each test makes its own ids)."""
    yield from _database_base(request.param, tmp_path_factory.mktemp("module"))


@pytest.fixture(scope="session")
def admin_token() -> str:
    return secrets.token_urlsafe(16)


class ServiceLauncher:
    """Starts service processes for one test (`services`) or one test module (`house`) and stops
    them all at its end."""

    def __init__(self, tmp_path: Path, database_base: str, nats_url: str, admin_token: str) -> None:
        self.tmp_path = tmp_path
        self.database_base = database_base
        self.nats_url = nats_url
        self.admin_token = admin_token
        self.processes: list[ServiceProcess] = []
        self._shared: dict[tuple[str, str, tuple[tuple[str, str], ...]], ServiceProcess] = {}

    def start(self, service: str, *, instance: str = "1", module: str | None = None, **env: str) -> ServiceProcess:
        """`module`: run that module instead of the service's own (bench/naive_inventory.py)."""
        settings = {
            "FLASHSALE_DATABASE_URL": service_database_url(self.database_base, service),
            "FLASHSALE_BROKER_URL": self.nats_url,
            "FLASHSALE_ADMIN_TOKEN": self.admin_token,
            "FLASHSALE_INSTANCE": instance,
            "FLASHSALE_LOG_LEVEL": "INFO",
        }
        for key, value in env.items():
            name = key.upper()
            settings[name if name.startswith("FLASHSALE_") else f"FLASHSALE_{name}"] = value
        for attempt in range(PORT_ATTEMPTS):
            proc = ServiceProcess(service, free_port(), settings,
                                  log_file=self.tmp_path / f"{service}-{instance}.log", module=module)
            self.processes.append(proc.start())
            try:
                return proc.wait_healthy()
            except RuntimeError:  # exited: the free port it was given may have been taken first
                if attempt + 1 == PORT_ATTEMPTS or not _lost_its_port(proc):
                    raise
        raise AssertionError("unreachable")

    def shared(self, service: str, *, instance: str = "1", module: str | None = None, **env: str) -> ServiceProcess:
        """The process of this service with these settings that the launcher's tests share,
        started on first use. When a test has stopped or killed one of the shared processes, all
        of them start afresh (on the same databases): a process wired to the dead one's URL, or
        resuming work against it, would fail the next test for a reason of the last one's making."""
        if any(not proc.is_running() for proc in self._shared.values()):
            stop_together(self._shared.values())
            self._shared.clear()
        key = (service, instance, tuple(sorted({**env, "module": module or ""}.items())))
        if key not in self._shared:
            self._shared[key] = self.start(service, instance=instance, module=module, **env)
        return self._shared[key]

    def stop_all(self) -> None:
        stop_together(self.processes)


@pytest.fixture
def services(house: ServiceLauncher) -> ServiceLauncher:
    """The service processes a test uses, by default its module's running house (`house`): tests
    make their own ids, so they share processes. A test that needs processes of its own (it stops a
    database, migrates one from an old schema, kills what others would use) asks for
    `fresh_services` instead."""
    return house


@pytest.fixture
def fresh_services(tmp_path: Path, database_base: str, nats_url: str, admin_token: str) -> Iterator[ServiceLauncher]:
    """Service processes and databases of the test's own, stopped and dropped at its end."""
    launcher = ServiceLauncher(tmp_path, database_base, nats_url, admin_token)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def house(
    tmp_path_factory: pytest.TempPathFactory, module_database_base: str, nats_url: str, admin_token: str
) -> Iterator[ServiceLauncher]:
    """Service processes shared by one test module: starting a process costs about a second, so a
    module's tests share them (`house.shared(...)`) and make their own ids."""
    launcher = ServiceLauncher(tmp_path_factory.mktemp("house"), module_database_base, nats_url, admin_token)
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def in_process(module_database_base: str, nats_url: str, admin_token: str) -> Iterator[Any]:
    """The in-process tier (tests/support/in_process.py): apps built by `create_app` and served in
    this process, shared by one test module, on SQLite and on PostgreSQL."""
    from support.in_process import InProcessHouse

    house = InProcessHouse(module_database_base, nats_url, admin_token)
    try:
        yield house
    finally:
        house.close()
