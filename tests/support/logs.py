"""What a module logged during a block, whatever an app served in this process configured.

structlog's `capture_logs` swaps structlog's processors for the block, but an app started in this
process (kit.telemetry.configure_logging) has left two things behind it does not swap: a level
filter (an app at ERROR drops every warning), and loggers that cached that configuration on
first use (a service logs on its hot path). For the block, logging is unfiltered and each module
named gets a fresh logger, which takes the capture's configuration.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, MutableMapping
from types import ModuleType
from typing import Any

import structlog
from structlog.testing import capture_logs


@contextlib.contextmanager
def captured_logs(*modules: ModuleType) -> Iterator[list[MutableMapping[str, Any]]]:
    """The entries the modules' `log` wrote in the block (structlog's event dicts)."""
    wrapper = structlog.get_config()["wrapper_class"]
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.NOTSET))
    try:
        with capture_logs() as logs, contextlib.ExitStack() as restore:
            for module in modules:
                restore.callback(setattr, module, "log", vars(module)["log"])
                vars(module)["log"] = structlog.get_logger(module.__name__)
            yield logs
    finally:
        structlog.configure(wrapper_class=wrapper)
