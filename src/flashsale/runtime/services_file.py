"""`DIR/services.json`: where a running house listens, for the CLI commands that talk to it.

The shape is public (docs/contract.md#starting):
`{"broker": ..., "adminToken": ..., "services": {"<name>": [{"url": ..., "pid": ...}, ...]}}`.
It holds the admin token, so it is written with mode 0600, and atomically (a temporary file
renamed over the old one), so a reader never sees half a file while `up` rewrites it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashsale.runtime.errors import ServicesFileError

SERVICES_FILE = "services.json"
__all__ = ["SERVICES_FILE", "ServiceInstance", "ServicesFile", "ServicesFileError", "load_services",
           "write_services"]


@dataclass(frozen=True)
class ServiceInstance:
    url: str
    pid: int


@dataclass(frozen=True)
class ServicesFile:
    broker: str
    admin_token: str
    instances: dict[str, list[ServiceInstance]] = field(default_factory=dict)

    @property
    def urls(self) -> dict[str, list[str]]:
        """Base URLs per service: `{"orders": ["http://127.0.0.1:8002", ...], ...}`."""
        return {name: [i.url for i in found] for name, found in self.instances.items()}

    def url(self, service: str) -> str:
        """The first instance's base URL (the one to use when any instance will do)."""
        found = self.instances.get(service)
        if not found:
            raise ServicesFileError(f"services.json lists no {service} instance")
        return found[0].url

    def to_json(self) -> dict[str, Any]:
        return {
            "broker": self.broker,
            "adminToken": self.admin_token,
            "services": {
                name: [{"url": i.url, "pid": i.pid} for i in found] for name, found in self.instances.items()
            },
        }

    @classmethod
    def from_json(cls, content: Any) -> ServicesFile:
        try:
            instances = {
                str(name): [ServiceInstance(str(i["url"]), int(i["pid"])) for i in found]
                for name, found in content["services"].items()
            }
            return cls(str(content["broker"]), str(content["adminToken"]), instances)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ServicesFileError(f"services.json is not in the expected shape: {error!r}") from error


def load_services(path: Path | str) -> ServicesFile:
    """Read services.json; `path` may also be the data directory that holds it."""
    path = Path(path)
    if path.is_dir():
        path = path / SERVICES_FILE
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ServicesFileError(f"{path} not found: is `flashsale up` running on that directory?") from error
    except json.JSONDecodeError as error:
        raise ServicesFileError(f"{path} is not valid JSON: {error}") from error
    return ServicesFile.from_json(content)


def write_services(path: Path, services: ServicesFile) -> None:
    """Replace `path` atomically with a file only its owner can read (it holds the admin token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(services.to_json(), out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
