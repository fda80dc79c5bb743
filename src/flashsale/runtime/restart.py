"""The restart policy: a process that dies is started again, later each time it keeps dying.

A `Watch` follows one child through three phases: UP (running and healthy), WAITING (dead, a
restart is due at some instant) and STARTING (restarted, not yet healthy). It is driven by
`tick(now)` with the time passed in, so the policy is tested without processes or sleeping.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Child(Protocol):
    """A process the house runs: a service instance or the embedded broker."""

    name: str
    log_file: Path

    @property
    def pid(self) -> int | None: ...

    def start(self) -> None: ...

    def is_running(self) -> bool: ...

    def exit_code(self) -> int | None: ...

    def is_ready(self) -> bool: ...

    def terminate(self) -> None: ...

    def wait(self, timeout_s: float) -> bool: ...

    def kill(self) -> None: ...


@dataclass
class Backoff:
    """0.5 s, 1 s, 2 s … up to 10 s between restarts; back to 0.5 s once the child stays up."""

    initial_s: float = 0.5
    maximum_s: float = 10.0
    _next_s: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self._next_s = self.initial_s

    def next_delay(self) -> float:
        delay = self._next_s
        self._next_s = min(self._next_s * 2, self.maximum_s)
        return delay

    def reset(self) -> None:
        self._next_s = self.initial_s


class Phase(enum.Enum):
    UP = "up"
    WAITING = "waiting"
    STARTING = "starting"


class NoticeKind(enum.Enum):
    DOWN = "down"  # died (or hung while starting); a restart is scheduled
    RESTARTING = "restarting"
    BACK = "back"  # restarted and healthy again: its new pid is worth publishing


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    name: str
    detail: str = ""


@dataclass
class Watch:
    child: Child
    startup_timeout_s: float = 60.0
    # How long a restarted child must stay up before its next crash counts as a first one again.
    stable_after_s: float = 30.0
    backoff: Backoff = field(default_factory=Backoff)
    phase: Phase = Phase.UP
    since: float = 0.0
    restart_at: float = 0.0

    def tick(self, now: float) -> Notice | None:
        if self.phase is Phase.WAITING:
            return self._restart_when_due(now)
        if not self.child.is_running():
            return self._went_down(now, f"exited with code {self.child.exit_code()}")
        if self.phase is Phase.STARTING:
            return self._check_started(now)
        if now - self.since >= self.stable_after_s:
            self.backoff.reset()
        return None

    def _restart_when_due(self, now: float) -> Notice | None:
        if now < self.restart_at:
            return None
        try:
            self.child.start()
        except OSError as error:
            return self._went_down(now, f"could not be started: {error}")
        self.phase, self.since = Phase.STARTING, now
        return Notice(NoticeKind.RESTARTING, self.child.name, f"pid {self.child.pid}")

    def _check_started(self, now: float) -> Notice | None:
        if self.child.is_ready():
            self.phase, self.since = Phase.UP, now
            return Notice(NoticeKind.BACK, self.child.name, f"pid {self.child.pid}")
        if now - self.since > self.startup_timeout_s:
            self.child.kill()
            return self._went_down(now, f"not healthy {self.startup_timeout_s:g} s after a restart")
        return None

    def _went_down(self, now: float, why: str) -> Notice:
        delay = self.backoff.next_delay()
        self.phase, self.restart_at = Phase.WAITING, now + delay
        return Notice(NoticeKind.DOWN, self.child.name, f"{why}; restarting in {delay:g} s")
