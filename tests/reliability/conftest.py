"""
Shared pieces of the reliability suite: an emulator keyed with a canary API key, fault-test connection
extras, product catalogs and a minimal task context.

The emulator here lives for a whole test module, because starting one and drawing its 200 images for
every case would cost more than the cases themselves. Each test that uses ``canary_conn`` starts from
an empty emulator state with no faults.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_mircate.testing.emulator import MircateEmulator, make_test_image

# A 32-character API key that no other string in a run contains, so any copy of it in output is a leak.
CANARY_KEY = "LEAKCANARY" + "7f3a9c21d84e0b56a1c3e9"
MERCHANT_CANARY_KEY = "LEAKCANARYMERCH" + "0c4e8a2f6b1d9e3"
MERCHANT_ACCOUNT_ID = "m1e2r3c4h5a"
SEED = 20240501

# The connection defaults, except for fast backoff and a sub-second read timeout, so that a fault run
# takes seconds. STALL_SECONDS makes the emulator's ``timeout`` fault outlast the read timeout.
FAULT_EXTRAS: dict[str, Any] = {
    "max_retries": 6,
    "backoff_base": 0.01,
    "backoff_max": 0.05,
    "connect_timeout": 2,
    "read_timeout": 0.5,
}
STALL_SECONDS = 0.6
RETRY_AFTER_SECONDS = 0.05

IMAGE_COUNT = 200
IMAGE_TRANSFORMS = {"width": 24, "format": "png"}


def product(sku: str, **data: Any) -> dict[str, Any]:
    """Return a valid product record in the upsertProduct body shape."""
    return {"dataType": "PRODUCT", "data": {"sku": sku, "family": "shoes", "status": "DRAFT", **data}}


def catalog(size: int, prefix: str = "SKU") -> list[dict[str, Any]]:
    """Return ``size`` distinct valid products, with categories and the enabled flag varied."""
    return [
        product(f"{prefix}_{i:05d}", enabled=i % 2 == 0, categories=[f"cat_{i % 7}"]) for i in range(size)
    ]


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def make_context(task_id: str = "task", run_id: str = "manual__2024-05-01") -> dict[str, Any]:
    """Return the part of a task context that the operators read: ``ti`` and ``run_id``."""
    ti = SimpleNamespace(dag_id="reliability", run_id=run_id, task_id=task_id, map_index=-1, try_number=1)
    return {"ti": ti, "run_id": run_id}


def stored_without_timestamps(emulator: MircateEmulator) -> dict[str, dict[str, Any]]:
    """Return the emulator's product records by key, without the server-set ``createdAt``/``updatedAt``."""
    with emulator.state.lock:
        records = dict(emulator.state.products)
    return {
        key: {name: value for name, value in record.items() if name not in ("createdAt", "updatedAt")}
        for key, record in records.items()
    }


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def image_bytes() -> list[bytes]:
    """The bytes of ``IMAGE_COUNT`` distinct small PNG pictures, drawn once per module."""
    return [make_test_image(32, 24, seed=i, format="png") for i in range(IMAGE_COUNT)]


@pytest.fixture(scope="module")
def canary_emulator() -> Iterator[MircateEmulator]:
    """An emulator on 127.0.0.1 whose PIM and merchant keys are canaries, for one test module."""
    emulator = MircateEmulator(
        api_key=CANARY_KEY,
        seed=SEED,
        merchant_account_id=MERCHANT_ACCOUNT_ID,
        merchant_api_key=MERCHANT_CANARY_KEY,
    )
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def canary_conn(canary_emulator: MircateEmulator, monkeypatch: pytest.MonkeyPatch) -> MircateEmulator:
    """Empty the module's emulator, clear its faults and point ``mircate_default`` at it with fault extras."""
    canary_emulator.clear_faults()
    canary_emulator.reset()
    canary_emulator.set_faults(stall_seconds=STALL_SECONDS, retry_after=RETRY_AFTER_SECONDS)
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_DEFAULT", canary_emulator.conn_json(**FAULT_EXTRAS))
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_MERCHANT", canary_emulator.merchant_conn_json(**FAULT_EXTRAS))
    return canary_emulator
