"""HTTP routes of the customers service: profiles by id, and an admin listing for reconciliation;
and the problem each refusal (errors.py) is answered with, on these routes and the accounts' ones
(accounts_api.py)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Response

from flashsale.contracts.api import (
    ID_PATTERN,
    Address,
    CreateCustomer,
    CustomerPage,
    CustomerView,
    UpdateCustomer,
)
from flashsale.kit.app_state import from_app_state
from flashsale.kit.clock import iso_from_ms
from flashsale.kit.openapi import answers
from flashsale.kit.problems import Problem, answer_errors
from flashsale.kit.service import require_admin
from flashsale.services.customers import domain
from flashsale.services.customers.errors import (
    CustomerExists,
    CustomersError,
    EmailTaken,
    InvalidCredentials,
    InvalidIfMatch,
    InvalidProfile,
    UnknownCustomer,
    VersionMismatch,
    WeakPassword,
)
from flashsale.services.customers.operations import Customers
from flashsale.services.customers.store import Customer

router = APIRouter(prefix="/customers", tags=["customers"])

MAX_PAGE = 1000
# A version as an entity tag: `3` or `"3"` (the quoted form is what ETag answers with).
_VERSION_TAG = re.compile(r'^(?:"([1-9][0-9]{0,8})"|([1-9][0-9]{0,8}))$')

CustomerId = Annotated[str, Path(alias="customerId", pattern=ID_PATTERN)]
After = Annotated[str | None, Query(max_length=100)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
# Checked by `_expected_version` (400 invalid_if_match), which the document says with the pattern.
IfMatch = Annotated[str | None, Header(
    alias="If-Match", json_schema_extra={"anyOf": [{"type": "string", "pattern": _VERSION_TAG.pattern}]})]
ADMIN = [Depends(require_admin)]


CustomersDep = Annotated[Customers, from_app_state("customers")]


@router.post("", status_code=201, responses=answers((409, "customer_exists"), (409, "email_taken")))
async def create_customer(body: CreateCustomer, customers: CustomersDep, response: Response) -> CustomerView:
    profile = domain.Profile(body.name, body.email, _address(body.address))
    return _answer(await customers.create(body.customer_id, profile), response)


@router.get("/{customerId}", responses=answers((404, "unknown_customer")))
async def get_customer(customer_id: CustomerId, customers: CustomersDep, response: Response) -> CustomerView:
    return _answer(await customers.find(customer_id), response)


@router.patch("/{customerId}", responses=answers(
    (404, "unknown_customer"), (409, "email_taken"), (412, "version_mismatch"), (400, "invalid_if_match")))
async def update_customer(
    customer_id: CustomerId, body: UpdateCustomer, customers: CustomersDep, response: Response,
    if_match: IfMatch = None,
) -> CustomerView:
    changes = domain.Changes(body.name, body.email, None if body.address is None else _address(body.address))
    return _answer(await customers.update(customer_id, changes, _expected_version(if_match)), response)


@router.get("", dependencies=ADMIN, responses=answers(admin=True))
async def list_customers(customers: CustomersDep, after: After = None, limit: Limit = 100) -> CustomerPage:
    page = await customers.page(after=after, limit=limit)
    return CustomerPage(customers=[customer_view(c) for c in page.customers], next=page.next)


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    match = _VERSION_TAG.fullmatch(if_match.strip())
    if match is None:
        raise InvalidIfMatch(if_match)
    return int(match[1] or match[2])


def _address(address: Address) -> domain.Address:
    return domain.Address(address.line1, address.line2, address.city, address.postal_code, address.country)


def _answer(customer: Customer, response: Response) -> CustomerView:
    response.headers["ETag"] = f'"{customer.version}"'
    return customer_view(customer)


def customer_view(customer: Customer) -> CustomerView:
    profile, address = customer.profile, customer.profile.address
    return CustomerView(
        customer_id=customer.customer_id, name=profile.name, email=profile.email,
        address=Address(line1=address.line1, line2=address.line2, city=address.city,
                        postal_code=address.postal_code, country=address.country),
        version=customer.version,
        created_at=iso_from_ms(customer.created_at_ms), updated_at=iso_from_ms(customer.updated_at_ms),
    )


def _problem(error: CustomersError) -> Problem:
    detail = str(error)
    match error:
        case UnknownCustomer():
            return Problem(404, "unknown_customer", "Unknown customer", detail)
        case CustomerExists():
            return Problem(409, "customer_exists", "Customer exists", detail)
        case EmailTaken():
            return Problem(409, "email_taken", "Email taken", detail)
        case VersionMismatch():
            return Problem(412, "version_mismatch", "Version mismatch", detail, currentVersion=error.current)
        case InvalidIfMatch():
            return Problem(400, "invalid_if_match", "Invalid If-Match", detail)
        case InvalidProfile():
            return Problem(422, "invalid_request", "Invalid request", detail, fields=error.fields)
        case WeakPassword():
            return Problem(422, "weak_password", "Weak password", detail)
        case InvalidCredentials():
            return Problem(401, "invalid_credentials", "Invalid credentials", detail)
    return Problem(409, "customers_conflict", "Customers conflict", detail)


def install_error_handlers(app: FastAPI) -> None:
    """Domain errors become problem details (RFC 9457) with a `code`, on every route of the service."""
    answer_errors(app, CustomersError, _problem)
