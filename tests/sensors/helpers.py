"""Shared steps of the batch sensor and trigger tests: start batches on the emulator, run a trigger."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.testing.emulator import MircateEmulator
from airflow_provider_mircate.testing.pytest_plugin import TEST_CONNECTION_EXTRAS
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger

NO_RETRY_CONN_ID = "mircate_no_retry"


def product(sku: str, family: str = "shoes") -> dict[str, Any]:
    return {"dataType": "PRODUCT", "data": {"sku": sku, "family": family, "status": "ACTIVE"}}


def start_batch(count: int = 3, *, invalid: int = 0, prefix: str = "ok") -> str:
    """Send one bulk upsert through the default connection; ``invalid`` items get an invalid sku."""
    products = [product(f"{prefix}_{i}") for i in range(count)]
    products += [product(f"bad sku {i}!") for i in range(invalid)]
    return MircateHook().bulk_upsert_products(products)


def use_no_retry_connection(emulator: MircateEmulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """Add a connection whose hook does not retry, so each fault reaches the trigger or sensor."""
    extras = {**TEST_CONNECTION_EXTRAS, "max_retries": 0}
    monkeypatch.setenv(f"AIRFLOW_CONN_{NO_RETRY_CONN_ID.upper()}", emulator.conn_json(**extras))
    return NO_RETRY_CONN_ID


async def first_event(trigger: MircateBatchStatusTrigger) -> dict[str, Any]:
    """Run a trigger until its first event and return the event's payload."""
    async for event in trigger.run():
        return event.payload
    raise AssertionError("The trigger ended without an event.")


def run_trigger(trigger: MircateBatchStatusTrigger) -> dict[str, Any]:
    return asyncio.run(first_event(trigger))


def status_calls(emulator: MircateEmulator, batch_id: str | None = None) -> list[dict[str, Any]]:
    calls = emulator.calls("checkBatchStatus")
    return [c for c in calls if batch_id is None or c["batch_id"] == batch_id]
