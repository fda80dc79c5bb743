"""PostgreSQL: an order placed in ONE statement: the order, its lines, its saga (the hold step
done), its OrderCreated and, with an Idempotency-Key, its request's answer.

A placement that arrives alone (nobody else's committing meanwhile: the usual case when buyers do
not crowd one instance) written as a transaction is a BEGIN, six statements and a COMMIT: eight
round trips before the buyer hears "created". Here they are data-modifying CTEs of one statement
run in autocommit (`Database.single_statement`), which commits whole or not at all. With a key,
every row is written only if the answer is stored (`ANSWERING_CTE`: the key still the claim's), so
a request paused past its key's lock, whose key a retry has taken over, places nothing: as
`answer_txn`'s KeyTakenOver rolls the transaction back. Placements that arrive together go the
general way (`orders._create_all_txn`), one transaction for all of them; SQLite always does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from flashsale.kit.idempotency import ANSWERING_CTE, Answer, KeyClaim, answering_values
from flashsale.kit.sql import inserting_cte, inserting_values
from flashsale.kit.statements import Statement
from flashsale.kit.unit_of_work import Announcement, UnitOfWork, announcing_cte
from flashsale.services.orders.store import sagas
from flashsale.services.orders.store.tables import order_lines, orders

if TYPE_CHECKING:  # orders.py, which places through this module
    from flashsale.services.orders.store.orders import Order

_PLACED = "EXISTS (SELECT FROM placed)"


def _placing(when: str | None) -> Statement:
    # Its result column named, it runs by asyncpg without SQLAlchemy's execution around it (kit/statements.py).
    return Statement(sa.text(f"""
WITH {f"{ANSWERING_CTE}, " if when else ""}{inserting_cte("placed", orders, when=when, returning="order_id")},
lines AS (
    INSERT INTO {order_lines.name} (order_id, product_id, quantity, name, unit_price_cents)
    SELECT placed.order_id, l.product_id, l.quantity, l.name, l.unit_price_cents
    FROM placed, unnest(CAST(:line_products AS text[]), CAST(:line_quantities AS integer[]),
                        CAST(:line_names AS text[]), CAST(:line_prices AS bigint[]))
         AS l(product_id, quantity, name, unit_price_cents)
), {sagas.starting_ctes("placed")}, {announcing_cte(_PLACED)}
SELECT order_id FROM placed
""").columns(order_id=sa.String))


_PLACE = _placing(None)
_PLACE_ANSWERED = _placing("EXISTS (SELECT FROM answered)")


async def place_statement(
    uow: UnitOfWork, order: Order, created: Announcement, answer: tuple[KeyClaim, Answer] | None,
) -> bool:
    """Write `order` with its lines and saga, announced by `created` (its OrderCreated as an outbox
    row), and with `answer` stored under its claimed key, in one statement
    (`Database.single_statement`). False when nothing was written: the key was no longer the claim's."""
    row = {column.name: getattr(order, column.name) for column in orders.c}
    values: dict[str, object] = {
        **inserting_values("placed", row), **sagas.starting_values(order.reservation_id, order.created_at_ms),
        "line_products": [line.product_id for line in order.lines],
        "line_quantities": [line.quantity for line in order.lines],
        "line_names": [line.name for line in order.lines],
        "line_prices": [line.unit_price_cents for line in order.lines],
    }
    if answer is None:
        return await uow.execute_announcing(_PLACE, values, [created]) is not None
    return await uow.execute_announcing(_PLACE_ANSWERED, {**values, **answering_values(*answer)}, [created]) is not None
