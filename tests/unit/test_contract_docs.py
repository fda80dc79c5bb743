"""docs/ says what the code does: the committed OpenAPI documents, event schemas and events table are
what `make docs` generates now, every event has its schema and its row, and every pointer into the
contract from the code lands on an anchor it has. Nothing is started: the apps are only built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flashsale import contract_docs

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONTRACT = (DOCS / "contract.md").read_text(encoding="utf-8")


def test_the_committed_documents_are_what_the_code_generates() -> None:
    assert contract_docs.differences(DOCS) == [], "docs/ is out of date: run `make docs` and commit it"


def test_generating_twice_gives_the_same_bytes() -> None:
    assert contract_docs.expected(DOCS) == contract_docs.expected(DOCS)


def test_every_event_type_has_one_producer_a_schema_and_a_row_in_the_contract() -> None:
    producers = contract_docs.producers()
    models = contract_docs.event_models()

    assert {model.__name__ for model in models} == set(producers)
    for model in models:
        name = model.__name__
        assert (DOCS / "events" / f"{name}.schema.json").is_file(), name
        row = f"| `{name}` | {producers[name]} | `{producers[name].upper()}` | `{producers[name]}.{name}` |"
        assert row in CONTRACT, name


def test_the_events_table_names_the_producers_the_code_shows() -> None:
    # A few read off the code by hand, so the producer rule itself is checked, not only its output.
    producers = contract_docs.producers()

    assert producers["StockReserved"] == "inventory"
    assert producers["OrderConfirmed"] == "orders"
    assert producers["PaymentCaptured"] == "payments"  # built through a map, not a call by name
    assert producers["ShipmentScheduled"] == "shipping"
    assert producers["ProductUpdated"] == "catalog"
    assert producers["CustomerUpdated"] == "customers"
    assert "Line" not in producers and "PostalAddress" not in producers  # parts of events, not events


def test_every_service_has_its_openapi_document() -> None:
    documents = {path.stem for path in (DOCS / "openapi").glob("*.json")}

    assert documents == set(contract_docs.APPS)


def test_every_pointer_into_the_contract_lands_on_one_of_its_anchors() -> None:
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', CONTRACT))
    pointers: set[tuple[str, str]] = set()
    sources = [ROOT / "README.md", *(ROOT / folder for folder in ("src", "tests", "bench"))]
    for source in sources:
        for path in [source] if source.is_file() else sorted(source.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            pointers |= {(str(path.relative_to(ROOT)), anchor) for anchor in re.findall(r"contract\.md#([\w-]+)", text)}

    assert pointers, "the code points at the contract's sections"
    assert [pointer for pointer in sorted(pointers) if pointer[1] not in anchors] == []
    assert not [
        str(path.relative_to(ROOT)) for source in ("src", "tests", "bench") for path in (ROOT / source).rglob("*.py")
        if "CONTRACT" + " §" in path.read_text(encoding="utf-8")  # spelled so that this file is not one
    ], "the contract is docs/contract.md: point at its sections (docs/contract.md#orders)"
