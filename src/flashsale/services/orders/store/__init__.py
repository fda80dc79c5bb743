"""The order service's store: the only package that touches its tables.

orders.py   orders and their lines (status changes + their events)
sagas.py    the checkout saga's state, steps and lease
contacts.py the copy of the customers' contacts (newer-only upserts, compare-and-set repairs)
jobs.py     the schedule of periodic jobs (one instance claims each round)
tables.py   the schema they share
"""

from flashsale.services.orders.store.contacts import ContactStore
from flashsale.services.orders.store.jobs import JobSchedule
from flashsale.services.orders.store.orders import Order, OrderStore, get_txn
from flashsale.services.orders.store.sagas import Claimed, Lease, LostLease, Saga, SagaStore, Step

__all__ = ["Claimed", "ContactStore", "JobSchedule", "Lease", "LostLease", "Order", "OrderStore",
           "Saga", "SagaStore", "Step", "get_txn"]
