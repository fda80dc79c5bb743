"""HTTP routes of the customers service for accounts: sign-up with a password, setting a password
(admin), and checking an email and password. Called by the gateway on the trusted network."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from flashsale.contracts.api import ID_PATTERN, Address, CustomerView, Registration, SetPassword, SignedIn, SignIn
from flashsale.kit.app_state import from_app_state
from flashsale.kit.openapi import answers
from flashsale.kit.service import require_admin
from flashsale.services.customers import domain
from flashsale.services.customers.accounts import Accounts
from flashsale.services.customers.api import customer_view

router = APIRouter(prefix="/customers", tags=["accounts"])

CustomerId = Annotated[str, Path(alias="customerId", pattern=ID_PATTERN)]


AccountsDep = Annotated[Accounts, from_app_state("accounts")]


@router.post("/registrations", status_code=201, responses=answers(
    (409, "customer_exists"), (409, "email_taken"), (422, "weak_password")))
async def register(body: Registration, accounts: AccountsDep, response: Response) -> CustomerView:
    """A new customer who can sign in: 201; 409 customer_exists / email_taken; 422 weak_password."""
    profile = domain.Profile(body.name, body.email, _address(body.address))
    customer = await accounts.register(body.customer_id, profile, body.password)
    response.headers["ETag"] = f'"{customer.version}"'
    return customer_view(customer)


@router.post("/authenticate", responses=answers((401, "invalid_credentials")))
async def authenticate(body: SignIn, accounts: AccountsDep) -> SignedIn:
    """200 with the customer's id, or 401 invalid_credentials (unknown email or wrong password)."""
    return SignedIn(customer_id=await accounts.authenticate(body.email, body.password))


@router.post("/{customerId}/password", status_code=204, dependencies=[Depends(require_admin)],
             responses=answers((404, "unknown_customer"), (422, "weak_password"), admin=True))
async def set_password(customer_id: CustomerId, body: SetPassword, accounts: AccountsDep) -> Response:
    """Admin: set or replace a customer's password (204); 404 unknown_customer; 422 weak_password."""
    await accounts.set_password(customer_id, body.password)
    return Response(status_code=204)


def _address(address: Address) -> domain.Address:
    return domain.Address(address.line1, address.line2, address.city, address.postal_code, address.country)
