"""What can go wrong in the inventory, in the domain's words (no HTTP, no SQL).

InventoryError
├── UnknownProduct          the product has no stock row (never received)
├── OutOfStock              a hold asked for more units than are available
├── InsufficientAvailable   a write-off asked for more units than are available
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


class InsufficientAvailable(InventoryError):
    def __init__(self, product_id: str, requested: int) -> None:
        super().__init__(f"cannot write off {requested} of {product_id!r}: fewer are available")
        self.product_id = product_id
        self.requested = requested


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
