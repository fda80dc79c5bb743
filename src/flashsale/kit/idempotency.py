"""Idempotency-Key for POST endpoints (the semantics docs/contract.md#orders writes down).

- first request with a key: runs; its answer is stored under (scope, key) with a hash of the body;
- same key, same body, finished: the stored answer again, nothing runs;
- same key, other body: KeyReused (422 `idempotency_key_reused`);
- same key while the first is still running: KeyInProgress (409 `request_in_progress`).

The errors are the kit's (kit/errors.py); kit/problems.py answers them. A refusal the work raises
as a `Problem` (409 out_of_stock, 402 declined) is an answer too, stored under the key.

A request that dies mid-way (process killed) leaves its key locked only until its lock runs
out; then the next request with that key runs again (the work below it must itself be safe to
repeat: holds are idempotent per order id, payments per order). A 5xx answer is not stored, so
the client can retry after an outage.

Claims, and stored answers, that arrive while another batch of them commits go together in the
next transaction (group commit, kit.coalescer): a crowd of careful clients sends a key with
every attempt, and a transaction each for the claim and the answer was most of what a keyed
refusal cost the order service on SQLite, where every write transaction queues for the file's
write lock. Within a transaction keys are taken in sorted order, so two batches sharing keys
(a client retrying at two instances at once) cannot deadlock on PostgreSQL. A failure of the
transaction itself fails every request of its batch; a problem with one key (reused, in
progress) is that request's alone. A batch of one key never seen (the common case when requests
do not crowd) is its INSERT alone, committed on its own: one round trip on PostgreSQL.

A request whose answer is known before any work (the order service refusing a sold-out product on
the gateway's word) is stored with its key's claim, as the key is taken (`run_keyed(known=...)`):
one statement, where a claim and a stored answer were two writes. A key that exists already goes
the usual way (the stored answer again, reused, in progress, or the work run after a dead holder).

A request whose work begins with a write transaction of its own (a pay: the saga's lease taken)
may take its key in that transaction instead (`run_taking`, `KeyTicket.take_txn`): the claim and
the work's first change commit together. A key answered before then ends the request with its
stored answer (the work's transaction rolls back, having changed nothing).

A request whose work commits in one transaction stores its answer in that same transaction
(`run_keyed` hands the work its `KeyClaim`; `answer_txn`), one commit fewer, and fenced: when the
key's lock ran out and a retry took it over, the work's transaction rolls back (KeyTakenOver), so a
request paused past its lock cannot leave an effect nobody was told about (a second order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from flashsale.kit.clock import Clock
from flashsale.kit.coalescer import Coalescer
from flashsale.kit.db import Database
from flashsale.kit.errors import IdempotencyError, InvalidKey, KeyInProgress, KeyReused, KeyTakenOver
from flashsale.kit.problems import Problem, idempotency_problem
from flashsale.kit.schema import idempotency_keys
from flashsale.kit.sql import dialect_insert
from flashsale.kit.statements import Statement, per_dialect

# Longer than any request with a key may take (a slow payment with retries: ~10 s).
LOCK_S = 60.0
MAX_KEY_LENGTH = 200
MAX_BATCH = 64


@dataclass(frozen=True)
class Answer:
    status: int
    body: object
    # Stored already, in the work's own transaction (`answer_txn`): the store does not store it again.
    stored: bool = field(default=False, compare=False)
    # The answer the key's first request got, sent again (the route says so: REPLAYED_HEADER).
    replayed: bool = field(default=False, compare=False)


# Said on an answer sent again for its key (as Stripe says it): a caller that learns from answers
# (the gateway's sold-out copy) must not take an old refusal for news.
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class KeyClaim:
    """The key a running request holds, for its work to store the answer with its effect. Its
    lock's end is also the claim's fence: the answer is stored, or the key released, only while the
    row still carries it, so a request paused past its lock (whose key another request has taken
    over meanwhile) overwrites nothing when it wakes."""

    scope: str
    key: str
    locked_until_ms: int


async def answer_txn(conn: AsyncConnection, claim: KeyClaim, answer: Answer) -> Answer:
    """Store `answer` for the claimed key inside the caller's transaction, which is about to commit
    the effect it answers for; KeyTakenOver when the claim no longer holds the key."""
    stored = await _ANSWER.run(conn, {**_fence(claim), "b_status": answer.status,
                                      "b_body": orjson.dumps(answer.body).decode()})
    if stored.rowcount != 1:
        raise KeyTakenOver()
    return replace(answer, stored=True)


@dataclass
class KeyTicket:
    """A request's Idempotency-Key not taken yet: its work takes it inside its own first write
    transaction (`take_txn`), so the claim commits with the work's first change (`run_taking`)."""

    scope: str
    key: str
    digest: str
    _store: IdempotencyStore
    claim: KeyClaim | None = None  # once taken

    async def take_txn(self, conn: AsyncConnection) -> KeyClaim:
        """Take the key in the caller's transaction, first thing in it. A key answered before ends
        the request with that answer (the store's runner answers it; the caller's transaction
        rolls back); a key reused with another body, or held by a running request: KeyReused,
        KeyInProgress, as `run_keyed` raises them."""
        taken = await self._store._claim_txn(conn, _Claim(self.scope, self.key, self.digest))
        if isinstance(taken, Answer):
            raise _Answered(taken)
        # Kept as taken even should the caller's transaction roll back after this: storing an
        # answer, or releasing the key, is fenced by the claim's lock and then finds no row.
        self.claim = taken
        return taken


