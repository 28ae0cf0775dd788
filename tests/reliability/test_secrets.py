"""
The API key never leaves the connection: not in logs, exceptions, XComs, rendered template fields,
task log files, or any file a run writes.

The emulator's PIM and merchant keys are canaries (``LEAKCANARY...``). The operators run in-process
with their output captured, and every example DAG runs under ``airflow dags test`` in a subprocess
against the same emulator, with its own Airflow home ``.airflow/test-secrets``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.export import MircateGetProductsOperator
from airflow_provider_mircate.operators.images import (
    MircateAttachCategoryImageOperator,
    MircateImageFetchOperator,
)
from airflow_provider_mircate.operators.products import MircateUpsertProductOperator
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor
from airflow_provider_mircate.testing.emulator import MircateEmulator, make_test_image
from tests.reliability.conftest import (
    CANARY_KEY,
    FAULT_EXTRAS,
    MERCHANT_CANARY_KEY,
    catalog,
    make_context,
    product,
    write_jsonl,
)

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_HOME = ROOT / ".airflow" / "test-secrets"
BIN = Path(sys.executable).parent
CANARIES = (CANARY_KEY, MERCHANT_CANARY_KEY)
DAG_IDS = (
    "mircate_catalog_sync",
    "mircate_image_backfill",
    "mircate_generic_and_taskflow",
    "mircate_stock_price_feed",
)
DAG_TIMEOUT = 300


class LeakLedger:
    """Count the texts checked for a canary key and record where one was found."""

    def __init__(self) -> None:
        self.checked = 0
        self.leaks: list[str] = []

    def check(self, where: str, value: Any) -> None:
        if value is None:
            return
        self.checked += 1
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        for canary in CANARIES:
            if canary.encode() in data:
                self.leaks.append(where)

    def check_files(self, folder: Path, label: str) -> None:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            self.check(f"{label}:{path.relative_to(folder)}", path.read_bytes())


def _file_count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


# -- operators in-process -------------------------------------------------------------------------


def test_operators_leak_no_key(
    canary_conn: MircateEmulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ledger = LeakLedger()
    canary_conn.set_faults(rate=0.2, kinds=["429", "500", "reset"], methods=["getProducts", "getImage"])
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    source = write_jsonl(tmp_path / "products.jsonl", [*catalog(600), {"dataType": "PRODUCT", "data": {}}])
    image_path = tmp_path / "category.png"
    image_path.write_bytes(make_test_image(16, 16))
    MircateHook().upsert_category({"code": "shoes", "label": [{"locale": "en_US", "value": "Shoes"}]})
    filenames = [canary_conn.add_image(make_test_image(16, 16, seed=i), "png") for i in range(20)]

    upsert = MircateUpsertProductOperator(
        task_id="upsert",
        source=str(source),
        on_invalid="skip",
        rejects_path=f"file://{outputs}/rejects.jsonl",
        checkpoint_path=f"file://{tmp_path}/checkpoint.json",
    ).execute(make_context("upsert"))
    canary_conn.wait_for_batches(timeout=30)
    bad_batch = MircateHook().bulk_upsert_products([product("OK_1"), product("bad sku")])
    canary_conn.wait_for_batches(timeout=30)
    sensor = MircateBatchStatusSensor(
        task_id="wait",
        batch_ids=[*upsert["batch_ids"], bad_batch],
        fail_on_item_errors=False,
        error_report_path=f"file://{outputs}/errors.jsonl",
    )
    waited = sensor.poke(make_context("wait"))
    export = MircateGetProductsOperator(
        task_id="export", destination=f"file://{outputs}/export.jsonl"
    ).execute(make_context("export"))
    fetched = MircateImageFetchOperator(
        task_id="fetch", destination=f"file://{outputs}/images", filenames=filenames, width=8
    ).execute(make_context("fetch"))
    attached = MircateAttachCategoryImageOperator(
        task_id="attach", images=[{"path": str(image_path), "category_code": "shoes"}]
    ).execute(make_context("attach"))

    captured = capfd.readouterr()
    for name, value in [
        ("upsert", upsert),
        ("sensor", waited.xcom_value),
        ("export", export),
        ("fetch", fetched),
        ("attach", attached),
    ]:
        ledger.check(f"return value of {name}", json.dumps(value, default=str))
        ledger.check(f"repr of {name}'s return value", repr(value))
    ledger.check("stdout", captured.out)
    ledger.check("stderr", captured.err)
    ledger.check_files(outputs, "outputs")
    assert upsert["rejected"] == 1
    assert len((outputs / "errors.jsonl").read_text(encoding="utf-8").splitlines()) == 1
    assert ledger.checked == 12 + _file_count(outputs)
    assert ledger.leaks == []


# -- example DAGs under `airflow dags test` -------------------------------------------------------


def _airflow_env(emulator: MircateEmulator) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "PYTEST"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(AIRFLOW_HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AIRFLOW_CONN_MIRCATE_DEFAULT": emulator.conn_json(**FAULT_EXTRAS),
            "AIRFLOW_CONN_MIRCATE_MERCHANT_DEFAULT": emulator.merchant_conn_json(**FAULT_EXTRAS),
            "MIRCATE_CONN_ID": "mircate_default",
            "MIRCATE_MERCHANT_CONN_ID": "mircate_merchant_default",
        }
    )
    return env


@pytest.fixture(scope="module")
def dag_runs(
    canary_emulator: MircateEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Run every example DAG once against the emulator; return each run's output and its folders."""
    canary_emulator.clear_faults()
    canary_emulator.reset()
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
    AIRFLOW_HOME.mkdir(parents=True)
    env = _airflow_env(canary_emulator)
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True, timeout=120
    )

    work = tmp_path_factory.mktemp("dags")
    product_images = work / "product-images"
    subprocess.run(
        [str(BIN / "python"), str(ROOT / "example_dags" / "data" / "make_images.py"), str(product_images)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    drop = work / "merchant" / "incoming"
    shutil.copytree(ROOT / "example_dags" / "data" / "merchant", drop, ignore=shutil.ignore_patterns("*.py"))
    confs = {
        "mircate_catalog_sync": {
            "images_uri": f"file://{work}/sync/images",
            "output_uri": f"file://{work}/sync/output",
            "product_images_uri": f"file://{product_images}",
        },
        "mircate_image_backfill": {
            "images_uri": f"file://{work}/backfill/images",
            "output_uri": f"file://{work}/backfill/output",
        },
        "mircate_generic_and_taskflow": {},
        "mircate_stock_price_feed": {"feed_uri": f"file://{drop}"},
    }
    runs = {}
    for dag_id in DAG_IDS:
        runs[dag_id] = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", dag_id, "-c", json.dumps(confs[dag_id])],
            env=env,
            capture_output=True,
            timeout=DAG_TIMEOUT,
        )
    yield {"runs": runs, "work": work}


@pytest.mark.dagrun
@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_example_dag_succeeds(dag_runs: dict[str, Any], dag_id: str) -> None:
    run = dag_runs["runs"][dag_id]

    assert run.returncode == 0, run.stdout.decode(errors="replace")[-3000:]


@pytest.mark.dagrun
def test_example_dags_leak_no_key(dag_runs: dict[str, Any]) -> None:
    ledger = LeakLedger()
    for dag_id, run in dag_runs["runs"].items():
        ledger.check(f"{dag_id} stdout", run.stdout)
        ledger.check(f"{dag_id} stderr", run.stderr)
    with sqlite3.connect(AIRFLOW_HOME / "airflow.db") as db:
        xcoms = db.execute("SELECT dag_id, task_id, map_index, value FROM xcom").fetchall()
        rendered = db.execute(
            "SELECT dag_id, task_id, map_index, rendered_fields FROM rendered_task_instance_fields"
        ).fetchall()
    for dag_id, task_id, map_index, value in xcoms:
        ledger.check(f"xcom {dag_id}.{task_id}[{map_index}]", value)
    for dag_id, task_id, map_index, fields in rendered:
        ledger.check(f"rendered fields {dag_id}.{task_id}[{map_index}]", fields)
    # NOTE: `airflow dags test` (3.3.2) writes task logs to stdout only, so the logs folder is usually
    # absent; its files are checked when it exists.
    logs = AIRFLOW_HOME / "logs"
    log_files = _file_count(logs) if logs.exists() else 0
    if logs.exists():
        ledger.check_files(logs, "task logs")
    ledger.check_files(dag_runs["work"], "run outputs")

    assert len(xcoms) > 0
    assert len(rendered) > 0
    assert ledger.checked == 2 * len(DAG_IDS) + len(xcoms) + len(rendered) + log_files + _file_count(
        dag_runs["work"]
    )
    assert ledger.leaks == []
