"""`python -m flashsale.services.inventory`: serve the inventory service (settings from FLASHSALE_*)."""

from __future__ import annotations

from flashsale.kit.service import run_service
from flashsale.services.inventory.app import create_app
from flashsale.services.inventory.settings import InventorySettings


def main() -> None:
    settings = InventorySettings()
    run_service(lambda: create_app(settings), settings)


if __name__ == "__main__":
    main()
