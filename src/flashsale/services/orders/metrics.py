"""The order service's domain metrics (Prometheus): how checkout sagas fare."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

saga_checkpoints_fenced = Counter(
    "orders_saga_checkpoints_fenced_total",
    "Saga steps whose record was refused: the runner was paused or slow past its lease, another runs the saga",
)
saga_steps = Counter("orders_saga_steps_total", "Checkout saga steps run, by step and result", ["step", "result"])
sagas_compensating = Counter("orders_sagas_compensating_total", "Sagas turned to compensation, by reason",
                             ["reason"])
# The alert: a saga whose step kept failing waits for an operator (POST /orders/{id}/saga/retry).
sagas_parked = Counter("orders_sagas_parked_total", "Sagas parked as needing attention")
sagas_by_state = Gauge("orders_sagas", "Checkout sagas by state (refreshed by the saga worker)", ["state"])
sagas_needing_attention = Gauge("orders_sagas_needs_attention", "Sagas parked for an operator right now")
orders_by_status = Gauge("orders_by_status", "Orders by status (refreshed by the saga worker)", ["status"])

# The copy of the customers' contacts: events that changed it or were older than it (stale), and
# what reconciliation rounds walked and repaired.
contact_events = Counter("orders_contact_events_total", "CustomerUpdated events by effect on the copy", ["effect"])
reconcile_rounds = Counter("orders_contacts_reconcile_rounds_total", "Contact reconciliation rounds, by trigger",
                           ["trigger"])
reconcile_processed = Counter("orders_contacts_reconciled_total", "Customer profiles compared with their copy")
reconcile_fixed = Counter("orders_contacts_repaired_total", "Copies repaired, by kind", ["kind"])
