"""What the order service refuses, as problems its API answers with (RFC 9457).

OrderProblem (kit Problem)
├── UnknownOrder        404 unknown_order
├── UnknownProduct      404 unknown_product: the inventory keeps no stock of a product asked for
├── OutOfStock          409 out_of_stock: no hold could be had (no order was created)
├── LimitExceeded       409 limit_exceeded: the customer reached the product's purchase limit
├── HoldExpired         409 hold_expired: the order's stock is no longer held for it
├── InvalidState        409 invalid_state: the order's status does not allow the request
├── RequestInProgress   409 request_in_progress: the order's payment is still being processed
├── PaymentDeclined     402 payment_declined: the order is cancelled and its hold released
├── InvalidItems        422 invalid_request: the inventory refused the items as invalid
├── NotInCatalog        422 unknown_product: the catalog lists no such product (no hold taken)
├── SaleNotOpen         409 sale_not_open: the product's sale window has not opened yet
├── SaleClosed          409 sale_closed: the product's sale window has closed
└── UnknownContact      404 unknown_customer: the contact copy does not know the customer (yet)

A dependency that is down, slow or broken is the kit's DependencyUnavailable (503
`inventory_unavailable` / `payments_unavailable` / `catalog_unavailable` / `customers_unavailable`).
"""

from __future__ import annotations

from flashsale.kit.problems import Problem


class OrderProblem(Problem):
    pass


class UnknownOrder(OrderProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(404, "unknown_order", "Unknown order", f"no order {order_id}")


class UnknownProduct(OrderProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(404, "unknown_product", "Unknown product", detail)


class OutOfStock(OrderProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "out_of_stock", "Out of stock", detail)


class LimitExceeded(OrderProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(409, "limit_exceeded", "Purchase limit reached", detail)


class HoldExpired(OrderProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(409, "hold_expired", "Hold expired",
                         f"the stock of order {order_id} is no longer held; place a new order")


class InvalidState(OrderProblem):
    def __init__(self, order_id: str, status: str) -> None:
        super().__init__(409, "invalid_state", "Invalid state", f"order {order_id} is {status}")


class RequestInProgress(OrderProblem):
    def __init__(self, order_id: str) -> None:
        super().__init__(409, "request_in_progress", "Request in progress",
                         f"the payment of order {order_id} is still being processed")


class PaymentDeclined(OrderProblem):
    def __init__(self, order_id: str, reason: str | None) -> None:
        super().__init__(402, "payment_declined", "Payment declined",
                         f"the payment of order {order_id} was declined; the order is cancelled",
                         reason=reason)


class InvalidItems(OrderProblem):
    def __init__(self, detail: str) -> None:
        super().__init__(422, "invalid_request", "Invalid request", detail)


class NotInCatalog(OrderProblem):
    def __init__(self, product_id: str) -> None:
        super().__init__(422, "unknown_product", "Unknown product", f"the catalog lists no product {product_id}")


class SaleNotOpen(OrderProblem):
    def __init__(self, product_id: str) -> None:
        super().__init__(409, "sale_not_open", "Sale not open", f"the sale of {product_id} has not started")


class SaleClosed(OrderProblem):
    def __init__(self, product_id: str) -> None:
        super().__init__(409, "sale_closed", "Sale closed", f"the sale of {product_id} has ended")


class UnknownContact(OrderProblem):
    def __init__(self, customer_id: str) -> None:
        super().__init__(404, "unknown_customer", "Unknown customer",
                         f"the order service holds no contact of customer {customer_id}")
