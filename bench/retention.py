"""Disk per 1,000 checkouts, and whether it stays flat: the kit tables' retention at work.

    python -m bench.retention [--rounds 16] [--round-s 60] [--per-s 4]

Starts a house on SQLite (`flashsale up`, bench.house) whose retention is short, so that a run of
minutes reaches its steady state (outbox rows and Idempotency-Keys kept 60 s, inbox rows 720 s:
the least the policy allows, the broker's duplicate window plus 10 minutes; pruned every 10 s).
Paced checkouts (order -> pay -> COMPLETED) run round after round; after each round the bench
reads every service's database file (and its WAL) from the data directory, and the rows the kit
tables hold. While nothing is old enough to prune, the bytes grow with the checkouts: that slope
is the "before" figure, what every 1,000 checkouts cost without retention. Once the oldest rows
pass their retention, deletions free pages as fast as checkouts fill them, and the files stop
growing: the "after" figure is the growth per 1,000 checkouts over the last rounds.

SQLite never gives pages back to the file system by itself; freed pages are reused, so a flat
file size is the honest measure. (Only the kit tables are pruned: the orders, payments and
shipments themselves are the business's records and are kept.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.buyers import CheckoutPath, drive_paced
from bench.checkout import POLL_MS, put_on_sale
from bench.house import house
from flashsale.runtime.services_file import ServicesFile

SHORT_RETENTION = {
    "FLASHSALE_OUTBOX_RETENTION_S": "60",
    "FLASHSALE_IDEMPOTENCY_RETENTION_S": "60",
    "FLASHSALE_INBOX_RETENTION_S": "720",
    "FLASHSALE_RETENTION_INTERVAL_S": "10",
}
KIT_TABLES = ("outbox", "inbox", "idempotency_keys")


@dataclass(frozen=True)
class Sample:
    checkouts: int
    bytes_on_disk: int  # every service's database file and its WAL
    kit_bytes: int  # the pages the kit tables and their indexes use (SQLite's dbstat)
    kit_rows: int


def measure(data_dir: Path, checkouts: int) -> Sample:
    total_bytes, kit_bytes, rows = 0, 0, 0
    for db in sorted(data_dir.glob("*.db")):
        total_bytes += sum(path.stat().st_size for path in (db, Path(f"{db}-wal")) if path.exists())
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            kit = [table for table in KIT_TABLES if table in present]
            rows += sum(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in kit)
            owned = "SELECT name FROM sqlite_master WHERE tbl_name IN ({})".format(",".join("?" * len(kit)))
            kit_bytes += conn.execute(f"SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ({owned})",
                                      kit).fetchone()[0] if kit else 0
    return Sample(checkouts, total_bytes, kit_bytes, rows)


def per_thousand(first: Sample, last: Sample, field: str) -> float:
    """Bytes of `field` per 1,000 checkouts between two samples."""
    done = last.checkouts - first.checkouts
    return (getattr(last, field) - getattr(first, field)) * 1000 / done if done else 0.0


def run(services: ServicesFile, data_dir: Path, rounds: int, round_s: float, per_s: float) -> list[Sample]:
    product = f"RET-{uuid.uuid4().hex[:6]}"
    asyncio.run(put_on_sale(services, product, stock=10_000_000))
    samples = [measure(data_dir, 0)]
    print(f"{'round':>5} {'checkouts':>9} {'MB on disk':>10} {'kit MB':>7} {'kit rows':>9}", flush=True)
    for n in range(1, rounds + 1):
        outcome = drive_paced(CheckoutPath(services.urls["orders"]), product, per_s, 0.0, round_s, POLL_MS / 1000)
        if outcome.not_done or outcome.refused:
            raise SystemExit(f"round {n}: not completed {len(outcome.not_done)}, refused {dict(outcome.refused)}")
        samples.append(measure(data_dir, samples[-1].checkouts + len(outcome.done)))
        last = samples[-1]
        print(f"{n:>5} {last.checkouts:>9} {last.bytes_on_disk / 1e6:>10.2f} {last.kit_bytes / 1e6:>7.2f} "
              f"{last.kit_rows:>9}", flush=True)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--round-s", type=float, default=60.0)
    parser.add_argument("--per-s", type=float, default=4.0, help="checkouts arriving per second")
    args = parser.parse_args()
    os.environ.update(SHORT_RETENTION)  # every service of the house reads its FLASHSALE_* settings from here
    with tempfile.TemporaryDirectory(prefix="flashsale-bench-retention-") as tmp:
        data_dir = Path(tmp) / "house"
        with house(data_dir, "") as services:
            samples = run(services, data_dir, args.rounds, args.round_s, args.per_s)
    # Round 1 is the warm-up (files made, WALs growing to their checkpoint size): measured from it.
    growing = samples[1: max(3, len(samples) // 3)]
    steady = samples[-max(2, len(samples) // 4):]
    for title, first, last in (("while nothing is old enough to prune", growing[0], growing[-1]),
                               (f"over the last {len(steady) - 1} rounds", steady[0], steady[-1])):
        print(f"{title}: on disk {per_thousand(first, last, 'bytes_on_disk') / 1e3:.0f} kB per 1,000 checkouts, "
              f"kit tables {per_thousand(first, last, 'kit_bytes') / 1e3:.0f} kB; "
              f"kit rows {first.kit_rows} -> {last.kit_rows}")


if __name__ == "__main__":
    main()
