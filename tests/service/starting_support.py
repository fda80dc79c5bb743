"""Starting several service processes side by side: a process spends most of its first second or
more importing, migrating and connecting, and processes that need nothing of each other need not
wait for each other to do it."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def side_by_side(launcher: Any, *starts: Callable[[], T]) -> list[T]:
    """Run each start (a call of the launcher's `shared` or `start`) in a thread of its own and
    return what each returned, in order.

    Each start is begun only once the one before it has either returned or launched its process:
    by then that one has settled which of the launcher's shared processes it restarts, so no two
    of them decide it at once; the slow part, waiting for each process to answer, overlaps."""
    with ThreadPoolExecutor(max(1, len(starts))) as pool:
        running: list[Future[T]] = []
        for start in starts:
            launched = len(launcher.processes)
            running.append(pool.submit(start))
            _until_launched(launcher, launched, running[-1])
        return [future.result() for future in running]


def _until_launched(launcher: Any, launched: int, start: Future[Any]) -> None:
    deadline = time.monotonic() + 60
    while not start.done() and len(launcher.processes) == launched and time.monotonic() < deadline:
        time.sleep(0.01)
