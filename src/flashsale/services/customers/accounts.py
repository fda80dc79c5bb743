"""Signing up and signing in: a profile with a password, and the check of an email and password.

The gateway is the only caller: it creates accounts (`register`) and turns a successful
`authenticate` into a signed token. A wrong password and an unknown email get the same answer
(401 invalid_credentials) after the same work (see credentials.py).
"""

from __future__ import annotations

import structlog

from flashsale.services.customers import credentials, domain, metrics
from flashsale.services.customers.domain import Profile
from flashsale.services.customers.errors import (
    CustomersError,
    InvalidCredentials,
    InvalidProfile,
    UnknownCustomer,
    WeakPassword,
)
from flashsale.services.customers.store import CredentialStore, Customer, CustomerStore

log = structlog.get_logger(__name__)


class Accounts:
    def __init__(self, customers: CustomerStore, store: CredentialStore) -> None:
        self.customers = customers
        self.store = store

    async def register(self, customer_id: str, profile: Profile, password: str) -> Customer:
        _check_profile(profile)
        _check_password(password, profile.email)
        password_hash = await credentials.hash_off_loop(password)
        try:
            created = await self.store.register(customer_id, profile, password_hash)
        except CustomersError as refused:
            metrics.customers_refused.labels(refused.reason).inc()
            raise
        metrics.customers_created.inc()
        return created

    async def set_password(self, customer_id: str, password: str) -> None:
        customer = await self.customers.find(customer_id)
        if customer is None:
            raise UnknownCustomer(customer_id)
        _check_password(password, customer.profile.email)
        if not await self.store.set_password(customer_id, await credentials.hash_off_loop(password)):
            raise UnknownCustomer(customer_id)

    async def authenticate(self, email: str, password: str) -> str:
        """The id of the customer with this email and password, else InvalidCredentials."""
        found = await self.store.find_by_email(email)
        password_hash = None if found is None else found.password_hash
        if not await credentials.verify_off_loop(password_hash, password):
            metrics.sign_ins.labels("refused").inc()
            raise InvalidCredentials()
        assert found is not None and password_hash is not None  # verify says no without a hash
        if credentials.needs_rehash(password_hash):
            await self.store.rehash(found.customer_id, password_hash, await credentials.hash_off_loop(password))
        metrics.sign_ins.labels("accepted").inc()
        return found.customer_id


def _check_profile(profile: Profile) -> None:
    invalid = domain.invalid_fields(profile.name, profile.email, profile.address)
    if invalid:
        metrics.customers_refused.labels("invalid_request").inc()
        raise InvalidProfile(invalid)


def _check_password(password: str, email: str) -> None:
    faults = credentials.password_faults(password, email)
    if faults:
        metrics.customers_refused.labels("weak_password").inc()
        raise WeakPassword(faults)
