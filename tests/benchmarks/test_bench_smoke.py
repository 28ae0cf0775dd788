"""Run the benchmark suite at tiny sizes to prove that every case still runs; no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_ALL = ROOT / "benchmarks" / "run_all.py"
CASES = (
    "1 emulator capacity",
    "2 hook call overhead",
    "3 bulk upsert",
    "4 export",
    "5 image fetch",
    "6 sensor load",
)
# Cases whose script belongs to the component it measures; run_all.py reports them as failed to run
# while the script is missing.
CASE_SCRIPTS = {"1 emulator capacity": "emulator_capacity.py", "5 image fetch": "image_fetch.py"}


@pytest.fixture(scope="module")
def tiny_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    completed = subprocess.run(
        [sys.executable, str(RUN_ALL), "--tiny", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), (
        f"run_all.py wrote no results (exit {completed.returncode}):\n{completed.stderr[-3000:]}"
    )
    return completed, json.loads(out.read_text())


def test_tiny_run_records_machine(tiny_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    _, results = tiny_run
    assert results["tiny"] is True
    assert results["machine"]["cores"] >= 1
    assert results["machine"]["versions"]["apache-airflow"]


@pytest.mark.parametrize("case", CASES)
def test_tiny_run_case_has_positive_throughput(
    tiny_run: tuple[subprocess.CompletedProcess[str], dict[str, Any]], case: str
) -> None:
    script = CASE_SCRIPTS.get(case)
    if script is not None and not (ROOT / "benchmarks" / script).exists():
        pytest.skip(f"benchmarks/{script} is not in this tree")
    completed, results = tiny_run
    rows = [row for row in results["rows"] if row["case"] == case]

    assert rows, f"no row for {case!r}; stderr:\n{completed.stderr[-3000:]}"
    for row in rows:
        assert not row.get("error"), f"{case} failed to run: {row['error']}"
        assert row["throughput"] is not None, f"{case} row {row['measure']!r} has no throughput"
        assert row["throughput"] > 0, f"{case} row {row['measure']!r} has throughput {row['throughput']}"
