"""The catalog's products: admin writes (versioned, announced), public reads, bad input refused.
In-process: these are rules of one app's API and its relay to the real NATS."""

from __future__ import annotations

import pytest
from catalog_support import CatalogClient, product_body, product_updates

from support.ids import unique
from support.in_process import InProcessHouse
from support.problems import PROBLEM_JSON

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def catalog(in_process: InProcessHouse) -> CatalogClient:
    return CatalogClient(in_process.shared("catalog").http, in_process.admin_token)


def test_put_creates_then_replaces_and_only_a_change_makes_a_new_version(catalog: CatalogClient) -> None:
    product_id = unique("p")
    created = catalog.put(product_id, product_body(saleStartsAt="2026-11-27T09:00:00Z",
                                                   saleEndsAt="2026-11-27T11:00:00+01:00"))
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["productId"] == product_id and view["version"] == 1
    assert (view["name"], view["priceCents"], view["imageUrl"]) == (
        "PlayStation 5", 49_999, "https://img.example.com/ps5.png")
    # Times come back in UTC, whatever offset they were given in.
    assert (view["saleStartsAt"], view["saleEndsAt"]) == ("2026-11-27T09:00:00.000Z", "2026-11-27T10:00:00.000Z")
    assert view["availability"] == {"status": "unknown", "available": None, "asOf": None}

    same = catalog.put(product_id, product_body(saleStartsAt="2026-11-27T09:00:00Z",
                                                saleEndsAt="2026-11-27T10:00:00Z"))
    assert same.status_code == 200 and same.json()["version"] == 1

    replaced = catalog.put(product_id, {"name": "PS5 Slim", "priceCents": 44_999})
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert catalog.product(product_id) | {"updatedAt": None} == replaced.json() | {"updatedAt": None}
    assert replaced.json()["imageUrl"] is None and replaced.json()["description"] == ""


def test_patch_changes_only_the_fields_given_and_null_clears_an_optional_one(catalog: CatalogClient) -> None:
    product_id = catalog.create(saleStartsAt="2026-11-27T09:00:00Z")["productId"]

    patched = catalog.patch(product_id, {"priceCents": 100, "imageUrl": None})
    assert patched.status_code == 200, patched.text
    view = patched.json()
    assert (view["priceCents"], view["imageUrl"], view["name"], view["version"]) == (100, None, "PlayStation 5", 2)
    assert view["saleStartsAt"] == "2026-11-27T09:00:00.000Z"

    ended_too_early = catalog.patch(product_id, {"saleEndsAt": "2026-11-27T08:00:00Z"})
    assert ended_too_early.status_code == 422 and ended_too_early.json()["code"] == "invalid_sale_window"
    assert catalog.product(product_id)["version"] == 2

    missing = catalog.patch(unique("p"), {"priceCents": 1})
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_product"


def test_admin_writes_need_the_admin_token_reads_do_not(catalog: CatalogClient) -> None:
    product_id = unique("p")
    for call in (catalog.put, catalog.patch):
        anonymous = call(product_id, product_body(), headers={})
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
        forged = call(product_id, product_body(), headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 403 and forged.json()["code"] == "forbidden"
    assert catalog.get(product_id).status_code == 404
    catalog.create(product_id)
    assert catalog.http.get(f"/products/{product_id}").status_code == 200


def test_an_unknown_product_is_404(catalog: CatalogClient) -> None:
    answer = catalog.get(unique("p"))
    assert answer.status_code == 404 and answer.json()["code"] == "unknown_product"
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)


