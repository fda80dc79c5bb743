"""Buyers signed up and in through a bench house's gateway, as a drop's buyers are before it opens.

Each buyer comes with a token and a client address of their own; the house trusts the bench as
its proxy (bench.house), so the gateway takes that address from X-Forwarded-For and its
per-client rate limit sees one buyer per address. bench.front_door hands them to wrk; the
checkout bench's buyers (bench.buyers) check out with them through the gateway.
"""

from __future__ import annotations

from bench.buyers import CheckoutPath
from flashsale.runtime.services_file import ServicesFile
from flashsale.sale.buyers import SignedIn, sign_in_buyers
from flashsale.sale.client import HouseClient


async def sign_up_buyers(services: ServicesFile, count: int) -> SignedIn:
    """Sign up, then sign in, `count` buyers through the gateway, as the sale's buyers do
    (sale/buyers.py), with the rates of both."""
    client = HouseClient(services, retry_window_s=60.0)
    try:
        return await sign_in_buyers(client, count)
    finally:
        await client.close()


def through_the_gateway(services: ServicesFile, signed_in: SignedIn) -> CheckoutPath:
    """The checkout path of these buyers: the gateway, each with their token and address."""
    return CheckoutPath([services.url("gateway")], tuple((b.token, b.address) for b in signed_in.buyers))
