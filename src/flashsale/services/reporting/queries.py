"""The reporting store's SQL, the same on SQLite and PostgreSQL: the reports over its facts.

`events` keeps every event once (its id is the primary key); `event_lines` are its product lines.
`lines` joins them: one row per product an event is about, which is what every per-product report
starts from. `:product` NULL means every product. Sums over lines use CASE rather than FILTER, and
times are epoch milliseconds, so that one text serves both databases.
"""

from __future__ import annotations

_LINES = """lines AS (
    SELECT e.event_id, e.type, e.producer, e.happened_ms, e.order_id, e.reason, e.stage,
           l.product_id, l.units
    FROM events e JOIN event_lines l ON l.event_id = e.event_id
)"""

_OF_PRODUCT = "(CAST(:product AS VARCHAR) IS NULL OR product_id = CAST(:product AS VARCHAR))"


def _units_of(event_type: str) -> str:
    return f"coalesce(sum(CASE WHEN type = '{event_type}' THEN units END), 0)"


def _orders_with(event_type: str) -> str:
    return f"count(DISTINCT CASE WHEN e.type = '{event_type}' THEN e.order_id END)"


def _money_of(event_type: str) -> str:
    """An order's amount shared among its products by units (events carry no line prices)."""
    share = "e.amount_cents * p.units * 1.0 / u.units"
    return f"CAST(round(coalesce(sum(CASE WHEN e.type = '{event_type}' THEN {share} END), 0)) AS BIGINT)"


UNITS = f"""
WITH {_LINES}
SELECT product_id, {_units_of('StockReceived')}, {_units_of('StockAdjusted')}, {_units_of('StockReserved')},
       {_units_of('ReservationConfirmed')}, {_units_of('ReservationReleased')},
       {_units_of('ReservationExpired')}, {_units_of('ReservationRevoked')}
FROM lines
WHERE {_OF_PRODUCT}
GROUP BY product_id
ORDER BY product_id
"""

# Which products each order holds (its OrderCreated lines), and how many units of each.
_ORDER_PRODUCTS = f"""
order_products AS (
    SELECT order_id, product_id, sum(units) AS units
    FROM lines
    WHERE type = 'OrderCreated' AND {_OF_PRODUCT}
    GROUP BY order_id, product_id
)"""

ORDERS = f"""
WITH {_LINES}, {_ORDER_PRODUCTS}
SELECT p.product_id, {_orders_with('OrderCreated')}, {_orders_with('OrderConfirmed')},
       {_orders_with('OrderCompleted')}
FROM events e JOIN order_products p ON p.order_id = e.order_id
WHERE e.producer = 'orders'
GROUP BY p.product_id
"""

CANCELLATIONS = f"""
WITH {_LINES}, {_ORDER_PRODUCTS}
SELECT p.product_id, coalesce(e.reason, 'unknown'), count(DISTINCT e.order_id)
FROM events e JOIN order_products p ON p.order_id = e.order_id
WHERE e.type = 'OrderCancelled'
GROUP BY p.product_id, coalesce(e.reason, 'unknown')
"""

MONEY = f"""
WITH {_LINES}, {_ORDER_PRODUCTS},
order_units AS (
    SELECT order_id, sum(units) AS units FROM lines WHERE type = 'OrderCreated' GROUP BY order_id
)
SELECT p.product_id, {_money_of('PaymentCaptured')}, {_money_of('PaymentRefunded')}, {_money_of('PaymentVoided')}
FROM events e
JOIN order_products p ON p.order_id = e.order_id
JOIN order_units u ON u.order_id = e.order_id
WHERE e.producer = 'payments' AND e.amount_cents IS NOT NULL
GROUP BY p.product_id
"""

# Buckets in which stock was received, held or sold, with running totals per product.
_RUNNING = "OVER (PARTITION BY product_id ORDER BY bucket ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
SERIES = f"""
WITH {_LINES},
per_bucket AS (
    SELECT product_id,
           (happened_ms / CAST(:bucket_ms AS BIGINT)) * CAST(:bucket_ms AS BIGINT) AS bucket,
           {_units_of('StockReceived')} AS received,
           {_units_of('StockReserved')} AS held,
           {_units_of('ReservationConfirmed')} AS sold
    FROM lines
    WHERE type IN ('StockReceived', 'StockReserved', 'ReservationConfirmed') AND {_OF_PRODUCT}
    GROUP BY product_id, bucket
)
SELECT product_id, bucket, received, held, sold, sum(sold) {_RUNNING}, sum(received) {_RUNNING}
FROM per_bucket
ORDER BY product_id, bucket
"""

COUNTS = "SELECT type, count(*) FROM events GROUP BY type ORDER BY type"
