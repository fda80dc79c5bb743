"""Crash points for tests: die, as a real crash would, at a named point of a saga or handler.

A test arms a point by creating a file of that name in the directory FLASHSALE_FAULTS_DIR names;
the first process to reach the point removes the file (so it fires once, whichever instance gets
there) and SIGKILLs itself: no cleanup, no flushing, nothing a real power cut would allow. Without
FLASHSALE_FAULTS_DIR this is one dictionary lookup, so it stays in production code where the
points are, naming the boundaries the crash tests enumerate.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

FAULTS_DIR_ENV = "FLASHSALE_FAULTS_DIR"


def crash_point(name: str) -> None:
    faults_dir = os.environ.get(FAULTS_DIR_ENV)
    if not faults_dir:
        return
    try:
        (Path(faults_dir) / name).unlink()
    except FileNotFoundError:
        return  # not armed, or another process got there first
    os.kill(os.getpid(), signal.SIGKILL)
