"""Where a running house's pages are, as `flashsale up` and `flashsale demo --dashboard` print them."""

from __future__ import annotations

import pytest

from flashsale.runtime.pages import page_urls
from flashsale.runtime.services_file import ServiceInstance, ServicesFile

pytestmark = pytest.mark.unit


def test_the_dashboard_is_on_the_monitor_and_the_storefront_is_the_gateways_root() -> None:
    services = ServicesFile("nats://127.0.0.1:8090", "token", {
        "monitor": [ServiceInstance("http://127.0.0.1:8010", 1)],
        "gateway": [ServiceInstance("http://127.0.0.1:8009/", 2)],
    })

    assert page_urls(services) == {"dashboard": "http://127.0.0.1:8010/dashboard",
                                   "storefront": "http://127.0.0.1:8009/"}


def test_a_house_without_those_services_has_no_pages_to_print() -> None:
    assert page_urls(ServicesFile("nats://127.0.0.1:8090", "token", {})) == {}