@pytest.mark.parametrize("body", [
    {"priceCents": 1},                                          # no name
    product_body(name=""),
    product_body(name="x" * 201),
    product_body(priceCents=-1),
    product_body(priceCents=10**9 + 1),
    product_body(priceCents="100"),
    product_body(priceCents=1.5),
    product_body(description="x" * 5001),
    product_body(imageUrl="ftp://img.example.com/a.png"),
    product_body(imageUrl="not a url"),
    product_body(imageUrl="https://"),
    product_body(saleStartsAt="tomorrow"),
    product_body(saleStartsAt="2026-11-27T09:00:00"),           # no UTC offset
    product_body(colour="red"),                                 # unknown field
    [product_body()],
])
def test_a_bad_product_is_422_and_writes_nothing(catalog: CatalogClient, body: object) -> None:
    product_id = unique("p")
    answer = catalog.put(product_id, body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == "invalid_request"
    assert catalog.get(product_id).status_code == 404


def test_other_bad_input_is_4xx_never_5xx(catalog: CatalogClient) -> None:
    product_id = catalog.create()["productId"]
    window = catalog.put(unique("p"), product_body(saleStartsAt="2026-11-27T10:00:00Z",
                                                   saleEndsAt="2026-11-27T09:00:00Z"))
    assert window.status_code == 422 and window.json()["code"] == "invalid_sale_window"

    malformed = catalog.http.put(f"/products/{product_id}", content=b"{not json",
                                 headers={**catalog.admin, "content-type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"

    for patch in ({}, {"name": None}, {"priceCents": None}, {"colour": "red"}, {"imageUrl": "javascript:x"}):
        answer = catalog.patch(product_id, patch)
        assert answer.status_code == 422, (patch, answer.text)

    bad_id = catalog.put("-starts-with-dash", product_body())
    assert bad_id.status_code == 422
    assert catalog.get("x" * 101).status_code == 422
    assert catalog.http.get("/products", params={"limit": 0}).status_code == 422
    assert catalog.http.get("/products", params={"limit": 1001}).status_code == 422
    assert catalog.http.get("/products", params={"after": "bad id"}).status_code == 422
    assert catalog.product(product_id)["version"] == 1


def test_products_page_in_product_id_order(catalog: CatalogClient) -> None:
    prefix = unique("page")
    ids = [f"{prefix}-{n}" for n in (3, 1, 4, 2, 5)]
    for product_id in ids:
        catalog.create(product_id)
    seen: list[str] = []
    after: str | None = f"{prefix}-"
    while after is not None and len(seen) < 5:
        page = catalog.http.get("/products", params={"after": after, "limit": 2}).json()
        seen.extend(p["productId"] for p in page["products"])
        after = page["next"]
    assert seen == sorted(ids)


def test_batch_answers_the_listed_products_in_order_and_names_the_missing(catalog: CatalogClient) -> None:
    first, second = catalog.create()["productId"], catalog.create()["productId"]
    unknown = unique("p")

    answer = catalog.http.post("/products/batch", json={"productIds": [second, unknown, first]})

    assert answer.status_code == 200, answer.text
    assert [p["productId"] for p in answer.json()["products"]] == [second, first]
    assert answer.json()["missing"] == [unknown]
    bad_batches: list[dict[str, list[str]]] = [
        {"productIds": []}, {"productIds": [first, first]}, {"productIds": ["bad id"]},
        {"productIds": [unique("p") for _ in range(101)]}, {"ids": [first]},
    ]
    for bad in bad_batches:
        refused = catalog.http.post("/products/batch", json=bad)
        assert refused.status_code == 422, (bad, refused.text)


def test_each_change_is_announced_once_with_the_whole_product(catalog: CatalogClient, nats_url: str) -> None:
    product_id = catalog.create(saleEndsAt="2026-11-27T10:00:00Z")["productId"]
    assert catalog.put(product_id, product_body(saleEndsAt="2026-11-27T10:00:00Z")).json()["version"] == 1
    catalog.put(product_id, product_body(priceCents=100))
    catalog.patch(product_id, {"name": "PS5 Pro"})

    announced = product_updates(nats_url, product_id, versions=3)

    # The repeated PUT changed nothing: it is not among them (events arrive in commit order).
    assert [e.data["version"] for e in announced] == [1, 2, 3]
    assert all(e.type == "ProductUpdated" for e in announced)
    assert announced[0].data["saleEndsAt"] == "2026-11-27T10:00:00.000Z"
    assert announced[2].data == {
        "productId": product_id, "version": 3, "name": "PS5 Pro", "priceCents": 100,
        "description": "A console.", "imageUrl": "https://img.example.com/ps5.png",
        "saleStartsAt": None, "saleEndsAt": None,
    }
