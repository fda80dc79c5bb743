"""The customers service's SQL: the only module that touches `customers`.

Every change is one transaction: the row is written, then the `CustomerUpdated` announcing its
new version goes to the outbox in the same commit. Emails are unique through a unique index on
their case-folded form, so of two requests racing for one email exactly one commits; the other's
insert or update fails on the index and becomes `email_taken`.

A change reads the row FOR UPDATE (SQLite's write transactions are serialised already), so racing
changes queue on it and each applies to the version the one before it wrote; an If-Match naming
an older version is refused. The write itself is a conditional UPDATE from the version read
(`WHERE version = :read`), the guard that would turn a lost race into a retry, never a silently
overwritten change. The row lock also orders the outbox rows: announcements are in version order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.contracts.events import CustomerUpdated, PostalAddress
from flashsale.kit.clock import Clock
from flashsale.kit.db import Database
from flashsale.kit.envelope import Envelope
from flashsale.kit.statements import Statement
from flashsale.kit.unit_of_work import UnitOfWork
from flashsale.services.customers import SERVICE, domain
from flashsale.services.customers.domain import Address, Changes, Profile
from flashsale.services.customers.errors import CustomerExists, EmailTaken, UnknownCustomer, VersionMismatch

# A change that lost a race to a concurrent one (no If-Match) is decided again on the newer row.
UPDATE_ATTEMPTS = 5

metadata = sa.MetaData()

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("customer_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("email_key", sa.String(254), nullable=False),
    sa.Column("line1", sa.String(200), nullable=False),
    sa.Column("line2", sa.String(200), nullable=True),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("postal_code", sa.String(20), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("email_key", name="uq_customers_email_key"),
    sa.CheckConstraint("version >= 1", name="ck_customers_version_positive"),
)


@dataclass(frozen=True)
class Customer:
    customer_id: str
    profile: Profile
    version: int
    created_at_ms: int
    updated_at_ms: int


@dataclass(frozen=True)
class Page:
    """One page of the listing; `next` is the cursor (`after=`) of the following page, if any."""

    customers: Sequence[Customer]
    next: str | None


class CustomerStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def find(self, customer_id: str) -> Customer | None:
        async with self.db.read() as conn:
            return await _find_txn(conn, customer_id)

    async def page(self, *, after: str | None, limit: int) -> Page:
        query = sa.select(customers).order_by(customers.c.customer_id).limit(limit + 1)
        if after is not None:
            query = query.where(customers.c.customer_id > after)
        async with self.db.read() as conn:
            rows = (await conn.execute(query)).all()
        found = [_customer(row) for row in rows[:limit]]
        return Page(found, found[-1].customer_id if len(rows) > limit else None)

    async def create(self, customer_id: str, profile: Profile) -> Customer:
        """Version 1 of a new customer, announced; CustomerExists or EmailTaken when refused."""
        now = self.clock.now_ms()
        created = Customer(customer_id, profile, 1, now, now)
        try:
            async with self.db.unit_of_work() as uow:
                await uow.conn.execute(customers.insert().values(
                    customer_id=customer_id, **_columns(profile), version=1, created_at_ms=now, updated_at_ms=now,
                ))
                await _announce_txn(uow, created, now)
        except IntegrityError:
            # Which of the two unique keys was hit: the id wins, it is the more specific answer.
            if await self.find(customer_id) is not None:
                raise CustomerExists(customer_id) from None
            raise EmailTaken() from None
        return created

    async def update(
        self, customer_id: str, changes: Changes, expected_version: int | None
    ) -> tuple[Customer, bool]:
        """The customer after `changes` and True (a new version, announced), or as it was and False
        when they change nothing. UnknownCustomer, VersionMismatch (If-Match stale) or EmailTaken
        when refused."""
        for _ in range(UPDATE_ATTEMPTS):
            try:
                async with self.db.unit_of_work() as uow:
                    updated = await self._update_txn(uow, customer_id, changes, expected_version)
            except IntegrityError:
                raise EmailTaken() from None
            if updated is not None:
                return updated
        raise RuntimeError(f"customer {customer_id!r} kept changing under {UPDATE_ATTEMPTS} update attempts")

    async def _update_txn(
        self, uow: UnitOfWork, customer_id: str, changes: Changes, expected_version: int | None
    ) -> tuple[Customer, bool] | None:
        """None when a concurrent change committed between our read and our write: try again."""
        conn = uow.conn
        # FOR UPDATE: racing changes queue on the row instead of failing their conditional UPDATE
        # and retrying (SQLite ignores it: its write transactions are serialised already).
        current = await _find_txn(conn, customer_id, lock=True)
        if current is None:
            raise UnknownCustomer(customer_id)
        if expected_version is not None and domain.is_stale(expected_version, current.version):
            raise VersionMismatch(customer_id, expected_version, current.version)
        profile = domain.changed(current.profile, changes)
        if profile is None:
            return current, False
        now = self.clock.now_ms()
        written = await conn.execute(
            customers.update()
            .where(customers.c.customer_id == customer_id, customers.c.version == current.version)
            .values(**_columns(profile), version=current.version + 1, updated_at_ms=now)
        )
        if written.rowcount != 1:
            if expected_version is not None:
                # The version the caller named was current when we read it, and is not anymore.
                raise VersionMismatch(customer_id, expected_version, current.version + 1)
            return None
        updated = Customer(customer_id, profile, current.version + 1, current.created_at_ms, now)
        await _announce_txn(uow, updated, now)
        return updated, True


# Built once (kit/statements.py says why): every read of a customer (each order placed reads one).
_THIS_CUSTOMER = sa.select(customers).where(customers.c.customer_id == sa.bindparam("b_customer_id"))
_FIND = Statement(_THIS_CUSTOMER)
_FIND_LOCKED = Statement(_THIS_CUSTOMER.with_for_update())


async def _find_txn(conn: AsyncConnection, customer_id: str, *, lock: bool = False) -> Customer | None:
    row = (await (_FIND_LOCKED if lock else _FIND).run(conn, {"b_customer_id": customer_id})).first()
    return None if row is None else _customer(row)


def _customer(row: Row[tuple[object, ...]]) -> Customer:
    address = Address(row.line1, row.line2, row.city, row.postal_code, row.country)
    return Customer(row.customer_id, Profile(row.name, row.email, address), row.version,
                    row.created_at_ms, row.updated_at_ms)


def _columns(profile: Profile) -> dict[str, object]:
    address = profile.address
    return {
        "name": profile.name, "email": profile.email, "email_key": domain.email_key(profile.email),
        "line1": address.line1, "line2": address.line2, "city": address.city,
        "postal_code": address.postal_code, "country": address.country,
    }


async def _announce_txn(uow: UnitOfWork, customer: Customer, now: int) -> None:
    address = customer.profile.address
    event = CustomerUpdated(
        customer_id=customer.customer_id, version=customer.version, name=customer.profile.name,
        email=customer.profile.email,
        address=PostalAddress(line1=address.line1, line2=address.line2, city=address.city,
                              postal_code=address.postal_code, country=address.country),
    )
    envelope = Envelope.new(source=SERVICE.source, type="CustomerUpdated", subject=customer.customer_id,
                            data=event.to_data(), now_ms=now, correlation_id=customer.customer_id)
    await uow.announce(envelope, aggregate_id=customer.customer_id)


# -- credentials ----------------------------------------------------------------------------------
# One argon2id hash per customer who can sign in (services/customers/credentials.py makes and
# checks them); a customer created without a password has no row and cannot sign in.

credentials = sa.Table(
    "customer_credentials",
    metadata,
    sa.Column("customer_id", sa.String(100), sa.ForeignKey("customers.customer_id"), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class Credential:
    """Who has this email, and the hash of their password (None: they have no password)."""

    customer_id: str
    password_hash: str | None


class CredentialStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def register(self, customer_id: str, profile: Profile, password_hash: str) -> Customer:
        """A new customer (version 1, announced) with a password, in one transaction: never a
        profile nobody can sign in to. CustomerExists or EmailTaken when refused."""
        now = self.clock.now_ms()
        created = Customer(customer_id, profile, 1, now, now)
        try:
            async with self.db.unit_of_work() as uow:
                await uow.conn.execute(customers.insert().values(
                    customer_id=customer_id, **_columns(profile), version=1, created_at_ms=now, updated_at_ms=now,
                ))
                await uow.conn.execute(credentials.insert().values(
                    customer_id=customer_id, password_hash=password_hash, updated_at_ms=now,
                ))
                await _announce_txn(uow, created, now)
        except IntegrityError:
            async with self.db.read() as conn:
                exists = await _find_txn(conn, customer_id) is not None
            if exists:
                raise CustomerExists(customer_id) from None
            raise EmailTaken() from None
        return created

    async def set_password(self, customer_id: str, password_hash: str) -> bool:
        """Set or replace the customer's password; False when there is no such customer."""
        now = self.clock.now_ms()
        async with self.db.transaction() as conn:
            # The customer's row lock queues two password changes of one customer.
            if await _find_txn(conn, customer_id, lock=True) is None:
                return False
            written = await conn.execute(
                credentials.update().where(credentials.c.customer_id == customer_id)
                .values(password_hash=password_hash, updated_at_ms=now)
            )
            if written.rowcount == 0:
                await conn.execute(credentials.insert().values(
                    customer_id=customer_id, password_hash=password_hash, updated_at_ms=now,
                ))
        return True

    async def find_by_email(self, email: str) -> Credential | None:
        """The credential of the customer with this email (compared without case), if any."""
        joined = customers.outerjoin(credentials, credentials.c.customer_id == customers.c.customer_id)
        query = (sa.select(customers.c.customer_id, credentials.c.password_hash).select_from(joined)
                 .where(customers.c.email_key == domain.email_key(email)))
        async with self.db.read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else Credential(row.customer_id, row.password_hash)

    async def rehash(self, customer_id: str, old_hash: str, new_hash: str) -> None:
        """Replace a hash made with weaker parameters, unless the password changed meanwhile."""
        async with self.db.transaction() as conn:
            await conn.execute(
                credentials.update()
                .where(credentials.c.customer_id == customer_id, credentials.c.password_hash == old_hash)
                .values(password_hash=new_hash, updated_at_ms=self.clock.now_ms())
            )
