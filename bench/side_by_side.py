"""Two versions of the house measured at the same time: the checkout bench run for each, together.

    python -m bench.side_by_side --base REF [--new REF] [--backend postgresql|sqlite] [--buyers 32]
                                 [--rounds 2] [--path gateway|direct] [--paced 6]

This machine's pace moves from minute to minute (the hello-world ceiling measured 6,800-11,800
requests/s within one afternoon, and one code's checkout figures 1.6x apart in runs ten minutes
apart, 2026-12-07): runs one after the other compare the machine more than the code. Here both
houses run at once, each started by its own `python -m bench.checkout` (its own `flashsale up`,
databases, broker and ports; the house's code taken from a git worktree of REF by `PYTHONPATH`,
the bench's code from this checkout), so both meet the same machine in the same seconds. Each
house's CPU is its own processes' (bench.cpu), so the ratio of CPU per checkout is the code's.
Two houses share two cores: the absolute figures are dearer than one house alone; the ratio is the
finding. `--new` defaults to this checkout's own code (uncommitted changes included).

Prints, per round, each side's checkouts/s and house CPU per checkout at full load, and new/base.

Full load compares codes with a lean: two houses racing for two cores are a feedback loop, where
the cheaper house wins a bigger share of the machine, runs more checkouts a second, spreads its
fixed costs (an idle house's ~60 ms of CPU a second) and its batches over more of them, and so
looks cheaper still. `--paced RATE` gives both houses the same work instead: checkouts arriving
at RATE a second (open loop), set below what either can carry (about half of what one house
completes beside the other), so the CPU each spends on them is its code's alone.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Side:
    name: str
    ref: str
    src: Path


@dataclass(frozen=True)
class Figures:
    per_s: float
    cpu_ms: float


def _worktree(ref: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(into), ref], check=True)
    return into / "src"


def _drop_worktree(path: Path) -> None:
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)


def _run(side: Side, backend: str, buyers: int, path: str, paced_per_s: float | None) -> Figures:
    """One `bench.checkout` of `side`'s house; its full-load row (or its paced one)."""
    command = [sys.executable, "-m", "bench.checkout", "--backends", backend, "--buyers", str(buyers),
               "--path", path, "--no-ceiling", *(["--paced", str(paced_per_s)] if paced_per_s else [])]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(side.src)}, capture_output=True,
                          text=True, timeout=1800, check=False)
    load = f"{buyers} buyers" if paced_per_s is None else "paced"
    return _row(done.stdout, backend, load) or _failed(side, done)


def _row(output: str, backend: str, load: str) -> Figures | None:
    """From bench.checkout's table: `| backend | load | checkouts/s | vs ceiling | requests/s |
    requests/checkout | p50 | p99 | house CPU ms/checkout | ...`, the first row whose load begins
    with `load`."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 9 and cells[0] == backend and cells[1].startswith(load):
            return Figures(float(cells[2].replace(",", "")), float(cells[8].replace(",", "")))
    return None


def _failed(side: Side, done: subprocess.CompletedProcess[str]) -> Figures:
    raise SystemExit(f"the {side.name} house ({side.ref}) gave no figures:\n"
                     f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="a git ref: the code to compare against")
    parser.add_argument("--new", help="a git ref (default: this checkout's code, uncommitted changes included)")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--buyers", type=int, default=32, help="each house's buyers (two houses share the cores)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--path", choices=["gateway", "direct"], default="gateway")
    parser.add_argument("--paced", type=float, help="checkouts arriving at this rate a second in each house "
                                                    "(the same work for both), instead of the full load")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flashsale-side-by-side-"))
    base = Side("base", args.base, _worktree(args.base, tmp / "base"))
    new = Side("new", args.new, _worktree(args.new, tmp / "new")) if args.new else Side("new", "this checkout",
                                                                                         REPO / "src")
    load = f"{args.buyers} buyers" if args.paced is None else f"checkouts paced at {args.paced:g}/s"
    print(f"side by side, {args.backend}, {load} a house, {args.path}: base {base.ref}, new {new.ref}")
    print("| round | base checkouts/s | base ms CPU/checkout | new checkouts/s | new ms CPU/checkout | new/base CPU |")
    print("|---:|---:|---:|---:|---:|---:|")
    ratios: list[float] = []
    try:
        for n in range(1, args.rounds + 1):
            with ThreadPoolExecutor(2) as pool:
                runs = [pool.submit(_run, side, args.backend, args.buyers, args.path, args.paced)
                        for side in (base, new)]
                old, now = (run.result() for run in runs)
            ratios.append(now.cpu_ms / old.cpu_ms)
            print(f"| {n} | {old.per_s:,.1f} | {old.cpu_ms:,.1f} | {now.per_s:,.1f} | {now.cpu_ms:,.1f} | "
                  f"{ratios[-1]:.2f} |", flush=True)
    finally:
        for side in (base, new):
            if side.src.parent.parent == tmp:
                _drop_worktree(side.src.parent)
    print(f"new/base house CPU per checkout, median of {len(ratios)}: {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
