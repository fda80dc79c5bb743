"""Fixtures the service tests share beyond tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from customers_support import CustomersClient


@pytest.fixture
def customers(services: Any) -> Iterator[CustomersClient]:
    """A client of the customers service the requesting module runs (its `services` decide how)."""
    client = CustomersClient(services.shared("customers").url, services.admin_token)
    yield client
    client.close()
