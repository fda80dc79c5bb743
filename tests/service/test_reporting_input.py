"""Bad report parameters are refused with a problem, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reporting_support import Reporting, start_reporting

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def reporting(house: Any) -> Iterator[Reporting]:
    client = Reporting(start_reporting(house).url)
    yield client
    client.close()


@pytest.mark.parametrize("params", [
    {"bucket": "5s"}, {"bucket": ""}, {"bucket": "1M"}, {"productId": ""}, {"productId": "no spaces"},
    {"productId": "x" * 101}, {"productId": "p-1", "bucket": "1h"},
])
def test_bad_parameters_are_a_422_problem(reporting: Reporting, params: dict[str, str]) -> None:
    answer = reporting.sales_answer(**params)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid_request"


@pytest.mark.parametrize("bucket", ["1s", "10s", "1m"])
def test_each_bucket_is_accepted(reporting: Reporting, bucket: str) -> None:
    answer = reporting.sales_answer(bucket=bucket)

    assert answer.status_code == 200, answer.text
    assert answer.json()["bucket"] == bucket


def test_the_service_says_it_is_healthy_when_its_database_and_broker_are_there(reporting: Reporting) -> None:
    answer = reporting.http.get("/health")

    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"] == {"database": True, "broker": True}
