"""MircateBatchStatusSensor against the emulator in poke, reschedule and deferrable mode."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_mircate.exceptions import MircateBatchFailedError, MircateConfigError, MircateError
from airflow_provider_mircate.sensors.batch import AirflowSensorTimeout, MircateBatchStatusSensor
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1
    from airflow.exceptions import TaskDeferred

from tests.sensors.helpers import run_trigger, start_batch, status_calls, use_no_retry_connection


def make_sensor(batch_ids, **kwargs) -> MircateBatchStatusSensor:
    kwargs.setdefault("poke_interval", 0.01)
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("deferrable", False)
    return MircateBatchStatusSensor(task_id="wait", batch_ids=batch_ids, **kwargs)


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_poke_mode_returns_counts(mircate_conn):
    first = start_batch(3, prefix="a")
    second = start_batch(2, prefix="b")

    result = make_sensor([first, second]).execute({})

    assert result == {"batch_ids": [first, second], "total": 5, "processed": 5, "failed": 0}


def test_poke_accepts_upsert_xcom_string(mircate_conn):
    batch_id = start_batch(2)
    rendered = str({"batch_ids": [batch_id], "upserted": 2, "rejected": 0})

    result = make_sensor(rendered).execute({})

    assert result["batch_ids"] == [batch_id]


def test_reschedule_poke_false_while_running(mircate_conn):
    mircate_conn.pause_batches()
    batch_id = start_batch(2)
    sensor = make_sensor(batch_id, mode="reschedule")

    assert sensor.poke({}) is False

    mircate_conn.resume_batches()
    mircate_conn.wait_for_batches(timeout=10)
    outcome = sensor.poke({})
    assert bool(outcome) is True
    assert outcome.xcom_value["processed"] == 2


def test_poke_raises_on_item_errors_and_writes_report(mircate_conn, tmp_path):
    batch_id = start_batch(2, invalid=6)
    mircate_conn.wait_for_batches(timeout=10)
    report = tmp_path / "errors" / "batch.jsonl"
    sensor = make_sensor([batch_id], error_report_path=str(report))

    with pytest.raises(MircateBatchFailedError, match="6 failed") as caught:
        sensor.poke({})

    lines = read_lines(report)
    assert len(lines) == 6
    assert lines[0]["batchId"] == batch_id
    assert lines[0]["sku"] == "bad sku 0!"
    assert caught.value.batches[0]["failed"] == 6


def test_poke_passes_item_errors_when_allowed(mircate_conn, tmp_path):
    batch_id = start_batch(2, invalid=1)
    report = tmp_path / "errors.jsonl"

    result = make_sensor(batch_id, fail_on_item_errors=False, error_report_path=str(report)).execute({})

    assert result["failed"] == 1
    assert len(read_lines(report)) == 1


def test_poke_raises_on_failed_batch(mircate_conn, tmp_path):
    mircate_conn.set_faults(fail_batches=1.0)
    batch_id = start_batch(2)
    mircate_conn.wait_for_batches(timeout=10)
    report = tmp_path / "errors.jsonl"

    with pytest.raises(MircateBatchFailedError, match="FAILED"):
        make_sensor(batch_id, error_report_path=report).poke({})

    assert read_lines(report)[0]["batchId"] == batch_id


def test_poke_transient_error_returns_false(mircate_conn, monkeypatch, capfd):
    conn_id = use_no_retry_connection(mircate_conn, monkeypatch)
    batch_id = start_batch(1)
    mircate_conn.set_faults(rate=1.0, kinds=["503"], methods=["checkBatchStatus"])
    sensor = make_sensor(batch_id, mircate_conn_id=conn_id)

    assert sensor.poke({}) is False

    output = capfd.readouterr().out
    assert "polling again later" in output
    assert mircate_conn.api_key not in output


def test_custom_success_states_treat_done_as_unknown(mircate_conn, capfd):
    batch_id = start_batch(1)
    mircate_conn.wait_for_batches(timeout=10)
    sensor = make_sensor(batch_id, success_states=["COMPLETE"])

    assert sensor.poke({}) is False
    assert sensor.poke({}) is False

    assert capfd.readouterr().out.count("'DONE' is in none of") == 1


def test_empty_batch_list_succeeds_at_once(mircate_conn):
    result = make_sensor({"batch_ids": []}).execute({})

    assert result == {"batch_ids": [], "total": 0, "processed": 0, "failed": 0}
    assert status_calls(mircate_conn) == []


def test_invalid_batch_ids_named_in_error():
    with pytest.raises(MircateConfigError, match="42.5"):
        make_sensor(42.5).poke({})


# -- deferrable -----------------------------------------------------------------------------------


def defer(sensor: MircateBatchStatusSensor) -> MircateBatchStatusTrigger:
    with pytest.raises(TaskDeferred) as caught:
        sensor.execute({})
    assert caught.value.method_name == "execute_complete"
    return caught.value.trigger


def test_deferrable_defers_with_deadline(mircate_conn):
    batch_id = start_batch(1)
    sensor = make_sensor(batch_id, deferrable=True, timeout=120)

    before = time.time()
    trigger = defer(sensor)

    assert isinstance(trigger, MircateBatchStatusTrigger)
    assert trigger.batch_ids == [batch_id]
    assert before + 120 <= trigger.deadline <= time.time() + 120
    assert status_calls(mircate_conn) == []


def test_deferrable_success_returns_counts(mircate_conn):
    batch_id = start_batch(4)
    sensor = make_sensor(batch_id, deferrable=True)

    event = run_trigger(defer(sensor))
    result = sensor.execute_complete({}, event)

    assert result == {"batch_ids": [batch_id], "total": 4, "processed": 4, "failed": 0}


def test_deferrable_failed_writes_full_report(mircate_conn, tmp_path):
    batch_id = start_batch(1, invalid=8)
    report = tmp_path / "errors.jsonl"
    sensor = make_sensor(batch_id, deferrable=True, error_report_path=str(report))

    event = run_trigger(defer(sensor))
    with pytest.raises(MircateBatchFailedError, match="8 failed"):
        sensor.execute_complete({}, event)

    assert len(event["batches"][0]["errors"]) == 5
    assert len(read_lines(report)) == 8


def test_deferrable_timeout_raises_sensor_timeout(mircate_conn):
    mircate_conn.pause_batches()
    batch_id = start_batch(1)
    sensor = make_sensor(batch_id, deferrable=True, timeout=0)

    event = run_trigger(defer(sensor))

    assert event["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout, match="Timed out"):
        sensor.execute_complete({}, event)


def test_deferrable_error_raises_mircate_error(mircate_conn):
    sensor = make_sensor("b-unknown", deferrable=True)

    event = run_trigger(defer(sensor))

    assert event["status"] == "error"
    with pytest.raises(MircateError, match="checkBatchStatus"):
        sensor.execute_complete({}, event)


def test_unknown_event_status_raises():
    sensor = make_sensor("b1", deferrable=True)

    with pytest.raises(MircateError, match="unknown status"):
        sensor.execute_complete({}, {"status": "exploded", "message": "", "batches": []})


def test_batch_ids_template_renders_list(mircate_conn):
    sensor = make_sensor("{{ params.ids }}", params={"ids": ["b-1", "b-2"]})

    sensor.render_template_fields({"params": {"ids": ["b-1", "b-2"]}})

    assert sensor.resolved_batch_ids == ["b-1", "b-2"]


def test_poke_merchant_batches_use_get(mircate_conn):
    from airflow_provider_mircate.hooks.mircate import MircateHook

    hook = MircateHook("mircate_merchant_default")
    batch_id = hook.receive_price(
        [{"sku": "p1", "price": "10.00", "currency": "EUR"}], bulk_operation_id="feed-1"
    )
    mircate_conn.wait_for_batches(timeout=10)
    sensor = make_sensor(batch_id, mircate_conn_id="mircate_merchant_default", api_class="MerchantAPI")

    result = sensor.execute({})

    status_requests = [r for r in mircate_conn.requests if r["method"] == "checkBatchStatus"]
    assert result["batch_ids"] == [batch_id]
    assert result["processed"] == 1
    assert {r["http_method"] for r in status_requests} == {"GET"}
    assert {r["api_class"] for r in status_requests} == {"MerchantAPI"}
