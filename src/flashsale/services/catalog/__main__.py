"""`python -m flashsale.services.catalog`: one catalog instance, configured from FLASHSALE_*."""

from flashsale.kit.service import run_service
from flashsale.services.catalog.app import create_app
from flashsale.services.catalog.settings import CatalogSettings

if __name__ == "__main__":
    settings = CatalogSettings()
    run_service(lambda: create_app(settings), settings)
