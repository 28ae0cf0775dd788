"""A retried upsert task resumes from Airflow's task state store under ``airflow dags test``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.dagrun

HOME = ROOT / ".airflow" / "test-resume"
DAGS = Path(__file__).resolve().parent / "dags"


def airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_retry_resumes_after_accepted_chunks(mircate_emulator, tmp_path):
    source = tmp_path / "products.jsonl"
    with source.open("w") as handle:
        for index in range(450):
            record = {
                "dataType": "PRODUCT",
                "data": {"sku": f"R{index:04d}", "family": "f", "status": "DRAFT"},
            }
            handle.write(json.dumps(record) + "\n")
    # Two chunks of 100 are accepted, then every bulk call fails until the retry callback clears it.
    mircate_emulator.set_faults(fail_after={"method": "bulkProductUpsert", "count": 2, "status": 500})
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_MIRCATE_DEFAULT": mircate_emulator.conn_json(max_retries=0),
        "MIRCATE_EMULATOR_URL": mircate_emulator.url,
        "MIRCATE_RESUME_SOURCE": str(source),
    }
    HOME.mkdir(parents=True, exist_ok=True)
    migrated = airflow("db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr[-2000:]

    run = airflow("dags", "test", "mircate_resume_check", env=env)

    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    applied = mircate_emulator.calls(method="bulkProductUpsert", applied=True)
    failed = [r for r in mircate_emulator.calls(method="bulkProductUpsert") if not r["applied"]]
    assert len(failed) == 1
    assert [r["items"] for r in applied] == [100, 100, 100, 100, 50]
    assert len({r["body_sha256"] for r in applied}) == 5
    assert len(mircate_emulator.state.products) == 450
