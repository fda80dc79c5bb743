"""A payments database written before authorise/capture (revision 0001) upgrades on start:
charges approved then are captured payments now, and can still be given back once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from payments_support import PaymentsClient, assert_ledger_consistent
from sqlalchemy.engine import Connection

from flashsale.kit.db import Database
from flashsale.kit.db_admin import service_database_url
from flashsale.services.payments.app import MIGRATIONS
from support.ids import unique

pytestmark = pytest.mark.service


def _to_0001(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "0001")


async def _database_at_0001(url: str, rows: dict[str, tuple[str, list[str]]]) -> None:
    """Payments as 0001's code left them: order id -> (status, ledger entry kinds)."""
    db = await Database.connect(url)
    try:
        async with db.transaction() as conn:
            await conn.run_sync(_to_0001)
            for order_id, (status, kinds) in rows.items():
                payment_id = f"pay-{order_id}"
                reason = "card_declined" if status == "DECLINED" else None
                await conn.execute(sa.text(
                    "INSERT INTO payments (payment_id, order_id, amount_cents, token, status, reason, attempts,"
                    " created_at_ms, updated_at_ms) VALUES (:p, :o, 900, 'tok_ok', :s, :r, 1, 1, 1)"
                ), {"p": payment_id, "o": order_id, "s": status, "r": reason})
                for n, kind in enumerate(kinds):
                    await conn.execute(sa.text(
                        "INSERT INTO payment_ledger (entry_id, payment_id, order_id, kind, amount_cents, at_ms)"
                        " VALUES (:e, :p, :o, :k, 900, :at)"
                    ), {"e": f"{payment_id}-{n}", "p": payment_id, "o": order_id, "k": kind, "at": 1 + n})
    finally:
        await db.dispose()


def test_payments_of_the_old_schema_upgrade_and_can_be_given_back_once(fresh_services: Any) -> None:
    approved, refunded, declined = unique("o"), unique("o"), unique("o")
    asyncio.run(_database_at_0001(service_database_url(fresh_services.database_base, "payments"), {
        approved: ("APPROVED", ["AUTHORISED", "CAPTURED"]),
        refunded: ("REFUNDED", ["AUTHORISED", "CAPTURED", "REFUNDED"]),
        declined: ("DECLINED", []),
    }))

    payments = PaymentsClient(fresh_services.start("payments"), fresh_services.admin_token)

    assert [payments.status(o) for o in (approved, refunded, declined)] == ["CAPTURED", "REFUNDED", "DECLINED"]
    assert payments.ledger(approved)["balanceCents"] == 900
    assert payments.authorise(approved).json()["status"] == "CAPTURED"  # replayed, not authorised again
    assert payments.capture(approved).json()["status"] == "CAPTURED"
    assert payments.refund(approved).json()["status"] == "REFUNDED"
    assert payments.refund(refunded).json()["status"] == "REFUNDED"
    for order_id in (approved, refunded):
        ledger = payments.ledger(order_id)
        assert [e["kind"] for e in ledger["entries"]] == ["AUTHORISED", "CAPTURED", "REFUNDED"]
        assert ledger["balanceCents"] == 0
        assert_ledger_consistent(ledger)
    # Only what happened after the upgrade is in the provider's books.
    assert payments.effects(approved) == {"refund": 1}
    assert payments.effects(refunded) == {}
    assert payments.refund(declined).json()["code"] == "not_refundable"
