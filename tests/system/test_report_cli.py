"""`flashsale report` against a house started by `flashsale up`: the sale just played, as a table."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from houses import SharedHouse

from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.client import HouseClient
from support import plain_http
from support.polling import wait_for

pytestmark = pytest.mark.system

PRICE_CENTS = 2_500


@pytest.fixture(scope="module")
def house(shared_house: SharedHouse) -> ServicesFile:
    return shared_house.services


def _small_sale(house: ServicesFile, product: str) -> int:
    """3 units, 3 buyers of one each: two pay, one is declined. Returns the unit price charged."""

    async def scenario() -> int:
        client = HouseClient(house)
        try:
            assert (await client.receive(product, 3, price_cents=PRICE_CENTS)).status == 200
            orders = [await client.create_order(f"buyer-{n}", product) for n in range(3)]
            assert [o.status for o in orders] == [201, 201, 201]
            tokens = ["tok_ok", "tok_ok", "tok_declined"]
            paid = [await client.pay(o.body["orderId"], token) for o, token in zip(orders, tokens, strict=True)]
            assert [p.status for p in paid] == [200, 200, 402]
            return int(orders[0].body["items"][0]["unitPriceCents"])
        finally:
            await client.close()

    return asyncio.run(scenario())


def _report(services: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flashsale.cli", "report", "--services", str(services), *options],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "250"})


def test_the_report_shows_the_sale_per_product_and_over_time(house: ServicesFile, tmp_path: Path) -> None:
    product = f"CONSOLE-{uuid.uuid4().hex[:6]}"
    price = _small_sale(house, product)
    services = tmp_path / "services.json"
    services.write_text(json.dumps(house.to_json()))

    def settled() -> dict[str, object] | None:
        answer = plain_http.get(f"{house.url('reporting')}/reports/sales", params={"productId": product}, timeout=10)
        found = answer.json()["products"]
        # Each stream's events arrive in their own time: the hold's release (inventory's) may land
        # before the order's cancellation (the order service's), so both are waited for.
        done = found and found[0]["orders"]["completed"] == 2 and found[0]["released"] == 1 \
            and found[0]["orders"]["cancelled"] == 1 and found[0]["money"]["capturedCents"] == 2 * price
        return answer.json() if done else None

    expected = wait_for(settled, timeout_s=60, what=f"the report on {product}")
    every = _report(services)
    one = _report(services, "--product", product)
    as_json = _report(services, "--product", product, "--json")

    assert every.returncode == 0, every.stdout + every.stderr
    assert _cells(every.stdout, product) == [product, "3", "3", "2", "1", "0", "0", "66.7 %", "66.7 %",
                                             "3 / 2 / 2 / 1", f"{2 * price / 100:,.2f}", "0.00"]
    assert one.returncode == 0, one.stdout + one.stderr
    assert _cells(one.stdout, "units held") == ["units held (holds granted)", "3"]
    assert _cells(one.stdout, "orders cancelled") == ["orders cancelled", "1: payment_declined 1"]
    assert _cells(one.stdout, "sell-through") == ["sell-through (sold / received)", "66.7 %"]
    assert f"{product}: units per 10s" in one.stdout
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == expected


def _cells(table: str, first: str) -> list[str]:
    """The cells of the table row whose first cell starts with `first`."""
    row = next(line for line in table.splitlines() if line.strip("│ ").startswith(first))
    return [cell.strip() for cell in row.strip().strip("│").split("│")]


def test_a_house_without_reporting_or_a_bad_bucket_is_a_clear_error(house: ServicesFile, tmp_path: Path) -> None:
    services = tmp_path / "services.json"
    services.write_text(json.dumps({**house.to_json(), "services": {}}))

    missing = _report(services)
    bad_bucket = _report(services, "--bucket", "5m")

    assert (missing.returncode, bad_bucket.returncode) == (1, 2)
    assert "lists no reporting instance" in missing.stdout
    assert "--bucket must be one of 1s, 10s, 1m" in bad_bucket.stdout
