"""
pytest fixtures for the Mircate emulator, registered under the ``pytest11`` entry point ``mircate``.

``mircate_emulator`` starts an emulator for one test; ``mircate_conn`` also points the
``mircate_default`` connection at it, with fast retries so that fault tests finish quickly.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from airflow_provider_mircate.testing.emulator import MircateEmulator

# Retry and timeout extras for tests: three quick retries, and timeouts well above a loopback round trip.
TEST_CONNECTION_EXTRAS = {
    "max_retries": 3,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "connect_timeout": 2,
    "read_timeout": 5,
}


@pytest.fixture
def mircate_emulator() -> Iterator[MircateEmulator]:
    """Start a Mircate emulator on 127.0.0.1 with a free port for one test, and stop it afterwards."""
    from airflow_provider_mircate.testing.emulator import MircateEmulator

    emulator = MircateEmulator(
        merchant_account_id="m1e2r3c4h5a", merchant_api_key="fedcba9876543210fedcba9876543210"
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def mircate_conn(mircate_emulator: MircateEmulator, monkeypatch: pytest.MonkeyPatch) -> MircateEmulator:
    """Set ``AIRFLOW_CONN_MIRCATE_DEFAULT`` (and ``AIRFLOW_CONN_MIRCATE_MERCHANT_DEFAULT``) to the emulator; return it."""
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_DEFAULT", mircate_emulator.conn_json(**TEST_CONNECTION_EXTRAS))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRCATE_MERCHANT_DEFAULT", mircate_emulator.merchant_conn_json(**TEST_CONNECTION_EXTRAS)
    )
    return mircate_emulator
