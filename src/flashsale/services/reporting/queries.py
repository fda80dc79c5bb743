"""The reporting store's SQL (DuckDB): its one table of facts, and the reports over it.

`events` keeps every event once (its id is the primary key); `product_ids` and `units` are the
event's product lines, side by side. The `lines` view unnests them: one row per product an event
is about, which is what every per-product report starts from. `$product` NULL means every product.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id VARCHAR PRIMARY KEY,
    type VARCHAR NOT NULL,
    producer VARCHAR NOT NULL,
    subject VARCHAR NOT NULL,
    happened_at TIMESTAMP NOT NULL,
    order_id VARCHAR,
    reservation_id VARCHAR,
    amount_cents BIGINT,
    reason VARCHAR,
    stage VARCHAR,
    refunded BOOLEAN,
    product_ids VARCHAR[] NOT NULL,
    units BIGINT[] NOT NULL,
    data VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE OR REPLACE VIEW lines AS
    SELECT event_id, type, producer, happened_at, order_id, reason, stage,
           unnest(product_ids) AS product_id, unnest(units) AS units
    FROM events;
"""

# One row's placeholders; an insert of n facts repeats it n times.
ROW = "(?, ?, ?, ?, epoch_ms(?::BIGINT), ?, ?, ?, ?, ?, ?, ?::VARCHAR[], ?::BIGINT[], ?, epoch_ms(?::BIGINT))"


def insert_facts(rows: int) -> str:
    """Insert `rows` facts in one statement; an event id already stored is skipped, and the ids
    that were new come back."""
    return f"INSERT INTO events VALUES {', '.join([ROW] * rows)} ON CONFLICT DO NOTHING RETURNING event_id"


_OF_PRODUCT = "($product::VARCHAR IS NULL OR product_id = $product::VARCHAR)"

UNITS = f"""
SELECT product_id,
       coalesce(sum(units) FILTER (WHERE type = 'StockReceived'), 0),
       coalesce(sum(units) FILTER (WHERE type = 'StockAdjusted'), 0),
       coalesce(sum(units) FILTER (WHERE type = 'StockReserved'), 0),
       coalesce(sum(units) FILTER (WHERE type = 'ReservationConfirmed'), 0),
       coalesce(sum(units) FILTER (WHERE type = 'ReservationReleased'), 0),
       coalesce(sum(units) FILTER (WHERE type = 'ReservationExpired'), 0),
       coalesce(sum(units) FILTER (WHERE type = 'ReservationRevoked'), 0)
FROM lines
WHERE {_OF_PRODUCT}
GROUP BY product_id
ORDER BY product_id
"""

# Which products each order holds (its OrderCreated lines), and how many units it holds in all.
_ORDER_PRODUCTS = f"""
order_products AS (
    SELECT order_id, product_id, sum(units) AS units
    FROM lines
    WHERE type = 'OrderCreated' AND {_OF_PRODUCT}
    GROUP BY order_id, product_id
)"""

ORDERS = f"""
WITH {_ORDER_PRODUCTS}
SELECT p.product_id,
       count(DISTINCT e.order_id) FILTER (WHERE e.type = 'OrderCreated'),
       count(DISTINCT e.order_id) FILTER (WHERE e.type = 'OrderConfirmed'),
       count(DISTINCT e.order_id) FILTER (WHERE e.type = 'OrderCompleted')
FROM events e JOIN order_products p ON p.order_id = e.order_id
WHERE e.producer = 'orders'
GROUP BY p.product_id
"""

CANCELLATIONS = f"""
WITH {_ORDER_PRODUCTS}
SELECT p.product_id, coalesce(e.reason, 'unknown'), count(DISTINCT e.order_id)
FROM events e JOIN order_products p ON p.order_id = e.order_id
WHERE e.type = 'OrderCancelled'
GROUP BY ALL
"""

# An order's amounts are shared among its products by units (events carry no line prices).
MONEY = f"""
WITH {_ORDER_PRODUCTS},
order_units AS (
    SELECT order_id, sum(units) AS units FROM lines WHERE type = 'OrderCreated' GROUP BY order_id
)
SELECT p.product_id,
       CAST(round(coalesce(sum(e.amount_cents * p.units / u.units)
                           FILTER (WHERE e.type = 'PaymentCaptured'), 0)) AS BIGINT),
       CAST(round(coalesce(sum(e.amount_cents * p.units / u.units)
                           FILTER (WHERE e.type = 'PaymentRefunded'), 0)) AS BIGINT),
       CAST(round(coalesce(sum(e.amount_cents * p.units / u.units)
                           FILTER (WHERE e.type = 'PaymentVoided'), 0)) AS BIGINT)
FROM events e
JOIN order_products p ON p.order_id = e.order_id
JOIN order_units u ON u.order_id = e.order_id
WHERE e.producer = 'payments' AND e.amount_cents IS NOT NULL
GROUP BY p.product_id
"""

# Buckets in which stock was received, held or sold, with running totals per product.
SERIES = f"""
WITH per_bucket AS (
    SELECT product_id,
           time_bucket(to_milliseconds($bucket_ms::BIGINT), happened_at) AS bucket,
           coalesce(sum(units) FILTER (WHERE type = 'StockReceived'), 0) AS received,
           coalesce(sum(units) FILTER (WHERE type = 'StockReserved'), 0) AS held,
           coalesce(sum(units) FILTER (WHERE type = 'ReservationConfirmed'), 0) AS sold
    FROM lines
    WHERE type IN ('StockReceived', 'StockReserved', 'ReservationConfirmed') AND {_OF_PRODUCT}
    GROUP BY product_id, bucket
)
SELECT product_id, epoch_ms(bucket), received, held, sold,
       sum(sold) OVER running, sum(received) OVER running
FROM per_bucket
WINDOW running AS (PARTITION BY product_id ORDER BY bucket ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY product_id, bucket
"""

COUNTS = "SELECT type, count(*) FROM events GROUP BY type ORDER BY type"
