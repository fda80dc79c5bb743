"""The copy of the customers' contacts: `customer_contacts` (its SQL and nobody else's).

Every write is one statement that decides on the row as it is in the database, never on a value
read earlier, so concurrent writers (two instances consuming events, a reconciliation round)
cannot lose the newest profile:
- `apply_txn` upserts a profile only when its version is newer than the stored one (or there is
  none): duplicates and late, older events change nothing;
- `replace` and its compare-and-set guard overwrite a row only while it is still exactly what
  the caller compared with its source (the repair of a corrupt copy).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import Statement
from flashsale.services.orders.domain import Contact
from flashsale.services.orders.store.tables import customer_contacts

_c = customer_contacts.c


# Built once (kit/statements.py says why): every read of an order asks for its customer's contact.
_FIND = sa.select(customer_contacts).where(_c.customer_id.in_(sa.bindparam("b_ids", expanding=True)))
# One customer's (every GET of an order): an expanding IN is rendered anew for every call.
_FIND_ONE = Statement(sa.select(customer_contacts).where(_c.customer_id == sa.bindparam("b_id")))


class ContactStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def find(self, customer_id: str) -> Contact | None:
        async with self.db.read() as conn:
            return await find_txn(conn, customer_id)

    async def find_many(self, customer_ids: Sequence[str]) -> dict[str, Contact]:
        if not customer_ids:
            return {}
        async with self.db.read() as conn:
            rows = (await conn.execute(_FIND, {"b_ids": list(customer_ids)})).all()
        return {row.customer_id: Contact(row.customer_id, row.name, row.email, row.version) for row in rows}

    async def apply(self, contact: Contact) -> bool:
        """Write `contact` unless the copy already has its version or a newer one."""
        async with self.db.transaction() as conn:
            return await apply_txn(conn, contact, self.clock.now_ms())

    async def replace(self, expected: Contact, source: Contact) -> bool:
        """Overwrite the copy with `source` if it is still `expected`; False if it moved since."""
        async with self.db.transaction() as conn:
            result = await conn.execute(
                customer_contacts.update()
                .where(_c.customer_id == expected.customer_id, _c.name == expected.name,
                       _c.email == expected.email, _c.version == expected.version)
                .values(name=source.name, email=source.email, version=source.version,
                        updated_at_ms=self.clock.now_ms())
            )
        return bool(result.rowcount == 1)


async def find_txn(conn: AsyncConnection, customer_id: str) -> Contact | None:
    row = (await _FIND_ONE.run(conn, {"b_id": customer_id})).first()
    return None if row is None else Contact(row.customer_id, row.name, row.email, row.version)


async def apply_txn(conn: AsyncConnection, contact: Contact, now_ms: int) -> bool:
    """Upsert `contact` if newer than the stored version, inside the caller's transaction; True
    when it was written. One statement, so two writers never both read an old version."""
    row = {"customer_id": contact.customer_id, "name": contact.name, "email": contact.email,
           "version": contact.version, "updated_at_ms": now_ms}
    statement = dialect_insert(conn.dialect.name, customer_contacts).values(**row)
    newer = statement.excluded
    result = await conn.execute(statement.on_conflict_do_update(
        index_elements=[_c.customer_id],
        set_={"name": newer.name, "email": newer.email, "version": newer.version,
              "updated_at_ms": newer.updated_at_ms},
        where=_c.version < newer.version,
    ))
    return bool(result.rowcount == 1)
