"""What the order service refuses, in the domain's words (no HTTP: api.py answers each).

OrderError
├── UnknownOrder        no order with that id
├── UnknownProduct      the inventory keeps no stock of a product asked for
├── OutOfStock          no hold could be had (no order was created)
├── LimitExceeded       the customer reached the product's purchase limit
├── HoldExpired         the order's stock is no longer held for it
├── InvalidState        the order's status (or its saga's) does not allow the request
├── RequestInProgress   the order's payment is still being processed
├── PaymentDeclined     the order is cancelled and its hold released
├── InvalidItems        the inventory refused the items as invalid
├── NotInCatalog        the catalog lists no such product (no hold taken)
├── SaleNotOpen         the product's sale window has not opened yet
├── SaleClosed          the product's sale window has closed
└── UnknownContact      the contact copy does not know the customer (yet)

The refusals the inventory gives (UnknownProduct, OutOfStock, LimitExceeded, InvalidItems) carry
its own words. A dependency that is down, slow or broken is the kit's DependencyUnavailable.
"""

from __future__ import annotations


class OrderError(Exception):
    pass


class UnknownOrder(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"no order {order_id}")
        self.order_id = order_id


class UnknownProduct(OrderError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class OutOfStock(OrderError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class LimitExceeded(OrderError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class HoldExpired(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"the stock of order {order_id} is no longer held; place a new order")
        self.order_id = order_id


class InvalidState(OrderError):
    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(f"order {order_id} is {status}")
        self.order_id = order_id
        self.status = status


class RequestInProgress(OrderError):
    def __init__(self, order_id: str) -> None:
        super().__init__(f"the payment of order {order_id} is still being processed")
        self.order_id = order_id


class PaymentDeclined(OrderError):
    def __init__(self, order_id: str, reason: str | None) -> None:
        super().__init__(f"the payment of order {order_id} was declined; the order is cancelled")
        self.order_id = order_id
        self.reason = reason


class InvalidItems(OrderError):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class NotInCatalog(OrderError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"the catalog lists no product {product_id}")
        self.product_id = product_id


class SaleNotOpen(OrderError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"the sale of {product_id} has not started")
        self.product_id = product_id


class SaleClosed(OrderError):
    def __init__(self, product_id: str) -> None:
        super().__init__(f"the sale of {product_id} has ended")
        self.product_id = product_id


class UnknownContact(OrderError):
    def __init__(self, customer_id: str) -> None:
        super().__init__(f"the order service holds no contact of customer {customer_id}")
        self.customer_id = customer_id
