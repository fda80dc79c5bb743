"""A service's identity: its one name, and everything the house derives from it.

Each service declares its identity once, in its package (`flashsale.services.<name>.SERVICE`).
The runtime names the process's logs, traces and broker connection after it; the outbox
announces its events on its stream, `<NAME>`, under the subjects `<name>.<EventType>`; and its
events say where they come from as CloudEvents `source`: `/flashsale/<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from flashsale.kit.envelope import nats_subject, stream_name


@dataclass(frozen=True, slots=True)
class ServiceIdentity:
    name: str

    @property
    def source(self) -> str:
        """The CloudEvents `source` of every event the service announces."""
        return f"/flashsale/{self.name}"

    @property
    def stream(self) -> str:
        """The JetStream stream its events travel in."""
        return stream_name(self.name)

    def subject(self, event_type: str) -> str:
        return nats_subject(self.name, event_type)
