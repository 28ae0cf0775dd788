from __future__ import annotations

import asyncio

from airflow_provider_mircate.hooks.async_hook import MircateAsyncHook
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger
from tests.hooks.scripted_server import Answer

LIVE_ANSWER = {"id": "b1", "state": "DONE", "count": 2, "done": 2, "failed": 0, "errors": []}
LIVE_NAMES = {"batchId": "id", "status": "state", "total": "count", "processed": "done"}


def test_hook_renames_status_fields(server, make_hook):
    server.queue(Answer(200, LIVE_ANSWER))

    answer = make_hook().check_batch_status("b1", status_fields=LIVE_NAMES)

    assert answer == {
        "batchId": "b1",
        "status": "DONE",
        "total": 2,
        "processed": 2,
        "failed": 0,
        "errors": [],
    }


def test_async_hook_renames_status_fields(server, make_hook):
    make_hook("mircate_async_fields")
    server.queue(Answer(200, LIVE_ANSWER))

    async def scenario():
        async with MircateAsyncHook("mircate_async_fields") as hook:
            return await hook.check_batch_status("b1", status_fields=LIVE_NAMES)

    answer = asyncio.run(scenario())

    assert answer["status"] == "DONE"
    assert answer["total"] == 2


def test_sensor_reads_renamed_status(server, make_hook):
    make_hook("mircate_sensor_fields")
    server.queue(Answer(200, LIVE_ANSWER))
    sensor = MircateBatchStatusSensor(
        task_id="wait",
        batch_ids="b1",
        mircate_conn_id="mircate_sensor_fields",
        status_fields=LIVE_NAMES,
        deferrable=False,
        poke_interval=0.01,
        timeout=10,
    )

    result = sensor.execute({})

    assert result == {"batch_ids": ["b1"], "total": 2, "processed": 2, "failed": 0}


def test_trigger_serializes_status_fields():
    trigger = MircateBatchStatusTrigger(batch_ids=["b1"], status_fields=LIVE_NAMES)

    _, kwargs = trigger.serialize()

    assert kwargs["status_fields"] == LIVE_NAMES
    assert MircateBatchStatusTrigger(**kwargs).status_fields == LIVE_NAMES
