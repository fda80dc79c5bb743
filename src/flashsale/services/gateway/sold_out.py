"""The gateway's copy of what is sold out, so that a sold-out crowd is refused at the door.

Most of a drop's buyers hear "sold out". Forwarded, each of them costs the order service, the
catalog and the inventory a request and a transaction to learn what the last hundred already
learned. This copy answers them here, with the same 409 `out_of_stock` the order service gives;
an attempt with an Idempotency-Key it sends on to the order service, which keeps keys, naming the
product (`Flashsale-Sold-Out`), and the order service refuses it without asking the catalog or the
inventory (measured one at a time, SQLite: 8.0 -> 3.1 ms of house CPU per keyed refusal; every
careful client, the storefront's page included, sends a key).

It may only ever refuse: every grant still comes from the inventory's own transaction, so however
stale the copy is it can never oversell. What it must get right is the other direction, that a
product with units again is buyable again at once:

- A product is marked only by the inventory's own word: a 409 `out_of_stock` answered to an
  attempt that could have been granted with a single unit (one line of quantity 1, or partial
  fulfilment, which is refused only when no line got anything). A refusal of 2 units says nothing
  about the last one.
- Any fact that gives units back (`RETURNS`: a hold released, expired or revoked, stock received
  or adjusted) lifts the product's mark as soon as the gateway hears it on the broker.
- A refusal that was on its way while units came back is stale. Each forwarded attempt takes a
  ticket (how many returns had been heard) and its refusal marks only products with no return
  heard since that ticket.
- While the feed may miss facts (not connected yet, or the connection dropped) nothing is marked
  and every mark is dropped; a mark also lapses after `ttl_ms`, so even a fact lost some other way
  costs one forwarded attempt per product per `ttl_ms`, never a product left unsellable.
- A lapsed mark lets one attempt through, a probe, and keeps refusing the others for another
  `ttl_ms` while the probe asks: its refusal marks the product again, its order lifts the mark
  (`granted`). Lapsing outright sent the whole crowd in flight (256 attempts under the bench's
  crowd) down the expensive path every `ttl_ms`, and they were the sold-out phase's p99 (1.1 s).

Pure: no I/O, no clock (callers pass the time, epoch ms).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The inventory's facts that give units back to `available`, and where their products are named.
RETURNS = ("ReservationReleased", "ReservationExpired", "ReservationRevoked", "StockReceived", "StockAdjusted")
MAX_PRODUCTS = 100_000  # returns remembered per product (older ones: see `_forget_oldest`)


@dataclass(frozen=True)
class Attempt:
    """What a buy attempt asks for, as far as the copy cares: its products and quantities."""

    lines: tuple[tuple[str, int], ...]
    partial: bool

    def products(self) -> list[str]:
        return [product_id for product_id, _ in self.lines]

    def one_unit_would_do(self) -> list[str]:
        """The products that a refusal of this attempt shows to have nothing available."""
        if self.partial:
            return self.products()  # refused only when no line could get anything
        if len(self.lines) == 1 and self.lines[0][1] == 1:
            return self.products()
        return []


class SoldOut:
    def __init__(self, ttl_ms: int, *, max_products: int = MAX_PRODUCTS) -> None:
        self.ttl_ms = ttl_ms
        self.max_products = max_products
        self.listening = False  # whether the feed of returns is being heard now
        self._until: dict[str, int] = {}  # product -> marked sold out until (epoch ms)
        self._returns = 0  # returns heard so far (and gaps in the feed): what a ticket counts
        self._returned: OrderedDict[str, int] = OrderedDict()  # product -> count at its latest return
        self._floor = 0  # tickets older than this cannot be judged (a gap, or forgotten returns)

    def ticket(self) -> int:
        """Taken before an attempt is forwarded, handed back with its refusal."""
        return self._returns

    def refuses(self, attempt: Attempt, now_ms: int) -> str | None:
        """The sold-out product that refuses this attempt here, or None: forward it."""
        marked = [p for p in attempt.products() if self._marked(p, now_ms)]
        if not marked or (attempt.partial and len(marked) < len(attempt.lines)):
            return None
        return marked[0]

    def granted(self, attempt: Attempt) -> None:
        """The order service placed `attempt`: its products had units, whatever was marked."""
        for product_id in attempt.products():
            self._until.pop(product_id, None)

    def refused(self, attempt: Attempt, ticket: int, now_ms: int) -> None:
        """The inventory refused `attempt` (forwarded with `ticket`) for lack of stock."""
        if not self.listening or ticket < self._floor:
            return
        for product_id in attempt.one_unit_would_do():
            if self._returned.get(product_id, -1) <= ticket:
                self._until[product_id] = now_ms + self.ttl_ms

    def units_back(self, product_ids: Iterable[str]) -> None:
        """Units of these products went back to available (a fact heard on the broker)."""
        for product_id in product_ids:
            self._returns += 1
            self._until.pop(product_id, None)
            self._returned.pop(product_id, None)
            self._returned[product_id] = self._returns
        while len(self._returned) > self.max_products:
            self._forget_oldest()

    def feed_lost(self) -> None:
        """Facts may be missed from now on (disconnected): no mark can be trusted or made."""
        self.listening = False
        self._gap()

    def feed_heard(self) -> None:
        """Facts are heard again (connected and subscribed); what came before is unknown."""
        self._gap()
        self.listening = True

    def _gap(self) -> None:
        self._until.clear()
        self._returns += 1
        self._floor = self._returns  # a refusal in flight across the gap is not believed

    def _forget_oldest(self) -> None:
        _, count = self._returned.popitem(last=False)
        self._floor = max(self._floor, count)  # a ticket from before that return cannot be judged

    def _marked(self, product_id: str, now_ms: int) -> bool:
        """Whether the product is held sold out now; the first ask after its mark lapsed is not
        (it goes as the probe), and the mark is kept for the others while the probe asks."""
        until = self._until.get(product_id)
        if until is None:
            return False
        if until <= now_ms:
            self._until[product_id] = now_ms + self.ttl_ms
            return False
        return True

    def __len__(self) -> int:
        return len(self._until)


def returned_products(event_type: str, data: dict[str, object]) -> Sequence[str]:
    """The products whose units a fact of the inventory gave back to available (none for others).
    A stock adjustment is counted whatever its sign: it leaves units or it does not, and lifting a
    mark only costs one forwarded attempt."""
    if event_type not in RETURNS:
        return []
    product_id = data.get("productId")
    if isinstance(product_id, str):
        return [product_id]
    items = data.get("items")
    if not isinstance(items, list):
        return []
    return [str(item["productId"]) for item in items if isinstance(item, dict) and "productId" in item]
