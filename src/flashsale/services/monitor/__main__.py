"""`python -m flashsale.services.monitor`: the consistency monitor, configured from FLASHSALE_*."""

from flashsale.kit.service import run_service
from flashsale.services.monitor.app import create_app
from flashsale.services.monitor.settings import MonitorSettings

if __name__ == "__main__":
    settings = MonitorSettings()
    run_service(lambda: create_app(settings), settings, internal=False)  # a public edge
