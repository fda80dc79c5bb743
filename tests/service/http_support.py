"""One TLS context for the tests' calls to the house's processes.

httpx builds a TLS context for every client it makes, loading the system's certificates each time:
about 24 ms of CPU per `httpx.get`, though the processes speak plain HTTP. A test polling a process
every 50 ms spent half a core on it. Made once and handed to each call, it costs about 1 ms."""

from __future__ import annotations

import ssl

TLS = ssl.create_default_context()
