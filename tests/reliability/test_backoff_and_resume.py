"""
Sustained rate limiting and task retries: the clients back off with bounded request counts, and a
retried upsert resumes from its checkpoint without sending a chunk twice or losing one.

The bounds are upper limits derived from the retry policy and the measured run time, so a slow machine
only makes them easier to meet. No assertion waits for a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from airflow_provider_mircate.exceptions import MircateRateLimitError, MircateServerError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.products import MircateUpsertProductOperator
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor
from airflow_provider_mircate.testing.emulator import MircateEmulator
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger
from tests.reliability.conftest import FAULT_EXTRAS, catalog, make_context, write_jsonl

pytestmark = pytest.mark.reliability

MAX_ATTEMPTS = FAULT_EXTRAS["max_retries"] + 1
RETRY_AFTER = 0.1
PRODUCT_COUNT = 5000
CHUNK_COUNT = 10


def _times(emulator: MircateEmulator, method: str) -> list[float]:
    return [call["time"] for call in emulator.calls(method)]


def _gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def _sustained_429(emulator: MircateEmulator, method: str) -> None:
    emulator.set_faults(rate=1.0, kinds=["429_retry_after"], retry_after=RETRY_AFTER, methods=[method])


def _one_batch(emulator: MircateEmulator) -> str:
    with MircateHook() as hook:
        batch_id = hook.bulk_upsert_products(catalog(2, prefix="RL"))
    emulator.wait_for_batches(timeout=30)
    return batch_id


# -- sustained 429 --------------------------------------------------------------------------------


def test_hook_sustained_429_stops_after_max_retries(canary_conn: MircateEmulator) -> None:
    _sustained_429(canary_conn, "getProducts")

    with pytest.raises(MircateRateLimitError) as raised, MircateHook() as hook:
        hook.get_products_page(page_size=5)

    times = _times(canary_conn, "getProducts")
    assert "getProducts" in str(raised.value)
    assert "HTTP 429" in str(raised.value)
    assert len(times) == MAX_ATTEMPTS
    assert min(_gaps(times)) >= RETRY_AFTER


def test_hook_retry_after_over_maximum_fails_at_once(canary_conn: MircateEmulator) -> None:
    canary_conn.set_faults(rate=1.0, kinds=["429_retry_after"], retry_after=3600, methods=["getProducts"])

    with pytest.raises(MircateRateLimitError) as raised, MircateHook() as hook:
        hook.get_products_page(page_size=5)

    assert "Retry-After 3600 s" in str(raised.value)
    assert "max_retry_after" in str(raised.value)
    assert len(canary_conn.calls("getProducts")) == 1


def test_hook_server_rate_limit_bounds_requests(canary_conn: MircateEmulator) -> None:
    calls, rps = 25, 10
    canary_conn.set_faults(rate_limit_rps=rps)
    started = time.monotonic()

    with MircateHook() as hook:
        for _ in range(calls):
            hook.get_product_settings()

    elapsed = time.monotonic() - started
    logged = canary_conn.calls("getProductSettings")
    rejected = [c for c in logged if c["status"] == 429]
    # One thread waits out each Retry-After until the next one-second window opens, so it meets at most
    # one rejection per window that the run touched.
    windows = int(elapsed) + 2
    assert len(logged) - len(rejected) == calls
    assert len(rejected) >= 1
    assert len(rejected) <= windows


def test_sensor_poke_sustained_429_returns_false(canary_conn: MircateEmulator) -> None:
    batch_id = _one_batch(canary_conn)
    _sustained_429(canary_conn, "checkBatchStatus")
    canary_conn.clear_requests()
    sensor = MircateBatchStatusSensor(task_id="wait", batch_ids=[batch_id], poke_interval=0.01)

    outcome = sensor.poke(make_context("wait"))

    times = _times(canary_conn, "checkBatchStatus")
    assert outcome is False
    assert len(times) == MAX_ATTEMPTS
    assert min(_gaps(times)) >= RETRY_AFTER


def test_trigger_sustained_429_backs_off_until_deadline(canary_conn: MircateEmulator) -> None:
    batch_id = _one_batch(canary_conn)
    _sustained_429(canary_conn, "checkBatchStatus")
    canary_conn.clear_requests()
    poll_interval = 0.1
    started = time.time()
    trigger = MircateBatchStatusTrigger(
        batch_ids=[batch_id], poll_interval=poll_interval, deadline=started + 1.5
    )

    event = asyncio.run(_first_event(trigger))

    elapsed = time.time() - started
    times = _times(canary_conn, "checkBatchStatus")
    # Two requests are at least min(Retry-After, poll_interval) apart, except the wait cut short at the
    # deadline, which the deadline check ends.
    bound = int(elapsed / min(RETRY_AFTER, poll_interval)) + 2
    assert event["status"] == "timeout"
    assert len(times) >= MAX_ATTEMPTS
    assert len(times) <= bound
    assert sorted(_gaps(times))[1] >= min(RETRY_AFTER, poll_interval)


async def _first_event(trigger: MircateBatchStatusTrigger) -> dict:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("The trigger ended without an event.")


# -- task retry and resume ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("resume") / "products.jsonl", catalog(PRODUCT_COUNT))


@pytest.mark.parametrize("accepted_chunks", [0, 1, 4, 9])
def test_retried_upsert_sends_each_chunk_once(
    canary_conn: MircateEmulator, catalog_file: Path, tmp_path: Path, accepted_chunks: int
) -> None:
    checkpoint = f"file://{tmp_path}/checkpoint.json"
    canary_conn.set_faults(
        fail_after={"method": "bulkProductUpsert", "count": accepted_chunks, "status": 500}
    )

    def attempt(try_number: int):
        context = make_context("upsert")
        context["ti"].try_number = try_number
        operator = MircateUpsertProductOperator(
            task_id="upsert", source=str(catalog_file), checkpoint_path=checkpoint
        )
        return operator.execute(context)

    with pytest.raises(MircateServerError):
        attempt(1)
    first_try = canary_conn.calls("bulkProductUpsert", applied=True)
    canary_conn.clear_faults()
    result = attempt(2)
    canary_conn.wait_for_batches(timeout=60)

    applied = canary_conn.calls("bulkProductUpsert", applied=True)
    assert len(first_try) == accepted_chunks
    assert len(applied) == CHUNK_COUNT
    assert len({call["body_sha256"] for call in applied}) == CHUNK_COUNT
    assert sum(call["items"] for call in applied) == PRODUCT_COUNT
    assert result["batch_ids"] == [call["batch_id"] for call in applied]
    assert len(canary_conn.state.products) == PRODUCT_COUNT
