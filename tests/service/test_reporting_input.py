"""Bad report parameters are refused with a problem, never a 5xx. In-process: these are rules of
one app's API."""

from __future__ import annotations

import pytest
from reporting_support import Reporting

from support.in_process import InProcessHouse
from support.problems import PROBLEM_JSON, assert_problem

pytestmark = pytest.mark.service


@pytest.fixture(scope="module")
def reporting(in_process: InProcessHouse) -> Reporting:
    return Reporting(in_process.shared("reporting").http)


@pytest.mark.parametrize("params", [
    {"bucket": "5s"}, {"bucket": ""}, {"bucket": "1M"}, {"productId": ""}, {"productId": "no spaces"},
    {"productId": "x" * 101}, {"productId": "p-1", "bucket": "1h"},
])
def test_bad_parameters_are_a_422_problem(reporting: Reporting, params: dict[str, str]) -> None:
    answer = reporting.sales_answer(**params)

    assert_problem(answer, 422, "invalid_request", params)
    assert answer.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize("bucket", ["1s", "10s", "1m"])
def test_each_bucket_is_accepted(reporting: Reporting, bucket: str) -> None:
    answer = reporting.sales_answer(bucket=bucket)

    assert answer.status_code == 200, answer.text
    assert answer.json()["bucket"] == bucket


def test_the_service_says_it_is_healthy_when_its_database_and_broker_are_there(reporting: Reporting) -> None:
    answer = reporting.http.get("/health")

    assert answer.status_code == 200, answer.text
    assert answer.json()["checks"] == {"database": True, "broker": True}
