"""
Drive the CeleryExecutor stack of ``scripts/stack.sh`` from tests: trigger DAG runs through the REST
API, read their outcome from the metadata database, and stop, kill or restart single processes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]
STACK_SCRIPT = ROOT / "scripts" / "stack.sh"
STACK_DIR = ROOT / ".stack"
WORKERS = ("worker1", "worker2")
TERMINAL_RUN_STATES = {"success", "failed"}

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns a truthy value, and return it.

    :raises TimeoutError: naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def _clean_environment(extra: dict[str, str]) -> dict[str, str]:
    # The pytest session sets AIRFLOW_HOME, unit-test mode and the dags folder for the unit tests.
    # The stack takes its settings from .stack/env alone, so none of the caller's AIRFLOW variables pass.
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(extra)
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """Parse the ``export NAME=VALUE`` lines that ``stack.sh`` writes with shell quoting."""
    values = {}
    for line in path.read_text().splitlines():
        if not line.startswith("export "):
            continue
        name, _, value = shlex.split(line[len("export ") :])[0].partition("=")
        values[name] = value
    return values


@dataclass
class TaskTry:
    """One try of one task instance, from ``task_instance`` or ``task_instance_history``."""

    task_id: str
    map_index: int
    try_number: int
    state: str | None
    start_date: Any
    end_date: Any
    external_executor_id: str | None
    pool: str


class Stack:
    """A running stack: its settings from ``.stack/env`` and the calls the tests make on it."""

    def __init__(self, stack_dir: Path = STACK_DIR) -> None:
        self.dir = stack_dir
        self.env = read_env_file(stack_dir / "env")
        self.api_url = self.env["MIRCATE_STACK_API_URL"]
        self.http = httpx.Client(base_url=self.api_url, timeout=30)

    # -- processes ------------------------------------------------------------------------------

    @staticmethod
    def script(*args: str, extra_env: dict[str, str] | None = None, timeout: float = 600) -> str:
        """Run ``scripts/stack.sh ARGS`` and return its output followed by its progress lines."""
        result = subprocess.run(
            ["bash", str(STACK_SCRIPT), *args],
            env=_clean_environment(extra_env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"stack.sh {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result.stdout + result.stderr

    def pid(self, part: str) -> int:
        return int((self.dir / "pids" / f"{part}.pid").read_text())

    def log_path(self, part: str) -> Path:
        return self.dir / "logs" / f"{part}.log"

    def kill(self, part: str) -> None:
        """Send SIGKILL to a part and all its descendants, task processes included, as a lost host would."""
        self.script("kill", part)

    def restart(self, part: str) -> None:
        """Stop a part gracefully, start it again and wait until the whole stack is healthy."""
        self.script("stop", part)
        self.script("start", part)
        self.script("wait")

    # -- REST API -------------------------------------------------------------------------------

    def wait_for_dag(self, dag_id: str, timeout: float = 90) -> None:
        """Wait until the dag-processor has parsed ``dag_id`` and the API serves it."""
        wait_until(
            lambda: self.http.get(f"/api/v2/dags/{dag_id}").status_code == 200,
            timeout,
            f"DAG {dag_id} to be parsed (dag-processor log {self.log_path('dag-processor')})",
        )

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Create a manual run of ``dag_id`` through the REST API and return its run id."""
        self.wait_for_dag(dag_id)
        response = self.http.post(
            f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
        response.raise_for_status()
        return response.json()["dag_run_id"]

    # -- metadata database ----------------------------------------------------------------------

    @contextmanager
    def database(self) -> Iterator[Any]:
        import psycopg2

        url = urlsplit(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        connection = psycopg2.connect(
            host=url.hostname,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.path.lstrip("/"),
        )
        connection.autocommit = True
        try:
            yield connection
        finally:
            connection.close()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.database() as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", dag_id, run_id)
        return rows[0][0] if rows else None

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 240) -> str:
        """Wait until the run reaches success or failed, read from the ``dag_run`` table, and return it."""
        return wait_until(
            lambda: (state := self.run_state(dag_id, run_id)) in TERMINAL_RUN_STATES and state,
            timeout,
            f"run {run_id} of {dag_id} to finish (scheduler log {self.log_path('scheduler')})",
        )

    def task_states(self, dag_id: str, run_id: str, task_id: str) -> dict[int, str | None]:
        rows = self.query(
            "SELECT map_index, state FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = %s",
            dag_id,
            run_id,
            task_id,
        )
        return dict(rows)

    def tries(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[TaskTry]:
        """Return every try of the run's task instances: earlier tries from the history table, then the last."""
        columns = "task_id, map_index, try_number, state, start_date, end_date, external_executor_id, pool"
        task_filter = "AND task_id = %s" if task_id else ""
        params: tuple[Any, ...] = (dag_id, run_id, task_id) if task_id else (dag_id, run_id)
        rows = self.query(
            f"SELECT {columns} FROM task_instance_history WHERE dag_id = %s AND run_id = %s {task_filter} "
            f"UNION ALL SELECT {columns} FROM task_instance WHERE dag_id = %s AND run_id = %s {task_filter} "
            "ORDER BY 1, 2, 3",
            *params,
            *params,
        )
        return [TaskTry(*row) for row in rows]

    def state_events(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[str]:
        """Return the task instance's state changes as recorded in the audit ``log`` table, oldest first."""
        rows = self.query(
            "SELECT event FROM log WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = %s "
            "ORDER BY dttm, id",
            dag_id,
            run_id,
            task_id,
            map_index,
        )
        return [row[0] for row in rows]

    def triggerer_job_ids(self) -> list[int]:
        rows = self.query("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
        return [row[0] for row in rows]

    # -- workers and logs -----------------------------------------------------------------------

    def worker_of(self, external_executor_id: str | None) -> str | None:
        """Return the Celery worker that received a task, found by its Celery task id in the worker logs.

        Both workers run on one host, so ``task_instance.hostname`` is the same for both. The executor
        stores the Celery task id in ``external_executor_id``, and the worker that received the task logs
        "Task execute_workload[ID] received".
        """
        if not external_executor_id:
            return None
        needle = f"[{external_executor_id}] received"
        found = [worker for worker in WORKERS if needle in self.log_path(worker).read_text(errors="replace")]
        return found[0] if len(found) == 1 else None

    def task_logs(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Path:
        folder = (
            self.dir / "airflow" / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        )
        return folder if map_index < 0 else folder / f"map_index={map_index}"

    def trigger_log_files(self, dag_id: str, run_id: str, task_id: str) -> dict[int, str]:
        """Return the trigger log of each triggerer job that ran the task's trigger, keyed by the job id."""
        logs = {}
        for path in self.task_logs(dag_id, run_id, task_id).glob("attempt=*.log.trigger.*.log"):
            job_id = int(re.search(r"\.trigger\.(\d+)\.log$", path.name).group(1))
            logs[job_id] = path.read_text(errors="replace")
        return logs

    def work_records(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return the JSON records that the test DAGs' tasks write, one per finished try."""
        folder = self.dir / "work" / dag_id / run_id
        return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]

    def api_get(self, path: str) -> Any:
        response = self.http.get(path)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.http.close()


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Return the largest number of ``(start, end)`` intervals that are open at one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    # At equal times the end (-1) sorts before the start (+1), so touching intervals do not overlap.
    for _, delta in events:
        open_now += delta
        peak = max(peak, open_now)
    return peak


def run_url(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
