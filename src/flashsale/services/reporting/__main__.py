"""`python -m flashsale.services.reporting`: the reporting projection, configured from FLASHSALE_*."""

from flashsale.kit.service import run_service
from flashsale.kit.settings import ServiceSettings
from flashsale.services.reporting.app import create_app

if __name__ == "__main__":
    settings = ServiceSettings()
    run_service(lambda: create_app(settings), settings)
