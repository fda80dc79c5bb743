"""Why running the house can fail, each with the exit code `flashsale up` answers with.

    HouseError                  exit 1 unless said otherwise
    ├── HouseInUse              exit 2: a port or the data directory is taken by someone else
    ├── StartupFailed           a process died or never got healthy; carries its log tail
    └── StartupInterrupted      SIGINT/SIGTERM arrived while starting (a clean stop, exit 0)
    ServicesFileError           services.json is missing or not in the contract's shape
"""

from __future__ import annotations


class HouseError(Exception):
    exit_code = 1


class HouseInUse(HouseError):
    exit_code = 2


class StartupFailed(HouseError):
    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class StartupInterrupted(HouseError):
    exit_code = 0


class ServicesFileError(ValueError):
    pass
