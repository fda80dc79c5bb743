"""The parts of the public contract that the code can write itself: `python -m flashsale.contract_docs`.

docs/contract.md is the contract in words. What the code knows better than any prose is generated
from it and committed beside it, so a change of a route or an event that is not regenerated shows
up as a red test (tests/unit/test_contract_docs.py) and as a diff in review:

- docs/openapi/<service>.json: each service's OpenAPI document, as `create_app(...).openapi()`
  builds it (what the service serves at /openapi.json). Building an app starts nothing: no
  database, broker or server; the documents depend on no setting, so defaults are enough.
- docs/events/<EventType>.schema.json: the JSON schema of each event's payload (`data`), from its
  model in contracts/events.py, camelCase as on the wire; docs/events/envelope.schema.json: the
  CloudEvents envelope every event travels in (kit/envelope.py).
- the events table of docs/contract.md (between its two markers): each event type, the service that
  produces it, its stream and subject, and its schema. The producer is read from the code: the
  service whose modules that build envelopes (`Envelope.new`) name the event's model.

Every file is written with sorted keys, two-space indentation and a trailing newline, so
generating twice gives the same bytes. `--check` writes nothing and exits 1 when a file differs.

Why here, at the top of the package: the generator imports every service's app, and the
import-linter contracts in pyproject.toml forbid that to `contracts` (which depends on nothing of
ours), `kit`, `runtime`, `sale` and `consistency`; services never import each other. A module of
its own, which nothing in the house imports, is allowed and is type-checked and linted with the rest.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

import flashsale.services
from flashsale.contracts import events
from flashsale.contracts.events import EventData
from flashsale.kit.envelope import Envelope, nats_subject, stream_name
from flashsale.services.catalog.app import create_app as catalog_app
from flashsale.services.customers.app import create_app as customers_app
from flashsale.services.gateway.app import create_app as gateway_app
from flashsale.services.gateway.settings import GatewaySettings
from flashsale.services.inventory.app import create_app as inventory_app
from flashsale.services.monitor.app import create_app as monitor_app
from flashsale.services.notifications.app import create_app as notifications_app
from flashsale.services.orders.app import create_app as orders_app
from flashsale.services.payments.app import create_app as payments_app
from flashsale.services.reporting.app import create_app as reporting_app
from flashsale.services.shipping.app import create_app as shipping_app

# The gateway refuses to build without a key to sign tokens with; the document does not depend on it.
_PLACEHOLDER_SECRET = "only-for-reading-the-openapi-document-nothing-is-signed"

# Every service, in the order the contract names them, and how its app is built.
APPS: dict[str, Callable[[], FastAPI]] = {
    "inventory": inventory_app,
    "orders": orders_app,
    "payments": payments_app,
    "shipping": shipping_app,
    "notifications": notifications_app,
    "catalog": catalog_app,
    "customers": customers_app,
    "reporting": reporting_app,
    "monitor": monitor_app,
    "gateway": lambda: gateway_app(GatewaySettings(gateway_secret=_PLACEHOLDER_SECRET)),
}

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CONTRACT = Path("contract.md")
OPENAPI = Path("openapi")
EVENTS = Path("events")
ENVELOPE_SCHEMA = EVENTS / "envelope.schema.json"
TABLE_BEGIN = "<!-- events table: generated from the code by `make docs`; edit the code, not these lines -->"
TABLE_END = "<!-- end of the events table -->"


# -- what the code says ------------------------------------------------------------------------

def event_models() -> list[type[EventData]]:
    """Every event payload in contracts/events.py, in the order it is defined there. A model that
    is only a part of others (a `Line`, a `PostalAddress`) is no event: it is in their schemas."""
    models = [
        value for value in vars(events).values()
        if isinstance(value, type) and issubclass(value, EventData) and value is not EventData
        and value.__module__ == events.__name__
    ]
    parts = {name for model in models for name in model.model_json_schema(by_alias=True).get("$defs", {})}
    return [model for model in models if model.__name__ not in parts]


def producers() -> dict[str, str]:
    """Event type -> the service that produces it; ValueError when one has none, or several."""
    types = {model.__name__ for model in event_models()}
    found: dict[str, set[str]] = {name: set() for name in sorted(types)}
    root = Path(flashsale.services.__file__).parent
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _builds_envelopes(tree):
            for name in _names(tree) & types:
                found[name].add(path.relative_to(root).parts[0])
    wrong = {name: sorted(services) for name, services in found.items() if len(services) != 1}
    if wrong:
        raise ValueError(f"every event has one producer (a module that builds its envelopes); these do not: {wrong}")
    return {name: services.pop() for name, services in found.items()}


def _builds_envelopes(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "new"
        and isinstance(node.func.value, ast.Name) and node.func.value.id == Envelope.__name__
        for node in ast.walk(tree)
    )


def _names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.name)
    return names


# -- the documents -------------------------------------------------------------------------------

def documents() -> dict[Path, str]:
    """Every generated file under docs/ (but the contract's table), by its path under docs/."""
    files = {OPENAPI / f"{name}.json": _json(build().openapi()) for name, build in APPS.items()}
    for model in event_models():
        files[_schema_path(model.__name__)] = _json(_schema(model.model_json_schema(by_alias=True)))
    files[ENVELOPE_SCHEMA] = _json(_schema(Envelope.model_json_schema(by_alias=True)))
    return files


def events_table() -> str:
    by_type = producers()
    rows = ["| event | producer | stream | NATS subject | payload schema |", "|---|---|---|---|---|"]
    for model in event_models():
        name, producer = model.__name__, by_type[model.__name__]
        schema = _schema_path(name).as_posix()
        rows.append(f"| `{name}` | {producer} | `{stream_name(producer)}` | `{nats_subject(producer, name)}` "
                    f"| [{schema}]({schema}) |")
    return "\n".join(rows)


def contract_with_table(contract: str) -> str:
    """The contract's text with its events table as the code has it now."""
    before, begin, rest = contract.partition(TABLE_BEGIN)
    _, end, after = rest.partition(TABLE_END)
    if not begin or not end:
        raise ValueError(f"docs/{CONTRACT} has lost the markers of its events table: {TABLE_BEGIN} ... {TABLE_END}")
    return f"{before}{TABLE_BEGIN}\n{events_table()}\n{TABLE_END}{after}"


def _schema_path(event_type: str) -> Path:
    return EVENTS / f"{event_type}.schema.json"


def _schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- writing and checking ------------------------------------------------------------------------

def expected(docs: Path) -> dict[Path, str]:
    """Every file under `docs` the code decides, with the text it should hold."""
    files = documents()
    files[CONTRACT] = contract_with_table((docs / CONTRACT).read_text(encoding="utf-8"))
    return files


def differences(docs: Path) -> list[str]:
    """What in `docs` differs from what the code generates: [] when it is up to date."""
    files = expected(docs)
    found = [f"{docs / path}: differs from the code" for path, text in files.items() if _read(docs / path) != text]
    found += [f"{docs / path}: generated by nothing (stale)" for path in _stale(docs, files)]
    return sorted(found)


def write(docs: Path) -> list[Path]:
    """Bring `docs` up to date; returns the files it wrote or removed."""
    files = expected(docs)
    changed = [path for path, text in files.items() if _read(docs / path) != text]
    for path in changed:
        (docs / path).parent.mkdir(parents=True, exist_ok=True)
        (docs / path).write_text(files[path], encoding="utf-8", newline="\n")
    stale = _stale(docs, files)
    for path in stale:
        (docs / path).unlink()
    return sorted([*changed, *stale])


def _stale(docs: Path, files: Iterable[Path]) -> list[Path]:
    wanted = set(files)
    present = [path.relative_to(docs) for folder in (OPENAPI, EVENTS) for path in (docs / folder).glob("*.json")]
    return sorted(path for path in present if path not in wanted)


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flashsale.contract_docs",
                                     description="Write the parts of docs/ that the code generates.")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="the docs folder (default: ./docs)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is out of date")
    args = parser.parse_args(argv)
    if args.check:
        found = differences(args.docs)
        for line in found:
            print(line, file=sys.stderr)
        if found:
            print("regenerate with `make docs`", file=sys.stderr)
        return 1 if found else 0
    for path in write(args.docs):
        print(args.docs / path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
