"""
DAGs that exercise the Celery stack of ``scripts/stack.sh`` without any Mircate code.

Each task writes a JSON record to ``$MIRCATE_STACK_DIR/work/<dag_id>/<run_id>/`` with the process ids
from the task up to init, so a test can tell which Celery worker ran each try.
"""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor
from airflow.sdk import DAG, get_current_context, task


def _ancestor_pids() -> list[int]:
    pids = []
    pid = os.getpid()
    while pid > 1:
        pids.append(pid)
        with open(f"/proc/{pid}/stat") as stat:
            # The command name in field 2 is in parentheses and may contain spaces.
            pid = int(stat.read().rsplit(")", 1)[1].split()[1])
    return pids


def _write_record(item: int, started: float) -> None:
    context = get_current_context()
    ti = context["ti"]
    folder = Path(os.environ["MIRCATE_STACK_DIR"], "work", ti.dag_id, ti.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    record = {
        "item": item,
        "try_number": ti.try_number,
        "ancestor_pids": _ancestor_pids(),
        "started": started,
        "finished": time.time(),
    }
    (folder / f"{ti.task_id}-{item}-try{ti.try_number}.json").write_text(json.dumps(record))


_DEFAULTS = {"retries": 2, "retry_delay": timedelta(seconds=2)}

with DAG(
    dag_id="stack_fanout",
    schedule=None,
    catchup=False,
    default_args=_DEFAULTS,
    params={"items": 6, "sleep_seconds": 3},
    tags=["distributed-test"],
) as fanout:

    @task
    def list_items(params: dict | None = None) -> list[int]:
        return list(range(int(params["items"])))

    @task
    def work(item: int, params: dict | None = None) -> int:
        started = time.time()
        time.sleep(float(params["sleep_seconds"]))
        _write_record(item, started)
        return item

    work.expand(item=list_items())
    # The sensor waits until the run's start plus the delta. It completes without deferring when that
    # moment has passed before the task starts, so the delta leaves room for slow first scheduling.
    TimeDeltaSensor(task_id="deferred_wait", delta=timedelta(seconds=20), deferrable=True)


with DAG(
    dag_id="stack_long_deferral",
    schedule=None,
    catchup=False,
    default_args=_DEFAULTS,
    tags=["distributed-test"],
) as long_deferral:
    TimeDeltaSensor(task_id="deferred_wait", delta=timedelta(seconds=45), deferrable=True)


with DAG(
    dag_id="stack_pool",
    schedule=None,
    catchup=False,
    default_args=_DEFAULTS,
    params={"items": 6, "sleep_seconds": 4},
    tags=["distributed-test"],
) as pool_dag:

    @task(pool="mircate_api")
    def call_api(item: int, params: dict | None = None) -> int:
        started = time.time()
        time.sleep(float(params["sleep_seconds"]))
        _write_record(item, started)
        return item

    # The sensor goes first. When the pool counts deferred tasks, it keeps one of the two slots for
    # its whole deferral.
    TimeDeltaSensor(
        task_id="deferred_in_pool",
        delta=timedelta(seconds=20),
        deferrable=True,
        pool="mircate_api",
        priority_weight=100,
    )
    call_api.expand(item=list(range(6)))
