"""Fault points for tests: at a named point of a saga or handler, die as a real crash would
(`crash_point`), or fail once as a database hiccup would (`failure_point`).

A test arms a point by creating a file of that name in the directory FLASHSALE_FAULTS_DIR names;
the first process to reach the point removes the file (so it fires once, whichever instance gets
there) and SIGKILLs itself (no cleanup, no flushing, nothing a real power cut would allow) or
raises `InjectedFailure`. Without FLASHSALE_FAULTS_DIR this is one dictionary lookup, so it stays
in production code where the points are, naming the boundaries the fault tests enumerate.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

FAULTS_DIR_ENV = "FLASHSALE_FAULTS_DIR"


class InjectedFailure(RuntimeError):
    """A failure a test armed (`failure_point`): handled as any other failure of its step."""


def crash_point(name: str) -> None:
    if _fires(name):
        os.kill(os.getpid(), signal.SIGKILL)


def failure_point(name: str) -> None:
    if _fires(name):
        raise InjectedFailure(f"failure point {name!r} armed by a test")


def _fires(name: str) -> bool:
    """Whether `name` is armed; disarms it, so that only the first process to get here fires."""
    faults_dir = os.environ.get(FAULTS_DIR_ENV)
    if not faults_dir:
        return False
    try:
        (Path(faults_dir) / name).unlink()
    except FileNotFoundError:
        return False  # not armed, or another process got there first
    return True
