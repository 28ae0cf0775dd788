"""MircateBatchStatusTrigger against the emulator: events, deadline, transient faults, serialization."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger, transient_wait
from tests.sensors.helpers import first_event, run_trigger, start_batch, status_calls, use_no_retry_connection


def test_serialize_round_trips_plain_values():
    trigger = MircateBatchStatusTrigger(
        batch_ids=["b1", "b2"],
        mircate_conn_id="conn",
        poll_interval=2.5,
        deadline=1_900_000_000.0,
        fail_on_item_errors=False,
        status_method="batchStatus",
        batch_id_field="id",
        api_class="MerchantAPI",
        http_method="GET",
        success_states={"OK"},
        failure_states={"ERROR", "CANCELLED"},
        running_states={"QUEUED"},
    )

    path, kwargs = trigger.serialize()
    rebuilt = MircateBatchStatusTrigger(**kwargs)

    assert path == "airflow_provider_mircate.triggers.batch.MircateBatchStatusTrigger"
    assert rebuilt.serialize() == (path, kwargs)
    assert kwargs["failure_states"] == ["CANCELLED", "ERROR"]
    assert all(not isinstance(v, (set, frozenset, tuple)) for v in kwargs.values())


def test_success_event_after_batch_done(mircate_conn):
    batch_id = start_batch(3)

    event = run_trigger(MircateBatchStatusTrigger(batch_ids=batch_id, poll_interval=0.01))

    assert event["status"] == "success"
    assert event["batches"][0]["batchId"] == batch_id
    assert event["batches"][0]["status"] == "DONE"
    assert event["batches"][0]["processed"] == 3
    assert "3 of 3 item(s) processed" in event["message"]


def test_item_errors_fire_failed_event(mircate_conn):
    batch_id = start_batch(2, invalid=7)

    event = run_trigger(MircateBatchStatusTrigger(batch_ids=[batch_id], poll_interval=0.01))

    assert event["status"] == "failed"
    assert event["batches"][0]["failed"] == 7
    assert len(event["batches"][0]["errors"]) == 5
    assert "bad sku 0!" in event["message"]


def test_item_errors_pass_when_not_failing_on_them(mircate_conn):
    batch_id = start_batch(2, invalid=1)

    trigger = MircateBatchStatusTrigger(batch_ids=[batch_id], poll_interval=0.01, fail_on_item_errors=False)
    event = run_trigger(trigger)

    assert event["status"] == "success"
    assert event["batches"][0]["failed"] == 1


def test_failed_batch_fires_failed_event(mircate_conn):
    mircate_conn.set_faults(fail_batches=1.0)
    batch_id = start_batch(2)

    event = run_trigger(MircateBatchStatusTrigger(batch_ids=[batch_id], poll_interval=0.01))

    assert event["status"] == "failed"
    assert event["batches"][0]["status"] == "FAILED"


def test_deadline_checked_before_status_request(mircate_conn):
    batch_id = start_batch(1)
    mircate_conn.wait_for_batches(timeout=10)

    trigger = MircateBatchStatusTrigger(batch_ids=[batch_id], poll_interval=0.01, deadline=time.time() - 1)
    event = run_trigger(trigger)

    assert event["status"] == "timeout"
    assert status_calls(mircate_conn) == []


def test_unknown_batch_fires_error_event(mircate_conn):
    event = run_trigger(MircateBatchStatusTrigger(batch_ids=["b-missing"], poll_interval=0.01))

    assert event["status"] == "error"
    assert "checkBatchStatus" in event["message"]
    assert "404" in event["message"]


def test_finished_batches_not_polled_again(mircate_conn):
    mircate_conn.pause_batches(after_items=2)
    finished = start_batch(2, prefix="first")
    running = start_batch(2, prefix="second")
    trigger = MircateBatchStatusTrigger(batch_ids=[finished, running], poll_interval=0.01)

    async def scenario() -> dict:
        task = asyncio.create_task(first_event(trigger))
        while len(status_calls(mircate_conn, running)) < 5:
            await asyncio.sleep(0.01)
        mircate_conn.resume_batches()
        return await task

    event = asyncio.run(scenario())

    assert event["status"] == "success"
    assert len(status_calls(mircate_conn, finished)) == 1
    assert len(status_calls(mircate_conn, running)) >= 5


def test_transient_faults_do_not_fail(mircate_conn, monkeypatch):
    conn_id = use_no_retry_connection(mircate_conn, monkeypatch)
    batch_id = start_batch(2)
    mircate_conn.wait_for_batches(timeout=10)
    mircate_conn.set_faults(rate=1.0, kinds=["429", "500", "502", "503"], methods=["checkBatchStatus"])
    trigger = MircateBatchStatusTrigger(batch_ids=[batch_id], mircate_conn_id=conn_id, poll_interval=0.01)

    async def scenario() -> dict:
        task = asyncio.create_task(first_event(trigger))
        while len(status_calls(mircate_conn)) < 4:
            await asyncio.sleep(0.01)
        mircate_conn.clear_faults()
        return await task

    event = asyncio.run(scenario())

    faulted = [c for c in status_calls(mircate_conn) if c["status"] != 200]
    assert event["status"] == "success"
    assert len(faulted) >= 4


def test_transient_faults_back_off_without_spinning(mircate_conn, monkeypatch):
    conn_id = use_no_retry_connection(mircate_conn, monkeypatch)
    batch_id = start_batch(1)
    mircate_conn.set_faults(rate=1.0, kinds=["503"], methods=["checkBatchStatus"])

    # Waits of 0.05, 0.1, 0.2, 0.4 and 0.8 s fill a 1 s deadline with at most 5 polls. A fixed
    # 0.05 s interval would make about 20.
    trigger = MircateBatchStatusTrigger(
        batch_ids=[batch_id],
        mircate_conn_id=conn_id,
        poll_interval=0.05,
        deadline=time.time() + 1.0,
        request_retries=0,
    )
    event = run_trigger(trigger)

    assert event["status"] == "timeout"
    assert 1 <= len(status_calls(mircate_conn)) <= 6


def test_request_retries_bound_each_round(mircate_conn, monkeypatch):
    conn_id = use_no_retry_connection(mircate_conn, monkeypatch)
    batch_id = start_batch(1)
    mircate_conn.set_faults(rate=1.0, kinds=["503"], methods=["checkBatchStatus"])

    # One round is the first request and two retries; the next round waits 5 s, past the deadline.
    trigger = MircateBatchStatusTrigger(
        batch_ids=[batch_id],
        mircate_conn_id=conn_id,
        poll_interval=5.0,
        deadline=time.time() + 1.0,
        request_retries=2,
    )
    event = run_trigger(trigger)

    assert event["status"] == "timeout"
    assert len(status_calls(mircate_conn)) == 3


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, 2.0), (2, 4.0), (3, 8.0), (12, 600.0)],
)
def test_transient_wait_doubles_and_caps(failures, expected):
    assert transient_wait(2.0, failures) == expected


def test_rejects_non_positive_poll_interval():
    with pytest.raises(ValueError, match="poll_interval"):
        MircateBatchStatusTrigger(batch_ids=["b1"], poll_interval=0)
