"""`python -m flashsale.services.payments`: one payments instance, configured from FLASHSALE_*."""

from flashsale.kit.service import run_service
from flashsale.services.payments.app import create_app
from flashsale.services.payments.settings import PaymentsSettings

if __name__ == "__main__":
    settings = PaymentsSettings()
    run_service(lambda: create_app(settings), settings)
