"""How a pull subscription takes its messages: each one as soon as it arrives, a backlog in batches.

nats-py's `fetch(batch=N)` waits, after the first message, for the batch to fill until the server
reports that no more are waiting, and only then hands the batch over. That report often came late
when events arrive a few at a time: a lone event waited up to 100-500 ms in a fetch that already
held it (`python -m bench.delivery`, events ~150 ms apart: p99 ~200 ms, against ~2 ms this way),
and that wait was most of the OrderConfirmed -> deduction p99 in the checkout bench.

So a pull waits for ONE message (`fetch(1)` returns the moment it arrives), then takes only what
the broker says is pending behind it (each message's metadata carries that count), in batches,
with a short expiry in case another instance took them first.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

# How long one pull lingers for a first message before the caller looks around (samples its lag,
# pulls again). An idle subscription pays for a pull request and its expiry each time (~0.5-0.8 ms
# of CPU, measured): at 0.5 s, ~1-1.6 ms a second for each of the house's 13 subscriptions, and the
# reporting service's six were 40 % of its CPU while nothing happened (bench/RESULTS.md). A message
# never waits for it: the pull outstanding takes it the moment it is stored. What it bounds is the
# wait after a broker restart, which forgets the pulls outstanding: the next goes out when it runs out.
FIRST_WAIT_S = 2.0
MOST_AT_ONCE = 100     # the most messages handed over together
PENDING_WAIT_S = 0.02  # a pull for messages counted as pending: they come at once, unless another
                       # instance on the same durable took them meanwhile
GATHERED_WAIT_S = 0.5  # the pull for what the broker holds once a gathering moment is over (below)


# Messages a fetch handed over beyond what was asked, kept (in order) for the next call. A pull
# that timed out (a loaded machine misses PENDING_WAIT_S) still receives its messages later, and
# nats-py's next fetch returns everything queued, whatever its batch size (nats/js/client.py
# `_fetch_n` drains its pending queue first): batches of 101 and more.
_held_back: weakref.WeakKeyDictionary[JetStreamContext.PullSubscription, list[Msg]] = weakref.WeakKeyDictionary()


async def fetch_arrived(psub: JetStreamContext.PullSubscription) -> list[Msg]:
    """The next message, with whatever the broker holds behind it (up to MOST_AT_ONCE).
    Raises TimeoutError when nothing arrived within FIRST_WAIT_S."""
    kept = _held_back.pop(psub, [])
    msgs = kept or await psub.fetch(batch=1, timeout=FIRST_WAIT_S)
    pending = msgs[-1].metadata.num_pending or 0
    while pending > 0 and len(msgs) < MOST_AT_ONCE:
        try:
            more = await psub.fetch(batch=min(pending, MOST_AT_ONCE - len(msgs)), timeout=PENDING_WAIT_S)
        except TimeoutError:
            break
        msgs.extend(more)
        pending = more[-1].metadata.num_pending or 0
    return _at_most(psub, msgs)


async def fetch_gathered(psub: JetStreamContext.PullSubscription, gather_s: float) -> list[Msg]:
    """`fetch_arrived`, then whatever else arrived within `gather_s` of the first message (up to
    MOST_AT_ONCE): for a consumer whose every handled batch costs a commit, and whose readers do
    not wait on it (a read model), so that the events of one moment go in one batch, not one by
    one as they trickle in. Raises TimeoutError when nothing arrived within FIRST_WAIT_S."""
    msgs = await fetch_arrived(psub)
    if gather_s <= 0 or len(msgs) >= MOST_AT_ONCE:
        return msgs
    await asyncio.sleep(gather_s)
    # What the broker holds now, asked first: a pull for that many returns as they come, however
    # loaded the machine (a pull bounded by PENDING_WAIT_S missed them on a loaded CI machine, and
    # they went in the next batch), and nothing is pulled for when nothing came.
    with contextlib.suppress(TimeoutError, nats.errors.Error):
        held = (await psub.consumer_info()).num_pending or 0
        if held:
            msgs.extend(await psub.fetch(batch=min(held, MOST_AT_ONCE - len(msgs)), timeout=GATHERED_WAIT_S))
    return _at_most(psub, msgs)


def _at_most(psub: JetStreamContext.PullSubscription, msgs: list[Msg]) -> list[Msg]:
    if len(msgs) > MOST_AT_ONCE:
        _held_back[psub] = msgs[MOST_AT_ONCE:]
    return msgs[:MOST_AT_ONCE]
