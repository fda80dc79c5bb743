"""Read-your-writes: what each customer changed a moment ago, so their reads of it can skip read
models that have not caught up yet.

The catalog's availability is a read model fed by inventory events: right after a customer's order
takes the last units it may still say "in stock" for a while. For `window_ms` after a customer's
own write that touched a product (placing or cancelling an order), that customer's reads of the
product's availability go to the inventory, its owner; everyone else keeps reading the catalog.

The record lives in this process, bounded (the customers seen most recently, a few entities each)
and expiring. Several gateway instances behind a load balancer would each see only their own
customers' writes: there the window would travel with the customer instead (a signed cookie or
token claim listing the entities and until when), or the balancer would keep a customer on one
instance. Pure: no I/O, no clock (callers pass the time).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

MAX_CUSTOMERS = 100_000
MAX_ENTITIES = 64  # per customer: more recent writes than this and the oldest are forgotten early

IN_STOCK, LOW, SOLD_OUT = "in_stock", "low", "sold_out"


def product(product_id: str) -> str:
    """The entity name of a product's stock."""
    return f"product:{product_id}"


class RecentWrites:
    def __init__(self, window_ms: int, *, max_customers: int = MAX_CUSTOMERS,
                 max_entities: int = MAX_ENTITIES) -> None:
        self.window_ms = window_ms
        self.max_customers = max_customers
        self.max_entities = max_entities
        # customer -> entity -> until when (epoch ms); customers in order of their latest write
        self._until: OrderedDict[str, dict[str, int]] = OrderedDict()

    def note(self, customer_id: str, entities: Iterable[str], now: int) -> None:
        """The customer has just (epoch ms `now`) written these entities."""
        if self.window_ms <= 0:
            return
        written = {e: until for e, until in self._until.pop(customer_id, {}).items() if until > now}
        for entity in entities:
            written.pop(entity, None)  # re-inserted last: the dict stays in order of expiry
            written[entity] = now + self.window_ms
        while len(written) > self.max_entities:
            del written[next(iter(written))]
        self._until[customer_id] = written
        while len(self._until) > self.max_customers:
            self._until.popitem(last=False)

    def is_recent(self, customer_id: str | None, entity: str, now: int) -> bool:
        """Whether this customer wrote this entity within the window before `now`."""
        return self.written_at(customer_id, entity, now) is not None

    def written_at(self, customer_id: str | None, entity: str, now: int) -> int | None:
        """When (epoch ms) this customer last wrote this entity, if within the window before `now`."""
        if customer_id is None:
            return None
        until = self._until.get(customer_id, {}).get(entity)
        return until - self.window_ms if until is not None and until > now else None

    def __len__(self) -> int:
        return len(self._until)


def stock_status(available: int, low_threshold: int) -> str:
    """The catalog's words for a stock level (its domain.status), for a level read from the
    inventory: the same rule, so a customer never sees a product change status by changing source."""
    if available <= 0:
        return SOLD_OUT
    return LOW if available <= low_threshold else IN_STOCK