class _Answered(Exception):
    """Not a failure: the key's stored answer, carried out of the work to the runner."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.status)
        self.answer = answer


def _answer_of(problem: Problem) -> Answer:
    return Answer(problem.status, problem.body())


async def _insert_new_txn(conn: AsyncConnection, claim: _Claim, locked_until_ms: int, now_ms: int) -> bool:
    """Record the key as in progress, or answered with the claim's known answer; False when it
    exists already."""
    values = {"b_scope": claim.scope, "b_key": claim.key, "b_digest": claim.digest,
              "b_locked_until_ms": locked_until_ms, "b_now": now_ms}
    if claim.known is None:
        inserted = await _CLAIM_NEW.run(conn, values)
    else:
        inserted = await _CLAIM_ANSWERED.run(conn, {**values, "b_status": claim.known.status,
                                                    "b_body": orjson.dumps(claim.known.body).decode()})
    return bool(inserted.rowcount == 1)


# The statements every keyed request runs, built once (kit/statements.py says why).
@per_dialect
def _CLAIM_NEW(dialect: str) -> sa.Insert:
    statement: sa.Insert = dialect_insert(dialect, idempotency_keys).values(
        scope=sa.bindparam("b_scope"), key=sa.bindparam("b_key"), request_hash=sa.bindparam("b_digest"),
        state="in_progress", locked_until_ms=sa.bindparam("b_locked_until_ms"), created_at_ms=sa.bindparam("b_now"),
    ).on_conflict_do_nothing()
    return statement


@per_dialect
def _CLAIM_ANSWERED(dialect: str) -> sa.Insert:
    statement: sa.Insert = dialect_insert(dialect, idempotency_keys).values(
        scope=sa.bindparam("b_scope"), key=sa.bindparam("b_key"), request_hash=sa.bindparam("b_digest"),
        state="done", status_code=sa.bindparam("b_status"), body=sa.bindparam("b_body"),
        locked_until_ms=sa.bindparam("b_locked_until_ms"), created_at_ms=sa.bindparam("b_now"),
    ).on_conflict_do_nothing()
    return statement


_STILL_OURS = (idempotency_keys.c.scope == sa.bindparam("b_scope"), idempotency_keys.c.key == sa.bindparam("b_key"),
               idempotency_keys.c.state == "in_progress",
               idempotency_keys.c.locked_until_ms == sa.bindparam("b_locked_until_ms"))
_RELEASE = Statement(idempotency_keys.delete().where(*_STILL_OURS))
_ANSWER = Statement(idempotency_keys.update().where(*_STILL_OURS).values(
    state="done", status_code=sa.bindparam("b_status"), body=sa.bindparam("b_body")))


# PostgreSQL, for an effect written as one statement of data-modifying CTEs (orders' placement):
# `answered` stores the answer under the claimed key while the row still carries the claim's lock
# (`_STILL_OURS`, the fence of `answer_txn`), and the effect's own CTEs are made conditional on
# `EXISTS (SELECT FROM answered)`: the answer and its effect commit together, or neither does (a
# request paused past its lock places nothing). Its values come from `answering_values`.
ANSWERING_CTE = f"""answered AS (
    UPDATE {idempotency_keys.name}
    SET state = 'done', status_code = CAST(:answer_status AS integer), body = CAST(:answer_body AS text)
    WHERE scope = CAST(:answer_scope AS text) AND key = CAST(:answer_key AS text) AND state = 'in_progress'
      AND locked_until_ms = CAST(:answer_locked_until_ms AS bigint)
    RETURNING key
)"""


def answering_values(claim: KeyClaim, answer: Answer) -> dict[str, object]:
    return {"answer_scope": claim.scope, "answer_key": claim.key, "answer_locked_until_ms": claim.locked_until_ms,
            "answer_status": answer.status, "answer_body": orjson.dumps(answer.body).decode()}


def _fence(claim: KeyClaim) -> dict[str, object]:
    """The bind values of `_STILL_OURS`: the claim's key, while the row still carries its lock."""
    return {"b_scope": claim.scope, "b_key": claim.key, "b_locked_until_ms": claim.locked_until_ms}


