"""The catalog's product operations: replace or change a product, refuse what makes no sense.

Refusals are raised here in the domain's words (errors.py; api.py answers them); metrics count only
what was committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from flashsale.services.catalog import domain, metrics
from flashsale.services.catalog.domain import Details
from flashsale.services.catalog.errors import InvalidSaleWindow, UnknownProduct
from flashsale.services.catalog.store import CatalogStore, Product, Write


class Products:
    def __init__(self, store: CatalogStore) -> None:
        self.store = store

    async def put(self, product_id: str, details: Details) -> Write:
        """Create the product, or replace its details whole."""
        _check_window(details)
        written = await self.store.write(product_id, lambda _before: details, create=True)
        assert written is not None  # create=True always writes
        _count(written)
        return written

    async def patch(self, product_id: str, changes: Mapping[str, object]) -> Write:
        """Change some details (field names as in `Details`); 404 for a product not listed."""
        def update(before: Details | None) -> Details:
            assert before is not None  # create=False: called only for an existing product
            after = replace(before, **changes)  # type: ignore[arg-type]
            _check_window(after)
            return after

        written = await self.store.write(product_id, update, create=False)
        if written is None:
            raise UnknownProduct(product_id)
        _count(written)
        return written

    async def get(self, product_id: str) -> Product:
        found = await self.store.find(product_id)
        if found is None:
            raise UnknownProduct(product_id)
        return found


def _check_window(details: Details) -> None:
    if not domain.window_is_valid(details.sale_starts_ms, details.sale_ends_ms):
        raise InvalidSaleWindow()


def _count(written: Write) -> None:
    if written.changed:
        metrics.products_changed.labels("created" if written.created else "updated").inc()
