"""services.json: the contract's shape, private, and never seen half-written."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from flashsale.runtime.services_file import (
    ServiceInstance,
    ServicesFile,
    ServicesFileError,
    load_services,
    write_services,
)

pytestmark = pytest.mark.unit


def _house() -> ServicesFile:
    return ServicesFile(
        broker="nats://127.0.0.1:8090",
        admin_token="s3cret",
        instances={
            "inventory": [ServiceInstance("http://127.0.0.1:8001", 4242)],
            "orders": [ServiceInstance("http://127.0.0.1:8002", 4243), ServiceInstance("http://127.0.0.1:8003", 4244)],
            "payments": [ServiceInstance("http://127.0.0.1:8004", 4245)],
        },
    )


def test_written_file_has_exactly_the_contract_shape(tmp_path: Path) -> None:
    path = tmp_path / "services.json"

    write_services(path, _house())

    assert json.loads(path.read_text()) == {
        "broker": "nats://127.0.0.1:8090",
        "adminToken": "s3cret",
        "services": {
            "inventory": [{"url": "http://127.0.0.1:8001", "pid": 4242}],
            "orders": [{"url": "http://127.0.0.1:8002", "pid": 4243}, {"url": "http://127.0.0.1:8003", "pid": 4244}],
            "payments": [{"url": "http://127.0.0.1:8004", "pid": 4245}],
        },
    }


def test_only_the_owner_can_read_it_because_it_holds_the_admin_token(tmp_path: Path) -> None:
    path = tmp_path / "services.json"

    write_services(path, _house())

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_rewrite_replaces_the_file_and_leaves_no_temporary_behind(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    write_services(path, _house())
    before = path.stat().st_ino
    moved = ServicesFile("nats://127.0.0.1:8090", "s3cret", {"orders": [ServiceInstance("http://127.0.0.1:8002", 99)]})

    write_services(path, moved)

    assert path.stat().st_ino != before  # a new file renamed into place, not rewritten in place
    assert [p.name for p in tmp_path.iterdir()] == ["services.json"]
    assert load_services(path).instances["orders"][0].pid == 99


def test_loading_gives_urls_per_service_and_the_token(tmp_path: Path) -> None:
    write_services(tmp_path / "services.json", _house())

    loaded = load_services(tmp_path / "services.json")

    assert loaded == _house()
    assert loaded.urls["orders"] == ["http://127.0.0.1:8002", "http://127.0.0.1:8003"]
    assert loaded.url("inventory") == "http://127.0.0.1:8001"
    assert loaded.admin_token == "s3cret"


def test_the_data_directory_may_be_given_instead_of_the_file(tmp_path: Path) -> None:
    write_services(tmp_path / "services.json", _house())

    assert load_services(tmp_path) == _house()


def test_a_missing_file_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(ServicesFileError, match=r"services\.json not found"):
        load_services(tmp_path / "services.json")


@pytest.mark.parametrize("content", ["{", '{"broker": "x"}', '{"broker": "x", "adminToken": "t", "services": [1]}'])
def test_a_file_of_another_shape_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "services.json"
    path.write_text(content)

    with pytest.raises(ServicesFileError):
        load_services(path)


def test_asking_for_a_service_that_is_not_listed_is_a_clear_error() -> None:
    with pytest.raises(ServicesFileError, match="no shipping instance"):
        _house().url("shipping")