def request_hash(body: bytes) -> str:
    """Hash of the body's meaning: the same JSON with other whitespace or key order is the same."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True)
class _Claim:
    scope: str
    key: str
    digest: str
    known: Answer | None = None  # stored as the key is taken, when it is new: no work runs


@dataclass(frozen=True)
class _Completion:
    claim: KeyClaim
    answer: Answer


def _taken(claim: _Claim, locked_until_ms: int) -> Answer | KeyClaim:
    """A new key, taken: answered already with the claim's known answer, or held to run the work."""
    if claim.known is None:
        return KeyClaim(claim.scope, claim.key, locked_until_ms)
    return replace(claim.known, stored=True)


def _claim_of(held: KeyClaim | KeyTicket) -> KeyClaim | None:
    """The key's claim, None for a ticket whose work has not taken it."""
    return held.claim if isinstance(held, KeyTicket) else held


class IdempotencyStore:
    def __init__(self, db: Database, clock: Clock, *, lock_s: float = LOCK_S) -> None:
        self.db = db
        self.clock = clock
        self.lock_ms = int(lock_s * 1000)
        self._claims: Coalescer[None, _Claim, Answer | KeyClaim] = Coalescer(self._claim_batch, max_batch=MAX_BATCH)
        self._completions: Coalescer[None, _Completion, None] = Coalescer(
            self._complete_batch, max_batch=MAX_BATCH)

    async def run(
        self, scope: str, key: str, body: bytes, work: Callable[[], Awaitable[Answer]]
    ) -> Answer:
        async def unkeyed(_: KeyClaim) -> Answer:
            return await work()

        return await self.run_keyed(scope, key, body, unkeyed)

    async def run_keyed(
        self, scope: str, key: str, body: bytes, work: Callable[[KeyClaim], Awaitable[Answer]],
        *, known: Problem | None = None,
    ) -> Answer:
        """`run`, the work given the key's claim: it may store its answer itself (`answer_txn`).
        `known`: the refusal the work would answer, known before it runs: a new key is stored with
        it as it is taken, and the work does not run (a key seen before goes the usual way)."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidKey(MAX_KEY_LENGTH)
        digest = request_hash(body)
        claim = _Claim(scope, key, digest, None if known is None else _answer_of(known))
        claimed = await self._claims.submit(None, claim)
        if isinstance(claimed, Answer):
            return claimed
        return await self._settle(claimed, lambda: work(claimed))

    async def run_taking(
        self, scope: str, key: str, body: bytes, work: Callable[[KeyTicket], Awaitable[Answer]]
    ) -> Answer:
        """`run_keyed`, for work that takes the key itself, first thing in its first write
        transaction (`KeyTicket.take_txn`): one commit fewer than a claim of its own."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidKey(MAX_KEY_LENGTH)
        ticket = KeyTicket(scope, key, request_hash(body), self)

        async def taking() -> Answer:
            try:
                return await work(ticket)
            except _Answered as answered:
                return answered.answer

        return await self._settle(ticket, taking)

    async def _settle(self, held: KeyClaim | KeyTicket, work: Callable[[], Awaitable[Answer]]) -> Answer:
        """Run the work of a key held (or to be taken by the work: a ticket), and store its answer
        under the key, or release the key when the work failed (a 5xx, an exception)."""
        try:
            answer = await work()
        except Problem as problem:  # a refusal (409 out_of_stock, 402 declined) is an answer too
            answer = _answer_of(problem)
        except KeyTakenOver as taken_over:  # its effect rolled back; the retry holding the key answers
            answer = _answer_of(idempotency_problem(taken_over))
        except BaseException:
            await self._release(held)
            raise
        claim = _claim_of(held)
        if claim is None or answer.replayed:
            return answer  # the key was never taken here: nothing of ours to store
        if answer.status >= 500:
            await self._release(claim)
        elif not answer.stored:
            await self._completions.submit(None, _Completion(claim, answer))
        return answer

    async def _claim_batch(self, _: None, claims: list[_Claim]) -> list[Answer | KeyClaim | Exception]:
        if len(claims) == 1:
            taken = await self._claim_new_alone(claims[0])
            if taken is not None:
                return [taken]
        outcomes: dict[int, Answer | KeyClaim | Exception] = {}
        async with self.db.transaction() as conn:
            for n in sorted(range(len(claims)), key=lambda n: (claims[n].scope, claims[n].key)):
                claim = claims[n]
                try:
                    outcomes[n] = await self._claim_txn(conn, claim)
                except IdempotencyError as refused:  # this key's alone: the others go on
                    outcomes[n] = refused
        return [outcomes[n] for n in range(len(claims))]

    async def _claim_new_alone(self, claim: _Claim) -> Answer | KeyClaim | None:
        """A batch of one whose key was never seen (the common case): its INSERT is the only
        statement, so it commits on its own (PostgreSQL: one round trip, not three). None when the
        key exists: the batch's transaction then reads it and decides."""
        now = self.clock.now_ms()
        locked_until = now + self.lock_ms
        async with self.db.single_statement() as uow:
            if await _insert_new_txn(uow.conn, claim, locked_until, now):
                return _taken(claim, locked_until)
        return None

    async def _claim_txn(self, conn: AsyncConnection, claim: _Claim) -> Answer | KeyClaim:
        """Take the key (held: go ahead; or answered with the claim's known answer) or return
        what an earlier request with it answered."""
        scope, key, digest = claim.scope, claim.key, claim.digest
        now = self.clock.now_ms()
        locked_until = now + self.lock_ms
        if await _insert_new_txn(conn, claim, locked_until, now):
            return _taken(claim, locked_until)  # the common case: a key never seen, one statement
        row = (await conn.execute(
            sa.select(idempotency_keys).where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key)
        )).first()
        if row is None:  # released (its request failed) between our insert and this read
            raise KeyInProgress()
        if row.request_hash != digest:
            raise KeyReused()
        if row.state == "done":
            return Answer(row.status_code, orjson.loads(row.body), replayed=True)
        if row.locked_until_ms > now:
            raise KeyInProgress()
        # The earlier holder died. Take over only if no one else just did: on PostgreSQL two
        # requests may both have read the run-out lock, and only one may run.
        taken = await conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.scope == scope, idempotency_keys.c.key == key,
                   idempotency_keys.c.state == "in_progress",
                   idempotency_keys.c.locked_until_ms == row.locked_until_ms)
            .values(locked_until_ms=locked_until)
        )
        if taken.rowcount != 1:
            raise KeyInProgress()
        return KeyClaim(scope, key, locked_until)

    async def _complete_batch(self, _: None, completions: list[_Completion]) -> list[None]:
        async with self.db.transaction() as conn:
            for done in sorted(completions, key=lambda done: (done.claim.scope, done.claim.key)):
                await _ANSWER.run(conn, {**_fence(done.claim), "b_status": done.answer.status,
                                         "b_body": orjson.dumps(done.answer.body).decode()})
        return [None] * len(completions)

    async def _release(self, held: KeyClaim | KeyTicket) -> None:
        claim = _claim_of(held)
        if claim is None:
            return  # a ticket whose work failed before taking its key
        async with self.db.transaction() as conn:
            await _RELEASE.run(conn, _fence(claim))
