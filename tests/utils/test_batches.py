"""Error report lines and messages of batch statuses, from status dicts and from the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_mircate.exceptions import MircateBatchFailedError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor
from airflow_provider_mircate.testing.emulator import MircateEmulator
from airflow_provider_mircate.utils.batches import BatchStates, error_report_records, evaluate_batches


def product(sku: str) -> dict[str, Any]:
    return {"dataType": "PRODUCT", "data": {"sku": sku, "family": "shoes", "status": "ACTIVE"}}


def failed_whole_status(emulator: MircateEmulator, count: int) -> dict[str, Any]:
    """Send one bulk batch that the emulator fails as a whole and return its final status dict."""
    emulator.set_faults(fail_batches=1.0)
    hook = MircateHook()
    batch_id = hook.bulk_upsert_products([product(f"W_{i}") for i in range(count)])
    assert emulator.wait_for_batches(timeout=10)
    return {"batchId": batch_id, **hook.check_batch_status(batch_id)}


def test_whole_batch_failure_one_line(mircate_conn: MircateEmulator) -> None:
    status = failed_whole_status(mircate_conn, 3)

    records = list(error_report_records([status], BatchStates()))

    assert len(records) == 1
    record = records[0]
    assert record["batchId"] == status["batchId"]
    assert record["items"] == 3
    assert record["status"] == "FAILED"
    assert "sku" not in record
    assert f"Batch {status['batchId']} with 3 item(s) failed as a whole" in record["message"]
    assert "None" not in record["message"]


def test_whole_batch_failure_message_has_no_sku(mircate_conn: MircateEmulator) -> None:
    status = failed_whole_status(mircate_conn, 2)

    evaluation = evaluate_batches([status["batchId"]], {status["batchId"]: status})

    assert evaluation.failed
    assert "sku None" not in evaluation.message
    assert f"batch {status['batchId']}: " in evaluation.message


def test_sensor_report_for_whole_failure(mircate_conn: MircateEmulator, tmp_path) -> None:
    status = failed_whole_status(mircate_conn, 4)
    report = tmp_path / "errors.jsonl"
    sensor = MircateBatchStatusSensor(
        task_id="wait",
        batch_ids=status["batchId"],
        poke_interval=0.01,
        timeout=30,
        error_report_path=str(report),
    )

    with pytest.raises(MircateBatchFailedError) as caught:
        sensor.poke({})

    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0]["items"] == 4
    assert "sku" not in lines[0]
    assert "failed as a whole" in lines[0]["message"]
    assert "sku None" not in str(caught.value)


def test_item_errors_keep_one_line_each(mircate_conn: MircateEmulator) -> None:
    hook = MircateHook()
    batch_id = hook.bulk_upsert_products([product("OK_1"), product("bad sku!"), product("bad sku 2!")])
    assert mircate_conn.wait_for_batches(timeout=10)
    status = {"batchId": batch_id, **hook.check_batch_status(batch_id)}

    records = list(error_report_records([status], BatchStates()))

    assert [record["sku"] for record in records] == ["bad sku!", "bad sku 2!"]
    assert all(record["batchId"] == batch_id for record in records)


def test_failed_batch_without_errors() -> None:
    status = {"batchId": "b1", "status": "FAILED", "total": 5, "errors": []}

    records = list(error_report_records([status], BatchStates()))

    assert records == [
        {
            "batchId": "b1",
            "status": "FAILED",
            "items": 5,
            "message": "Batch b1 with 5 item(s) failed as a whole (status FAILED), and no item error was reported.",
        }
    ]


def test_failed_batch_with_item_errors_has_no_batch_line() -> None:
    status = {"batchId": "b1", "status": "FAILED", "total": 1, "errors": [{"sku": "A1", "message": "bad"}]}

    records = list(error_report_records([status], BatchStates()))

    assert records == [{"batchId": "b1", "sku": "A1", "message": "bad"}]


def test_done_batch_without_errors_has_no_lines() -> None:
    status = {"batchId": "b1", "status": "DONE", "total": 2, "errors": []}

    assert list(error_report_records([status], BatchStates())) == []
