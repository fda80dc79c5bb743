"""`python -m flashsale.services.gateway`: one gateway instance, configured from FLASHSALE_*."""

from flashsale.kit.service import run_service
from flashsale.services.gateway.app import create_app
from flashsale.services.gateway.settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    run_service(lambda: create_app(settings), settings, internal=False)  # a public edge
