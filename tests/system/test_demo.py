"""`flashsale demo` end to end: a house of its own, the story of the last PS5, then a sale through
the gateway by signed-in buyers, audited.

A module of its own: the demo starts its own house, and in test_flash_sale.py it ran beside that
module's house, idle but still two houses on the machine at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.system


def test_the_demo_sale_through_the_gateway_ends_with_nothing_oversold_and_invariants_ok() -> None:
    """Buyers sign up and in first, then buy and pay with their tokens through the gateway."""
    done = subprocess.run(
        [sys.executable, "-m", "flashsale.cli", "demo", "--buyers", "100", "--stock", "10"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "gateway, signed-in buyers" in done.stdout
    assert "oversold: 0" in done.stdout
    assert "invariants: ok" in done.stdout
