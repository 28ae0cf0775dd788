"""
End-to-end tests on a real CeleryExecutor stack: PostgreSQL, redis, api-server, scheduler,
dag-processor, triggerer and two Celery workers, all on 127.0.0.1 (``scripts/stack.sh``).

They are skipped unless ``MIRCATE_DISTRIBUTED=1`` is set; ``make test-distributed`` sets it and runs
them in ``.venv-distributed``. One session takes a few minutes and about 1.5 GB of memory.

The runs are triggered through the REST API and judged from the metadata database and the logs.
The Celery task id in ``external_executor_id``, found in a worker's log, names the worker of each
try. The audit ``log`` table records state changes, and task start and end times measure the pool.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.distributed.driver import Stack, TaskTry, max_overlap, run_url, wait_until

pytestmark = [
    pytest.mark.distributed,
    pytest.mark.skipif(
        os.environ.get("MIRCATE_DISTRIBUTED") != "1",
        reason="drives a multi-process Airflow stack; set MIRCATE_DISTRIBUTED=1 (make test-distributed)",
    ),
]

CATALOG_SYNC_DAG = "mircate_catalog_sync"


def _interval(task_try: TaskTry) -> tuple[float, float]:
    return task_try.start_date.timestamp(), task_try.end_date.timestamp()


@pytest.fixture(scope="module")
def fanout_run(stack: Stack) -> str:
    """A finished run of ``stack_fanout``: six mapped tasks of 3 s each and a 20 s deferrable sensor."""
    run_id = stack.trigger("stack_fanout", {"items": 6, "sleep_seconds": 3})
    assert stack.wait_for_run("stack_fanout", run_id) == "success"
    return run_id


@pytest.fixture(scope="module")
def pool_runs(stack: Stack) -> dict[bool, str]:
    """Finished runs of ``stack_pool``, keyed by the pool's ``include_deferred`` flag during the run."""
    runs = {}
    try:
        for include_deferred in (True, False):
            flag = ["--include-deferred"] if include_deferred else []
            stack.script("airflow", "pools", "set", "mircate_api", "2", "Mircate API calls", *flag)
            run_id = stack.trigger("stack_pool")
            assert stack.wait_for_run("stack_pool", run_id) == "success"
            runs[include_deferred] = run_id
    finally:
        stack.script("airflow", "pools", "set", "mircate_api", "2", "Mircate API calls", "--include-deferred")
    return runs


def test_health_endpoint_reports_every_component(stack: Stack) -> None:
    health = stack.api_get("/api/v2/monitor/health")

    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health


def test_mapped_tasks_run_on_both_workers(stack: Stack, fanout_run: str) -> None:
    tries = stack.tries("stack_fanout", fanout_run, "work")
    workers = {stack.worker_of(task_try.external_executor_id) for task_try in tries}

    assert len(tries) == 6
    assert all(task_try.state == "success" for task_try in tries)
    assert workers == {"worker1", "worker2"}


def test_worker_signal_agrees_with_process_tree(stack: Stack, fanout_run: str) -> None:
    # Each task records its ancestor pids, and the worker that received the Celery task must be one.
    worker_pids = {stack.pid(worker): worker for worker in ("worker1", "worker2")}
    by_item = {record["item"]: record for record in stack.work_records("stack_fanout", fanout_run)}

    for task_try in stack.tries("stack_fanout", fanout_run, "work"):
        ancestors = set(by_item[task_try.map_index]["ancestor_pids"])
        ran_on = {name for pid, name in worker_pids.items() if pid in ancestors}
        assert ran_on == {stack.worker_of(task_try.external_executor_id)}


def test_sensor_deferred_and_completed_in_triggerer(stack: Stack, fanout_run: str) -> None:
    events = stack.state_events("stack_fanout", fanout_run, "deferred_wait")
    trigger_logs = stack.trigger_log_files("stack_fanout", fanout_run, "deferred_wait")

    assert "deferred" in events
    assert events[-1] == "success"
    assert events.index("deferred") < len(events) - 1
    assert set(trigger_logs) <= set(stack.triggerer_job_ids())
    assert any("Trigger fired event" in text for text in trigger_logs.values())


