"""`python -m flashsale.services.orders`: one order-service instance, configured from FLASHSALE_*."""

from flashsale.kit.service import run_service
from flashsale.services.orders.app import create_app
from flashsale.services.orders.settings import OrderSettings

if __name__ == "__main__":
    settings = OrderSettings()
    run_service(lambda: create_app(settings), settings)
