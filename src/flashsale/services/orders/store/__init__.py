"""The order service's store: the only package that touches its tables.

orders.py   orders and their lines (status changes + their events)
sagas.py    the checkout saga's state, steps and lease
tables.py   the schema both share
"""

from flashsale.services.orders.store.orders import SERVICE, Moved, Order, OrderStore, get_txn
from flashsale.services.orders.store.sagas import Lease, Saga, SagaStore, Step

__all__ = ["SERVICE", "Lease", "Moved", "Order", "OrderStore", "Saga", "SagaStore", "Step", "get_txn"]
