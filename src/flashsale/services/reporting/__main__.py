"""`python -m flashsale.services.reporting`: the reporting projection, configured from FLASHSALE_*.

Run one instance per store file: DuckDB lets one process write it."""

from flashsale.kit.service import run_service
from flashsale.services.reporting.app import create_app
from flashsale.services.reporting.settings import ReportingSettings

if __name__ == "__main__":
    settings = ReportingSettings()
    run_service(lambda: create_app(settings), settings)
