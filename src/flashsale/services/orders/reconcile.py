"""Reconciliation of the contact copy: walk the customers service's profiles in pages, compare each
with the copy, and repair what is missing, stale or corrupt.

Every customer is walked, not only those with orders: the copy serves a customer's first order
too, and a customer usually exists before ordering. Repairs are safe against the event consumer
running at the same time (and against another round):
- a missing or older copy gets the source's profile through the same newer-only upsert the
  consumer uses, so a newer event applied meanwhile is never rolled back;
- a copy that differs at the same or a newer version is corrupt (the source never had it) and
  is overwritten by compare-and-set, only while it is still the row that was compared. When the
  copy's version is ahead of the page, the page may just predate an event the copy already has,
  so the profile is read again first and judged on that.
Concurrent rounds are therefore harmless; the schedule still lets one instance run each round
(`contact_reconciler`) so that instances do not all walk every profile at once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from flashsale.kit.service import Loop
from flashsale.kit.waiting import wait_set
from flashsale.services.orders import domain, metrics
from flashsale.services.orders.clients import CustomersClient
from flashsale.services.orders.domain import Contact, Repair
from flashsale.services.orders.store import ContactStore, JobSchedule

log = structlog.get_logger(__name__)

JOB = "reconcile_contacts"
# How often an instance asks whether a round is due, at most (the interval itself may be longer).
MAX_POLL_S = 15.0


@dataclass
class Round:
    """What a round did: profiles compared with their copy, and copies repaired."""

    processed: int = 0
    fixed: int = 0


class ContactReconciler:
    def __init__(self, contacts: ContactStore, customers: CustomersClient, *, page_size: int) -> None:
        self.contacts = contacts
        self.customers = customers
        self.page_size = page_size

    async def run(self, trigger: str) -> Round:
        """One round over every profile; DependencyUnavailable when the customers service is down."""
        done = Round()
        after: str | None = None
        while True:
            page = await self.customers.page(after, self.page_size)
            copies = await self.contacts.find_many([c.customer_id for c in page.contacts])
            for source in page.contacts:
                done.processed += 1
                done.fixed += await self._reconcile(copies.get(source.customer_id), source)
            if page.next is None or not page.contacts:
                break
            after = page.next
        metrics.reconcile_rounds.labels(trigger).inc()
        metrics.reconcile_processed.inc(done.processed)
        log.info("contacts_reconciled", trigger=trigger, processed=done.processed, fixed=done.fixed)
        return done

    async def _reconcile(self, copy: Contact | None, source: Contact) -> bool:
        verdict = domain.repair(copy, source)
        if verdict is Repair.OVERWRITE and copy is not None and copy.version > source.version:
            fresh = await self.customers.get(source.customer_id)  # the page may predate the copy
            if fresh is None:
                return False  # gone from the source meanwhile: nothing to compare with
            source, verdict = fresh, domain.repair(copy, fresh)
        if verdict is Repair.NONE:
            return False
        if verdict is Repair.ADVANCE:
            fixed = await self.contacts.apply(source)
        else:
            assert copy is not None
            fixed = await self.contacts.replace(copy, source)
        if fixed:
            metrics.reconcile_fixed.labels("missing" if copy is None else verdict.value).inc()
            log.info("contact_repaired", customer_id=source.customer_id, kind=verdict.value,
                     copy_version=None if copy is None else copy.version, source_version=source.version)
        return fixed


def contact_reconciler(reconciler: ContactReconciler, schedule: JobSchedule, *, interval_s: float) -> Loop:
    """A background loop: every `interval_s`, one instance (whichever claims the round) reconciles."""
    poll_s = max(0.1, min(interval_s / 4, MAX_POLL_S))

    async def work(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await schedule.claim(JOB, int(interval_s * 1000)):
                    await reconciler.run("scheduled")
            except Exception:  # a failed round (customers down, database restart) waits for the next
                log.exception("contacts_reconcile_failed")
            await wait_set(stop, poll_s)

    return work
