"""Customers' profiles kept for composed reads: long while the customers' changes are heard.

Every poll of an order through the gateway shows the customer's profile beside it (compose.py).
A profile almost never changes, yet with the moment every other part is kept for
(FLASHSALE_PARTS_KEPT_S, 1 s) a buyer polling a checkout asked the customers service for it
about once per checkout: ~1 ms of the house's CPU per checkout (the customers service's read and
the gateway's call; `python -m bench.profile_checkout`, 64 buyers through the gateway).

So a profile is kept:
- for `heard_ttl_ms` (FLASHSALE_PROFILES_KEPT_S) while the gateway overhears the customers
  service's `CustomerUpdated` facts (feed.py): a change made anywhere (through another gateway
  instance, by an operator) outdates the copy as soon as it is published;
- for `ttl_ms` (FLASHSALE_PARTS_KEPT_S, as every other part) while it does not (no broker yet, or
  disconnected): then only that moment bounds how old a profile shown can be.
A change through this gateway outdates the copy at once either way. A gap in hearing drops every
copy (a change may have gone by unheard), and an answer asked for before the gap is not kept.
Pure: no I/O, no clock (callers pass the time, epoch ms).
"""

from __future__ import annotations

from typing import Any

from flashsale.services.gateway.copies import MAX_ENTRIES, Copies

Json = dict[str, Any]


class KeptProfiles:
    def __init__(self, ttl_ms: int, heard_ttl_ms: int, *, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl_ms = ttl_ms
        self._heard_ttl_ms = heard_ttl_ms
        self._copies: Copies[Json] = Copies(ttl_ms, max_entries=max_entries)
        self._floor = 0  # answers asked for before the last gap are not kept
        self.listening = False

    def get(self, customer_id: str, now: int) -> Json | None:
        return self._copies.get(customer_id, now)

    def put(self, customer_id: str, profile: Json, asked_at: int) -> None:
        if asked_at >= self._floor:
            self._copies.put(customer_id, profile, asked_at)

    def changed(self, customer_id: str, now: int) -> None:
        """The customer's profile changed (heard, or made through this gateway) at `now`."""
        self._copies.outdate(customer_id, now)

    def feed_heard(self, now: int) -> None:
        """Changes are heard from `now` on; what changed before is unknown."""
        self._gap(now, self._heard_ttl_ms)
        self.listening = True

    def feed_lost(self, now: int) -> None:
        """Changes may go unheard from `now` on: copies are kept only for the short moment."""
        self._gap(now, self._ttl_ms)
        self.listening = False

    def _gap(self, now: int, ttl_ms: int) -> None:
        self._copies.clear()
        self._copies.ttl_ms = ttl_ms
        self._floor = now

    def __len__(self) -> int:
        return len(self._copies)
