"""Helpers for the emulator tests: a small HTTP client bound to one emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_mircate.testing.emulator import MircateEmulator

MERCHANT_ACCOUNT = "m1e2r3c4h5a"
MERCHANT_KEY = "fedcba9876543210fedcba9876543210"


class ApiClient:
    """Calls the emulator over real HTTP the way the provider does: URL shape, x-api-key, JSON bodies."""

    def __init__(self, emulator: MircateEmulator, api_class: str = "PIMAPI") -> None:
        self.emulator = emulator
        self.api_class = api_class
        self.session = requests.Session()
        merchant = api_class == "MerchantAPI"
        self.account_id = emulator.merchant_account_id if merchant else emulator.account_id
        self.api_key = emulator.merchant_api_key if merchant else emulator.api_key

    def url(self, method: str) -> str:
        return (
            f"{self.emulator.url}/{self.emulator.project_id}/CALL/{self.api_class}/{method}/{self.account_id}"
        )

    def post(self, method: str, body: Any = None, **kwargs: Any) -> requests.Response:
        headers = {"x-api-key": self.api_key, **kwargs.pop("headers", {})}
        return self.session.post(
            self.url(method), json=body if body is not None else {}, headers=headers, **kwargs
        )

    def get(self, method: str, params: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        headers = {"x-api-key": self.api_key, **kwargs.pop("headers", {})}
        return self.session.get(self.url(method), params=params, headers=headers, **kwargs)

    def close(self) -> None:
        self.session.close()


def product(sku: str, **data: Any) -> dict[str, Any]:
    """Return an upsertProduct body with the required fields and ``data`` merged in."""
    return {"dataType": "PRODUCT", "data": {"sku": sku, "family": "shoes", "status": "DRAFT", **data}}


@pytest.fixture
def emulator() -> Iterator[MircateEmulator]:
    with MircateEmulator(merchant_account_id=MERCHANT_ACCOUNT, merchant_api_key=MERCHANT_KEY) as running:
        yield running


@pytest.fixture
def api(emulator: MircateEmulator) -> Iterator[ApiClient]:
    client = ApiClient(emulator)
    yield client
    client.close()


@pytest.fixture
def merchant_api(emulator: MircateEmulator) -> Iterator[ApiClient]:
    client = ApiClient(emulator, "MerchantAPI")
    yield client
    client.close()
