"""Helpers that run the example DAGs under ``airflow dags test`` in a subprocess with its own Airflow home."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = ROOT / "example_dags"
DATA = DAGS_FOLDER / "data"
DAG_TEST_HOME = ROOT / ".airflow" / "test-dags"
BIN = Path(sys.executable).parent
# An upper bound for one DAG run on a slow machine, so a hung run fails the test instead of the session.
DAG_RUN_TIMEOUT = 600


def load_data_module(name: str) -> ModuleType:
    """Import ``example_dags/data/<name>.py``, which is a script folder and not a package."""
    spec = importlib.util.spec_from_file_location(name, DATA / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dag_test_env(conn_json: str) -> dict[str, str]:
    """Return the environment of an ``airflow dags test`` child that reaches the emulator of ``conn_json``."""
    env = dict(os.environ)
    # The parent runs in unit test mode, which would change the child's configuration.
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.update(
        {
            "AIRFLOW_HOME": str(DAG_TEST_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AIRFLOW_CONN_MIRCATE_DEFAULT": conn_json,
            "MIRCATE_CONN_ID": "mircate_default",
        }
    )
    return env


@pytest.fixture(scope="session")
def migrated_dag_test_home() -> Path:
    """Migrate the database of ``.airflow/test-dags`` once per session and return the folder."""
    DAG_TEST_HOME.mkdir(parents=True, exist_ok=True)
    env = dag_test_env("{}")
    result = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (
        f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return DAG_TEST_HOME


@pytest.fixture
def run_dag(migrated_dag_test_home: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """
    Return a function that runs ``airflow dags test DAG_ID -c CONF`` against an emulator and returns the result.

    The output of each run is kept in ``tmp_path/<dag_id>-<n>.log`` and its tail is shown when a check fails.
    """
    runs: list[int] = []

    def run(dag_id: str, conf: dict[str, Any], conn_json: str) -> subprocess.CompletedProcess[str]:
        runs.append(1)
        result = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", dag_id, "-c", json.dumps(conf)],
            env=dag_test_env(conn_json),
            capture_output=True,
            text=True,
            timeout=DAG_RUN_TIMEOUT,
        )
        (tmp_path / f"{dag_id}-{len(runs)}.log").write_text(result.stdout + result.stderr)
        return result

    return run


def output_tail(result: subprocess.CompletedProcess[str], lines: int = 40) -> str:
    """Return the last lines of a run's output, for assertion messages."""
    return "\n".join((result.stdout + result.stderr).splitlines()[-lines:])