def test_pool_caps_concurrent_tasks_across_workers(stack: Stack, pool_runs: dict[bool, str]) -> None:
    # With include_deferred the deferred sensor keeps a slot too, so all seven tasks share two slots.
    tries = [t for t in stack.tries("stack_pool", pool_runs[True]) if t.pool == "mircate_api"]

    assert len(tries) == 7
    assert max_overlap([_interval(task_try) for task_try in tries]) <= 2
    for run_id in pool_runs.values():
        calls = [_interval(t) for t in stack.tries("stack_pool", run_id, "call_api")]
        # Four worker slots are free, so without the pool more than two of the six calls would overlap.
        assert max_overlap(calls) == 2


def test_include_deferred_counts_deferred_sensor(stack: Stack, pool_runs: dict[bool, str]) -> None:
    overlap_during_sensor = {}
    for include_deferred, run_id in pool_runs.items():
        tries = stack.tries("stack_pool", run_id)
        sensor_start, sensor_end = _interval(next(t for t in tries if t.task_id == "deferred_in_pool"))
        # Clip each call to the sensor's window and drop the calls that fall outside it.
        clipped = [
            (max(start, sensor_start), min(end, sensor_end))
            for start, end in (_interval(t) for t in tries if t.task_id == "call_api")
        ]
        overlap_during_sensor[include_deferred] = max_overlap([(s, e) for s, e in clipped if s < e])

    assert overlap_during_sensor[True] == 1
    assert overlap_during_sensor[False] == 2


def test_triggerer_restart_keeps_deferred_sensor(stack: Stack) -> None:
    run_id = stack.trigger("stack_long_deferral")
    wait_until(
        lambda: stack.task_states("stack_long_deferral", run_id, "deferred_wait").get(-1) == "deferred",
        timeout=60,
        what="the 45 s sensor to defer",
    )
    wait_until(
        lambda: stack.query("SELECT count(*) FROM trigger WHERE triggerer_id IS NOT NULL")[0][0] > 0,
        timeout=30,
        what="a triggerer to take the trigger",
    )
    jobs_before = set(stack.triggerer_job_ids())

    stack.restart("triggerer")
    state = stack.wait_for_run("stack_long_deferral", run_id, timeout=180)

    trigger_logs = stack.trigger_log_files("stack_long_deferral", run_id, "deferred_wait")
    new_jobs = set(trigger_logs) - jobs_before
    assert state == "success"
    assert stack.state_events("stack_long_deferral", run_id, "deferred_wait")[-1] == "success"
    assert len(new_jobs) == 1
    assert "Trigger fired event" in trigger_logs[new_jobs.pop()]


def test_killed_worker_task_retries_on_other_worker(stack: Stack) -> None:
    run_id = stack.trigger("stack_fanout", {"items": 4, "sleep_seconds": 15})

    def running_on_worker1() -> TaskTry | None:
        for task_try in stack.tries("stack_fanout", run_id, "work"):
            if task_try.state == "running" and stack.worker_of(task_try.external_executor_id) == "worker1":
                return task_try
        return None

    victim = wait_until(running_on_worker1, timeout=90, what="a mapped task running on worker1")
    stack.kill("worker1")
    try:
        state = stack.wait_for_run("stack_fanout", run_id, timeout=240)
        tries = [t for t in stack.tries("stack_fanout", run_id, "work") if t.map_index == victim.map_index]
        records = stack.work_records("stack_fanout", run_id)
    finally:
        stack.script("start", "worker1")
        stack.script("wait")

    assert state == "success"
    assert len(tries) >= 2
    assert tries[0].state != "success"
    assert stack.worker_of(tries[0].external_executor_id) == "worker1"
    assert tries[-1].state == "success"
    assert stack.worker_of(tries[-1].external_executor_id) == "worker2"
    # Every item finished once, because the killed try died before it wrote its record.
    assert sorted(record["item"] for record in records) == [0, 1, 2, 3]
    assert [r["try_number"] for r in records if r["item"] == victim.map_index] == [tries[-1].try_number]


def _emulator_get(emulator: dict[str, Any], path: str) -> Any:
    response = httpx.get(f"{emulator['url'].rstrip('/')}/_emulator/{path}", timeout=30)
    response.raise_for_status()
    return response.json()


def _final_tries(tries: list[TaskTry]) -> list[TaskTry]:
    last: dict[tuple[str, int], TaskTry] = {}
    for task_try in tries:
        last[(task_try.task_id, task_try.map_index)] = task_try
    return list(last.values())


