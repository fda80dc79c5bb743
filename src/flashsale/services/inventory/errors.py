"""What can go wrong in the inventory, in the domain's words (no HTTP, no SQL).

InventoryError
├── UnknownProduct          the product has no stock row (never received)
├── OutOfStock              a hold asked for more units than are available
├── LimitExceeded           a hold would take a customer past the product's purchase limit
├── CustomerRequired        a hold of a product with a purchase limit named no customer
├── InsufficientStock       a write-off asked for more units than are on hand at all
├── WriteOffContended       a write-off kept meeting rows other transactions held; try again
├── UnknownReservation      no reservation has that id
├── AlreadyConfirmed        a release was asked for a hold that is already a deduction
└── OrderAlreadyReserved    an orderId that already holds other items was used again

`InvalidQuantity` (a ValueError) is a programming error: the API validates quantities first.
"""

from __future__ import annotations


class InventoryError(Exception):
    pass


class UnknownProduct(InventoryError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"no stock is kept for product {product_id!r}")
        self.product_id = product_id


class OutOfStock(InventoryError):
    def __init__(self, product_id: str, requested: int, available: int | None = None) -> None:
        shown = "" if available is None else f" ({available} available)"
        super().__init__(f"cannot hold {requested} of {product_id!r}{shown}")
        self.product_id = product_id
        self.requested = requested


class LimitExceeded(InventoryError):
    def __init__(self, product_id: str, per_customer: int, requested: int) -> None:
        super().__init__(
            f"cannot hold {requested} of {product_id!r}: at most {per_customer} per customer, held or bought"
        )
        self.product_id = product_id
        self.per_customer = per_customer
        self.requested = requested


class CustomerRequired(InventoryError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"{product_id!r} has a purchase limit: a hold of it must name the customer")
        self.product_id = product_id


class InsufficientStock(InventoryError):
    def __init__(self, product_id: str, requested: int, on_hand: int | None = None) -> None:
        shown = "" if on_hand is None else f" (only {on_hand} on hand)"
        super().__init__(f"cannot write off {requested} of {product_id!r}{shown}")
        self.product_id = product_id
        self.requested = requested


class WriteOffContended(InventoryError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"the write-off of {product_id!r} kept meeting busy reservations; try again")
        self.product_id = product_id


class UnknownReservation(InventoryError):
    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"no reservation {reservation_id!r}")
        self.reservation_id = reservation_id


class AlreadyConfirmed(InventoryError):
    def __init__(self, reservation_id: str) -> None:
        super().__init__(f"reservation {reservation_id!r} is already confirmed (the stock is sold)")
        self.reservation_id = reservation_id


class OrderAlreadyReserved(InventoryError):
    def __init__(self, order_id: str, reservation_id: str) -> None:
        super().__init__(f"order {order_id!r} already holds other items (reservation {reservation_id!r})")
        self.order_id = order_id
        self.reservation_id = reservation_id


class InvalidQuantity(ValueError):
    pass
