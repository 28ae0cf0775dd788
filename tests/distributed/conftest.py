"""Fixtures of the distributed tests: the Mircate emulator, a DAG folder and the Celery stack."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.distributed.driver import ROOT, Stack, wait_until

TEST_DAGS = Path(__file__).resolve().parent / "dags"
EXAMPLE_DAGS = ROOT / "example_dags"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "distributed: drives the CeleryExecutor stack of scripts/stack.sh (MIRCATE_DISTRIBUTED=1)"
    )


def _emulator_available() -> bool:
    try:
        import airflow_provider_mircate.testing.emulator.cli  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any] | None]:
    """Start ``mircate-emulator`` on a free port of 127.0.0.1 and yield its ready-file contents.

    Yields None when the emulator package is not importable, so the tests of the stack itself still run.
    """
    if not _emulator_available():
        yield None
        return

    folder = tmp_path_factory.mktemp("emulator")
    ready_file = folder / "ready.json"
    log = (folder / "emulator.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_mircate.testing.emulator.cli",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--ready-file",
            str(ready_file),
            "--state-file",
            str(folder / "state.sqlite"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: ready_file.exists() or process.poll() is not None,
            timeout=30,
            what=f"the emulator's ready file (log {log.name})",
            interval=0.1,
        )
        if process.poll() is not None:
            raise RuntimeError(f"mircate-emulator exited with {process.returncode}; see {log.name}")
        yield json.loads(ready_file.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the stack's DAG folder: the test DAGs of this package plus every file of ``example_dags/``.

    ``MIRCATE_DISTRIBUTED_EXAMPLE_DAGS`` points at another folder of project DAGs than ``example_dags/``.
    """
    folder = tmp_path_factory.mktemp("dags")
    for path in TEST_DAGS.glob("*.py"):
        shutil.copy(path, folder / path.name)
    examples = Path(os.environ.get("MIRCATE_DISTRIBUTED_EXAMPLE_DAGS", EXAMPLE_DAGS))
    if examples.is_dir():
        shutil.copytree(examples, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


@pytest.fixture(scope="session")
def stack(emulator: dict[str, Any] | None, dags_folder: Path) -> Iterator[Stack]:
    """Bring a fresh stack up with the emulator's connection, yield a driver for it, and take it down."""
    extra_env = {"MIRCATE_STACK_DAGS_FOLDER": str(dags_folder)}
    if emulator is not None:
        extra_env["AIRFLOW_CONN_MIRCATE_DEFAULT"] = emulator["conn_json"]
        if emulator.get("merchant_conn_json"):
            extra_env["AIRFLOW_CONN_MIRCATE_MERCHANT"] = emulator["merchant_conn_json"]

    started = time.monotonic()
    try:
        Stack.script("up", "--fresh", extra_env=extra_env)
        print(f"\nstack ready in {time.monotonic() - started:.1f}s")
        driver = Stack()
        yield driver
        driver.close()
    finally:
        print(Stack.script("memory", timeout=60) if (ROOT / ".stack" / "env").exists() else "")
        Stack.script("down")
