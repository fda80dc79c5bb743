"""The restart policy of `flashsale up`, driven with a pretend process and a hand-moved clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flashsale.runtime.restart import Backoff, NoticeKind, Phase, Watch

pytestmark = pytest.mark.unit


@dataclass
class PretendProcess:
    """Stands in for a child process: the test decides when it dies and when it is healthy."""

    name: str = "orders-2"
    log_file: Path = Path("orders-2.log")
    running: bool = True
    healthy: bool = True
    fails_to_start: bool = False
    starts: int = 0
    kills: int = 0
    pids: list[int] = field(default_factory=lambda: [100])

    @property
    def pid(self) -> int | None:
        return self.pids[-1]

    def start(self) -> None:
        if self.fails_to_start:
            raise OSError("no such file")
        self.starts += 1
        self.pids.append(100 + self.starts)
        self.running, self.healthy = True, False

    def is_running(self) -> bool:
        return self.running

    def exit_code(self) -> int | None:
        return None if self.running else -9

    def is_ready(self) -> bool:
        return self.healthy

    def terminate(self) -> None:
        self.running = False

    def wait(self, timeout_s: float) -> bool:
        return not self.running

    def kill(self) -> None:
        self.kills += 1
        self.running = False


def test_backoff_doubles_from_half_a_second_up_to_ten() -> None:
    backoff = Backoff()

    assert [backoff.next_delay() for _ in range(7)] == [0.5, 1, 2, 4, 8, 10, 10]
    backoff.reset()
    assert backoff.next_delay() == 0.5


def test_a_dead_instance_is_restarted_after_the_backoff_and_announced_when_healthy() -> None:
    process = PretendProcess()
    watch = Watch(process)

    process.running = False
    down = watch.tick(10.0)
    assert down is not None and down.kind is NoticeKind.DOWN and "-9" in down.detail
    assert watch.tick(10.4) is None and process.starts == 0  # still backing off

    restarting = watch.tick(10.5)
    assert restarting is not None and restarting.kind is NoticeKind.RESTARTING
    assert watch.tick(10.6) is None  # running, not healthy yet

    process.healthy = True
    back = watch.tick(10.7)
    assert back is not None and back.kind is NoticeKind.BACK and back.detail == "pid 101"
    assert watch.phase is Phase.UP


def test_an_instance_that_keeps_crashing_waits_longer_each_time() -> None:
    process = PretendProcess()
    watch = Watch(process)
    now, delays = 0.0, []

    for _ in range(4):
        process.running = False
        watch.tick(now)
        delays.append(watch.restart_at - now)
        now = watch.restart_at
        watch.tick(now)  # restarted; dies again before it gets healthy

    assert delays == [0.5, 1, 2, 4]
    assert process.starts == 4


def _crash_and_recover(watch: Watch, process: PretendProcess, at: float) -> float:
    """The process dies at `at`, is restarted and gets healthy; the restart delay it waited."""
    process.running = False
    watch.tick(at)
    delay = watch.restart_at - at
    watch.tick(watch.restart_at)
    process.healthy = True
    watch.tick(watch.restart_at + 0.1)
    return delay


def test_staying_healthy_for_a_while_makes_the_next_crash_a_first_one_again() -> None:
    process = PretendProcess()
    watch = Watch(process, stable_after_s=30)

    assert _crash_and_recover(watch, process, at=0.0) == 0.5
    assert _crash_and_recover(watch, process, at=5.0) == 1  # crashed again soon: the delay grew
    watch.tick(40.0)  # up for more than 30 s since

    assert _crash_and_recover(watch, process, at=41.0) == 0.5


def test_a_restarted_instance_that_never_gets_healthy_is_killed_and_tried_again() -> None:
    process = PretendProcess()
    watch = Watch(process, startup_timeout_s=60)
    process.running = False
    watch.tick(0.0)
    watch.tick(0.5)  # restarted, hangs without answering /health

    assert watch.tick(60.0) is None
    hung = watch.tick(60.6)

    assert hung is not None and hung.kind is NoticeKind.DOWN and "not healthy" in hung.detail
    assert process.kills == 1
    assert watch.phase is Phase.WAITING


def test_a_start_that_fails_outright_is_retried_with_backoff() -> None:
    process = PretendProcess(fails_to_start=True)
    watch = Watch(process)
    process.running = False
    watch.tick(0.0)

    failed = watch.tick(0.5)

    assert failed is not None and failed.kind is NoticeKind.DOWN and "could not be started" in failed.detail
    assert watch.restart_at == 1.5
