"""A service's Prometheus page, whole or cut down to the samples a reader names (`?name[]=`, as
prometheus_client's own exposition servers answer it): the dashboard reads its few samples of
every instance every second without each instance rendering everything."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support.in_process import InProcessHouse
from support.polling import wait_for

pytestmark = pytest.mark.service


def _sample_names(page: str) -> set[str]:
    return {sample.name for family in text_string_to_metric_families(page) for sample in family.samples}


def test_a_named_page_holds_the_named_samples_only_and_the_whole_page_holds_more(in_process: InProcessHouse) -> None:
    http = in_process.shared("catalog").http
    assert http.get("/health").status_code == 200  # a request, so that request metrics have samples

    def whole_page_once_lag_sampled() -> set[str] | None:  # the consumers sample their lag once started
        names = _sample_names(http.get("/metrics").text)
        return names if "consumer_pending_messages" in names else None

    whole = wait_for(whole_page_once_lag_sampled, what="the consumers' first lag sample")
    named = http.get("/metrics", params={"name[]": ["outbox_backlog", "consumer_pending_messages"]})

    assert named.status_code == 200
    assert named.headers["content-type"].startswith("text/plain")
    assert _sample_names(named.text) == {"outbox_backlog", "consumer_pending_messages"}
    assert {"outbox_backlog", "consumer_pending_messages"} < whole


def test_a_page_asked_for_a_sample_nobody_writes_is_empty_not_an_error(in_process: InProcessHouse) -> None:
    answer = in_process.shared("catalog").http.get("/metrics", params={"name[]": "no_such_sample_total"})

    assert answer.status_code == 200
    assert _sample_names(answer.text) == set()
