"""The inventory's tables (SQLAlchemy Core). Migrations 0001 and 0002 spell out the same schema.

The CHECK constraints on `stock` make the database itself refuse a negative count or an
unbalanced row: a bug in a statement becomes an error, never an oversell. A product's purchase
limit lives on its stock row, so a hold reads it from the row it has just locked (no extra
query, no stale read); `customer_units` counts each customer's units of a limited product.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

stock = sa.Table(
    "stock",
    metadata,
    sa.Column("product_id", sa.String(100), primary_key=True),
    sa.Column("available", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False),
    sa.Column("sold", sa.BigInteger, nullable=False),
    sa.Column("received", sa.BigInteger, nullable=False),
    sa.Column("written_off", sa.BigInteger, nullable=False),
    # At most this many units per customer, held or bought; NULL: no limit.
    sa.Column("purchase_limit", sa.BigInteger, nullable=True),
    sa.CheckConstraint("available >= 0", name="ck_stock_available_not_negative"),
    sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved_not_negative"),
    sa.CheckConstraint("sold >= 0", name="ck_stock_sold_not_negative"),
    sa.CheckConstraint(
        "available + reserved + sold = received - written_off", name="ck_stock_balanced"
    ),
    sa.CheckConstraint(
        "purchase_limit IS NULL OR purchase_limit > 0", name="ck_stock_purchase_limit_positive"
    ),
)

reservations = sa.Table(
    "reservations",
    metadata,
    sa.Column("reservation_id", sa.String(64), primary_key=True),
    sa.Column("order_id", sa.String(100), nullable=True),
    sa.Column("customer_id", sa.String(100), nullable=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_at_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False),
    sa.Column("confirmed_at_ms", sa.BigInteger, nullable=True),
    # A partial reserve's request as JSON [[productId, quantity], ...]; NULL: the lines held.
    sa.Column("requested", sa.Text, nullable=True),
    # When the order side cancelled the reservation's order (domain.on_order_confirmed says why).
    sa.Column("order_cancelled_at_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("order_id", name="uq_reservations_order_id"),
    sa.CheckConstraint(
        "status IN ('HELD', 'CONFIRMED', 'RELEASED', 'EXPIRED', 'REVOKED')", name="ck_reservations_status"
    ),
    sa.Index("ix_reservations_status_expires", "status", "expires_at_ms"),
)

reservation_items = sa.Table(
    "reservation_items",
    metadata,
    sa.Column(
        "reservation_id", sa.String(64), sa.ForeignKey("reservations.reservation_id"), primary_key=True
    ),
    sa.Column("product_id", sa.String(100), sa.ForeignKey("stock.product_id"), primary_key=True),
    sa.Column("quantity", sa.BigInteger, nullable=False),
    sa.CheckConstraint("quantity > 0", name="ck_reservation_items_quantity_positive"),
    sa.Index("ix_reservation_items_product", "product_id"),
)

customer_units = sa.Table(
    "customer_units",
    metadata,
    sa.Column("product_id", sa.String(100), sa.ForeignKey("stock.product_id"), primary_key=True),
    sa.Column("customer_id", sa.String(100), primary_key=True),
    sa.Column("units", sa.BigInteger, nullable=False),
    sa.CheckConstraint("units >= 0", name="ck_customer_units_not_negative"),
)
