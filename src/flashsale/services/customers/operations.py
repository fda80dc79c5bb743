"""The customers service's operations: create a profile, read it, change it, page through them.

Values the schema cannot judge (is this an email? an assigned country code?) are checked here
against the domain's rules before anything is stored; refusals are raised in the domain's words
(errors.py; the store raises the ones only the database can decide: an existing id, a taken email,
a stale version). Metrics count what was committed, and refusals by reason.
"""

from __future__ import annotations

from flashsale.services.customers import domain, metrics
from flashsale.services.customers.domain import Address, Changes, Profile
from flashsale.services.customers.errors import CustomersError, InvalidProfile, UnknownCustomer
from flashsale.services.customers.store import Customer, CustomerStore, Page


class Customers:
    def __init__(self, store: CustomerStore) -> None:
        self.store = store

    async def create(self, customer_id: str, profile: Profile) -> Customer:
        _check(profile.name, profile.email, profile.address)
        try:
            created = await self.store.create(customer_id, profile)
        except CustomersError as refused:
            metrics.customers_refused.labels(refused.reason).inc()
            raise
        metrics.customers_created.inc()
        return created

    async def update(self, customer_id: str, changes: Changes, expected_version: int | None) -> Customer:
        _check(changes.name, changes.email, changes.address)
        try:
            updated, changed = await self.store.update(customer_id, changes, expected_version)
        except CustomersError as refused:
            metrics.customers_refused.labels(refused.reason).inc()
            raise
        if changed:
            metrics.customers_updated.inc()
        return updated

    async def find(self, customer_id: str) -> Customer:
        customer = await self.store.find(customer_id)
        if customer is None:
            raise UnknownCustomer(customer_id)
        return customer

    async def page(self, *, after: str | None, limit: int) -> Page:
        return await self.store.page(after=after, limit=limit)


def _check(name: str | None, email: str | None, address: Address | None) -> None:
    invalid = domain.invalid_fields(name, email, address)
    if invalid:
        metrics.customers_refused.labels("invalid_request").inc()
        raise InvalidProfile(invalid)
