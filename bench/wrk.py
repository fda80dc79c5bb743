"""The load generator when Debian's `wrk` is installed (`apt-get install wrk`): C, epoll, a
thread per core, a Lua script for the POST body and a machine-readable summary.

On this 2-core machine it drives the hello-world ceiling about 1.4x harder than the Python
generator in `loadgen.py` (measured side by side in `make bench`), and it leaves more CPU to the
server under test; the Python generator stays as the fallback where wrk is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.loadgen import LoadResult

# summary.duration and the percentiles are in microseconds; "status" counts non-2xx/3xx answers.
SCRIPT = """
wrk.method = "{method}"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("FLASHSALE %d %d %d %d %f %f\\n", summary.requests, e.status,
    e.connect + e.read + e.write + e.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(url: str, *, method: str = "POST", body: bytes = b"", concurrency: int, duration_s: float,
            threads: int = 2) -> LoadResult:
    """`concurrency` keep-alive connections over `threads` threads for `duration_s` seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(SCRIPT.format(method=method, body=body.decode()))
        done = subprocess.run(
            ["wrk", f"-t{max(1, min(threads, concurrency))}", f"-c{concurrency}", f"-d{max(1, round(duration_s))}s",
             "--timeout", "10s", "-s", str(script), url],
            capture_output=True, text=True, timeout=duration_s + 60, check=True,
        )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("FLASHSALE ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    requests, non_2xx, socket_errors, duration_us, p50_us, p99_us = line.split()[1:]
    answered = int(requests)
    result = LoadResult(requests=answered + int(socket_errors), seconds=int(duration_us) / 1e6,
                        p50_s=float(p50_us) / 1e6, p99_s=float(p99_us) / 1e6)
    result.statuses = {200: answered - int(non_2xx), 0: int(non_2xx) + int(socket_errors)}
    return result
