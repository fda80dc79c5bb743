"""HTTP routes of the catalog service: products (admin writes, public reads) with their availability;
and the problem each refusal (errors.py) is answered with."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response

from flashsale.contracts.api import (
    ID_PATTERN,
    ApiModel,
    AvailabilityView,
    ProductBatch,
    ProductBatchView,
    ProductChanges,
    ProductFields,
    ProductPage,
    ProductView,
)
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms, ms_from_iso
from flashsale.kit.openapi import answers
from flashsale.kit.problems import Problem, answer_errors
from flashsale.kit.service import require_admin
from flashsale.services.catalog import domain
from flashsale.services.catalog.domain import Details
from flashsale.services.catalog.errors import CatalogError, InvalidSaleWindow, UnknownProduct
from flashsale.services.catalog.operations import Products
from flashsale.services.catalog.reconcile import Reconciler
from flashsale.services.catalog.store import Product

router = APIRouter(tags=["catalog"])

MAX_PAGE = 1000
ProductId = Annotated[str, Path(alias="productId", pattern=ID_PATTERN)]
ADMIN = [Depends(require_admin)]
# PATCH field (camelCase on the wire, snake_case in the model) -> Details field.
_PATCHABLE = {"name": "name", "price_cents": "price_cents", "description": "description",
              "image_url": "image_url", "sale_starts_at": "sale_starts_ms", "sale_ends_at": "sale_ends_ms"}


ProductsDep = Annotated[Products, from_app_state("products")]
LowDep = Annotated[int, from_app_state("low_threshold")]
ReconcilerDep = Annotated[Reconciler, from_app_state("reconciler")]


class ReconcileRound(ApiModel):
    """A reconciliation round: products compared, levels repaired, differing levels left to the
    next round because events about them were still in flight."""

    processed: int
    fixed: int
    deferred: int


@router.put("/products/{productId}", dependencies=ADMIN, status_code=200, responses={
    201: {"description": "Created", "model": ProductView}, **answers((422, "invalid_sale_window"), admin=True),
})
async def put_product(
    product_id: ProductId, body: ProductFields, products: ProductsDep, low: LowDep, response: Response
) -> ProductView:
    """201 when created; 200 when replaced (a new version only if something changed)."""
    written = await products.put(product_id, _details(body))
    response.status_code = 201 if written.created else 200
    return product_view(written.product, low)


@router.patch("/products/{productId}", dependencies=ADMIN, responses=answers(
    (404, "unknown_product"), (422, "invalid_sale_window"), admin=True))
async def patch_product(
    product_id: ProductId, body: ProductChanges, products: ProductsDep, low: LowDep
) -> ProductView:
    changes = {_PATCHABLE[name]: _stored(name, getattr(body, name)) for name in body.model_fields_set}
    return product_view((await products.patch(product_id, changes)).product, low)


@router.get("/products")
async def list_products(
    products: ProductsDep, low: LowDep,
    after: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ProductPage:
    """Products in productId order; `next` is the `after` of the following page, null on the last."""
    found = await products.store.page(after, limit + 1)
    page = found[:limit]
    return ProductPage(products=[product_view(p, low) for p in page],
                       next=page[-1].product_id if len(found) > limit else None)


@router.get("/products/{productId}", responses=answers((404, "unknown_product")))
async def get_product(product_id: ProductId, products: ProductsDep, low: LowDep) -> ProductView:
    return product_view(await products.get(product_id), low)


@router.post("/products/batch")
async def batch_products(body: ProductBatch, products: ProductsDep, low: LowDep) -> ProductBatchView:
    """The listed ones of the products asked for, in the order asked; the rest under `missing`."""
    # Answered in front of the app (hot_routes.py), by batch_view as here.
    return await batch_view(products, body, low)


async def batch_view(products: Products, body: ProductBatch, low: int) -> ProductBatchView:
    found = await products.store.find_many(body.product_ids)
    listed = {p.product_id for p in found}
    return ProductBatchView(products=[product_view(p, low) for p in found],
                            missing=[p for p in body.product_ids if p not in listed])


@router.post("/catalog/reconcile", dependencies=ADMIN,
             responses=answers((503, "inventory_unavailable"), admin=True))
async def reconcile_availability(reconciler: ReconcilerDep) -> ReconcileRound:
    """Admin: one reconciliation round of the availability read model now; 503
    inventory_unavailable when the inventory's stock cannot be walked."""
    done = await reconciler.run("on_demand")
    return ReconcileRound(processed=done.processed, fixed=done.fixed, deferred=done.deferred)


def _details(body: ProductFields) -> Details:
    return Details(body.name, body.price_cents, body.description, body.image_url,
                   _ms(body.sale_starts_at), _ms(body.sale_ends_at))


def _stored(name: str, value: object) -> object:
    """A PATCH value as `Details` keeps it (times as epoch milliseconds)."""
    if name in ("sale_starts_at", "sale_ends_at"):
        return _ms(value if isinstance(value, str) else None)
    return value


def _ms(text: str | None) -> int | None:
    return None if text is None else ms_from_iso(text)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_from_ms(ms)


def product_view(product: Product, low_threshold: int) -> ProductView:
    details, stock = product.details, product.stock
    return ProductView(
        product_id=product.product_id, name=details.name, price_cents=details.price_cents,
        description=details.description, image_url=details.image_url,
        sale_starts_at=_iso(details.sale_starts_ms), sale_ends_at=_iso(details.sale_ends_ms),
        version=product.version, created_at=iso_from_ms(product.created_at_ms),
        updated_at=iso_from_ms(product.updated_at_ms),
        availability=AvailabilityView(
            status=domain.status(None if stock is None else stock.available, low_threshold),
            available=None if stock is None else stock.available,
            as_of=None if stock is None else iso_from_ms(stock.as_of_ms),
        ),
    )


def _problem(error: CatalogError) -> Problem:
    detail = str(error)
    match error:
        case UnknownProduct():
            return Problem(404, "unknown_product", "Unknown product", detail)
        case InvalidSaleWindow():
            return Problem(422, "invalid_sale_window", "Invalid sale window", detail)
    return Problem(409, "catalog_conflict", "Catalog conflict", detail)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become problem details (RFC 9457) with a `code`."""
    answer_errors(app, CatalogError, _problem)
