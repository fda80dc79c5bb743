"""The payments service's operations: authorise an order's payment, capture it, give it back.

An authorisation is three steps, and only the first and last touch the database:
1. claim: create the order's PENDING payment (or find the stored one and replay it);
2. ask the provider, outside any transaction (it may take seconds), retried under one
   idempotency key per payment, so a retry or a take-over after a crash never authorises twice;
3. record the outcome, its ledger entry and its event in one transaction.

Capture, void and refund go the same way, with the step marked as pending before the provider
is asked (see domain.py): whoever asks next re-drives a pending step under its idempotency key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from flashsale.kit.faults import crash_point
from flashsale.services.payments import domain, metrics
from flashsale.services.payments.domain import Action, Operation, Request
from flashsale.services.payments.errors import (
    NotCapturable,
    NotRefundable,
    PaymentError,
    PaymentInProgress,
    ProviderUnavailable,
    UnknownPayment,
)
from flashsale.services.payments.provider import (
    Charge,
    PaymentProvider,
    ProviderError,
    ProviderOperation,
    ProviderResult,
)
from flashsale.services.payments.retries import RetryPolicy, call_with_retries
from flashsale.services.payments.store import LedgerEntry, Payment, PaymentStore

# A request needs at most: finish a pending capture, then refund it. More means a bug.
MAX_MOVES = 5


class Payments:
    def __init__(self, store: PaymentStore, provider: PaymentProvider, policy: RetryPolicy | None = None) -> None:
        self.store = store
        self.provider = provider
        self.policy = policy or RetryPolicy()

    async def authorise(self, order_id: str, amount_cents: int, token: str) -> Payment:
        claim, payment = await self.store.claim(order_id, amount_cents, token)
        if claim is domain.Claim.REPLAY:
            metrics.operations.labels(Operation.AUTHORISE.value, "replayed").inc()
            return payment
        if claim is domain.Claim.IN_PROGRESS:
            metrics.operations.labels(Operation.AUTHORISE.value, "in_progress").inc()
            raise PaymentInProgress(order_id)
        try:
            result, calls = await self._ask(Operation.AUTHORISE, payment)
        except ProviderError:
            # The provider kept failing: decline rather than leave the buyer waiting (docs/contract.md#orders).
            result, calls = ProviderResult(approved=False, reason=domain.PROVIDER_ERROR), self.policy.attempts
        recorded = await self.store.record_authorisation(payment, result.approved, result.reason, calls)
        metrics.operations.labels(Operation.AUTHORISE.value, recorded.status.lower()).inc()
        return recorded

    async def capture(self, order_id: str) -> Payment:
        return await self._fulfil(Request.CAPTURE, order_id)

    async def refund(self, order_id: str) -> Payment:
        """Give the money back, whichever way the state needs: void an authorisation, refund a
        capture; a payment already voided or refunded is answered as it is."""
        return await self._fulfil(Request.REFUND, order_id)

    async def find(self, order_id: str) -> Payment:
        payment = await self.store.find(order_id)
        if payment is None:
            raise UnknownPayment(order_id)
        return payment

    async def ledger(self, order_id: str) -> list[LedgerEntry]:
        await self.find(order_id)
        return await self.store.ledger(order_id)

    async def provider_operations(self, order_id: str) -> list[ProviderOperation]:
        await self.find(order_id)
        return await self.provider.operations(order_id)

    async def _fulfil(self, request: Request, order_id: str) -> Payment:
        payment = await self.find(order_id)
        for moves in range(MAX_MOVES):
            move = domain.next_move(request, payment.status, payment.pending_step)
            if move.action is Action.DONE:
                if moves == 0:
                    metrics.operations.labels(request.value, "replayed").inc()
                return payment
            if move.action is Action.REFUSE:
                metrics.operations.labels(request.value, "refused").inc()
                raise _refusal(request, payment)
            assert move.step is not None
            payment = await self._drive(payment, move.step)
        raise RuntimeError(f"the {request.value} of order {order_id} did not settle in {MAX_MOVES} moves")

    async def _drive(self, payment: Payment, step: domain.Step) -> Payment:
        """Carry out `step` (or finish it, if it is already pending); returns the payment as it
        then is. A payment that another request moved on first is returned for a new decision."""
        started = await self.store.start_step(payment, step)
        if (started.status, started.pending_step) != (step.source, step.operation.value):
            return started
        try:
            result, calls = await self._ask(step.operation, started)
        except ProviderError as exc:
            metrics.operations.labels(step.operation.value, "provider_unavailable").inc()
            raise ProviderUnavailable(
                f"the {step.operation.value} of order {payment.order_id} failed: {exc}; ask again later"
            ) from exc
        if not result.approved:
            # The simulated provider never refuses these; a real refusal needs an operator's look,
            # and until then the step stays pending, so a retry asks the same question again.
            metrics.operations.labels(step.operation.value, "provider_unavailable").inc()
            raise ProviderUnavailable(
                f"the provider refused the {step.operation.value} of order {payment.order_id}: {result.reason}"
            )
        # Fault tests: the provider acted, we recorded nothing (a capture taken, not yet ours).
        crash_point(f"payments.{step.operation.value}.asked")
        finished = await self.store.finish_step(started, step, calls)
        metrics.operations.labels(step.operation.value, step.target.lower()).inc()
        return finished

    async def _ask(self, operation: Operation, payment: Payment) -> tuple[ProviderResult, int]:
        charge = Charge(payment.order_id, payment.amount_cents, payment.token)
        key = domain.idempotency_key(operation, payment.payment_id)
        ask = self._provider_operation(operation)
        return await call_with_retries(self.policy, operation, lambda: ask(charge, key))

    def _provider_operation(self, operation: Operation) -> Callable[[Charge, str], Awaitable[ProviderResult]]:
        return {
            Operation.AUTHORISE: self.provider.authorise,
            Operation.CAPTURE: self.provider.capture,
            Operation.VOID: self.provider.void,
            Operation.REFUND: self.provider.refund,
        }[operation]


def _refusal(request: Request, payment: Payment) -> PaymentError:
    if request is Request.CAPTURE:
        return NotCapturable(payment.order_id, payment.status, payment.pending_step)
    return NotRefundable(payment.order_id, payment.status)