@pytest.fixture(scope="module")
def catalog_run(
    stack: Stack, emulator: dict[str, Any] | None, dags_folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A finished run of the project's catalog sync DAG against the emulator, with its file locations."""
    if emulator is None:
        pytest.skip("the Mircate emulator package is not importable")
    if not (dags_folder / f"{CATALOG_SYNC_DAG}.py").exists():
        pytest.skip(f"example_dags/{CATALOG_SYNC_DAG}.py is missing")

    folder = tmp_path_factory.mktemp("catalog")
    make_images = runpy.run_path(str(dags_folder / "data" / "make_images.py"))
    make_images["write_images"](folder / "product-images")
    conf = {
        "product_images_uri": f"file://{folder / 'product-images'}",
        "images_uri": f"file://{folder / 'images'}",
        "output_uri": f"file://{folder / 'output'}",
    }
    run_id = stack.trigger(CATALOG_SYNC_DAG, conf)
    state = stack.wait_for_run(CATALOG_SYNC_DAG, run_id, timeout=600)
    return {"run_id": run_id, "state": state, "folder": folder, "listed_images": dags_folder / "data"}


def test_catalog_sync_succeeds_on_both_workers(stack: Stack, catalog_run: dict[str, Any]) -> None:
    tries = stack.tries(CATALOG_SYNC_DAG, catalog_run["run_id"])
    executed = [t for t in tries if t.external_executor_id]

    assert catalog_run["state"] == "success"
    assert {t.state for t in _final_tries(tries)} == {"success"}
    assert {stack.worker_of(t.external_executor_id) for t in executed} == {"worker1", "worker2"}


def test_catalog_sync_batch_sensor_deferred(stack: Stack, catalog_run: dict[str, Any]) -> None:
    run_id = catalog_run["run_id"]
    events = stack.state_events(CATALOG_SYNC_DAG, run_id, "wait_for_batches")
    trigger_logs = stack.trigger_log_files(CATALOG_SYNC_DAG, run_id, "wait_for_batches")

    assert "deferred" in events
    assert events[-1] == "success"
    assert any("Trigger fired event" in text for text in trigger_logs.values())


def test_catalog_sync_upserts_each_product_once(
    stack: Stack, emulator: dict[str, Any], catalog_run: dict[str, Any]
) -> None:
    bulk_calls = _emulator_get(emulator, "requests?method=bulkProductUpsert")["requests"]
    summary = _emulator_get(emulator, "state")
    report = stack.api_get(
        f"{run_url(CATALOG_SYNC_DAG, catalog_run['run_id'])}/taskInstances/report/xcomEntries/return_value"
    )["value"]

    assert bulk_calls
    # A resent bulk upsert would carry the same body, so each body must appear once and be applied.
    assert len({call["body_sha256"] for call in bulk_calls}) == len(bulk_calls)
    assert all(call["applied"] for call in bulk_calls)
    assert summary["batches"] == len(bulk_calls)
    assert summary["products"] == sum(call["items"] for call in bulk_calls)
    assert report["upserted"] == summary["products"]


def test_catalog_sync_stores_each_image_once(
    stack: Stack, emulator: dict[str, Any], catalog_run: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_mircate.hooks.mircate import MircateHook

    attach_calls = _emulator_get(emulator, "requests?method=attachProductAttributeImage")["requests"]
    summary = _emulator_get(emulator, "state")
    manifests = (catalog_run["folder"] / "output" / "manifests").glob("fetch-*.jsonl")
    records = [json.loads(line) for path in manifests for line in path.read_text().splitlines() if line]
    fetched = [record for record in records if record["status"] == "fetched"]
    stored = sorted((catalog_run["folder"] / "images").glob("*.webp"))
    listed = (catalog_run["listed_images"] / "product_images.jsonl").read_text().splitlines()

    assert len(attach_calls) == len([line for line in listed if line.strip()])
    assert all(call["applied"] for call in attach_calls)
    assert summary["images"] == len(attach_calls)
    assert len({record["filename"] for record in fetched}) == len(fetched) == summary["images"]
    assert len(stored) == summary["images"]

    # Each stored file holds exactly the bytes the API serves for the DAG's transform.
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_DEFAULT", emulator["conn_json"])
    with MircateHook("mircate_default") as hook:
        for record in fetched:
            with hook.get_image(
                record["filename"], width=800, height=800, fit="inside", format="webp", quality=80
            ) as response:
                expected = response.content
            stored_bytes = Path(record["path"].removeprefix("file://")).read_bytes()
            assert stored_bytes == expected, record["filename"]
            assert hashlib.sha256(stored_bytes).hexdigest() == record["sha256"]
