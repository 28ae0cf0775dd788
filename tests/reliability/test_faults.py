"""
Injected faults against the upsert, export, image fetch, sensor and trigger, over loopback.

Every fault kind strikes 20% of the requests, either before the request changes state or after it did
(the response is lost). The connection keeps its default of 6 retries with fast backoff, so every task
must finish with every item stored once and byte-correct; a 100% fault rate must end in a typed error
that names the method and the failure.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mircate.exceptions import (
    MircateConnectionError,
    MircateRateLimitError,
    MircateServerError,
)
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.export import MircateGetProductsOperator
from airflow_provider_mircate.operators.images import MircateImageFetchError, MircateImageFetchOperator
from airflow_provider_mircate.operators.products import MircateUpsertProductOperator
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor
from airflow_provider_mircate.testing.emulator import FAULT_KINDS, MircateEmulator
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger
from tests.reliability.conftest import (
    FAULT_EXTRAS,
    IMAGE_COUNT,
    IMAGE_TRANSFORMS,
    catalog,
    make_context,
    sha256,
    stored_without_timestamps,
    write_jsonl,
)

pytestmark = pytest.mark.reliability

FAULT_RATE = 0.2
PRODUCT_COUNT = 5000
CHUNK_SIZE = 500
CHUNK_COUNT = PRODUCT_COUNT // CHUNK_SIZE
SENSOR_BATCHES = 4
MAX_ROUNDS = 40
MAX_ATTEMPTS = FAULT_EXTRAS["max_retries"] + 1

FAULT_CASES = [
    pytest.param(kind, when, id=f"{kind}-{when}") for kind in FAULT_KINDS for when in ("before", "after")
]


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    records = catalog(PRODUCT_COUNT)
    path = write_jsonl(tmp_path_factory.mktemp("catalog") / "products.jsonl", records)
    return path, records


@pytest.fixture(scope="module")
def image_references(canary_emulator: MircateEmulator, image_bytes: list[bytes]) -> dict[str, str]:
    """Store the images once and return the sha256 of a fault-free fetch of each, by filename."""
    canary_emulator.clear_faults()
    canary_emulator.reset()
    references = {}
    hook = MircateHook(settings=_settings(canary_emulator))
    with hook:
        for data in image_bytes:
            filename = canary_emulator.add_image(data, "png")
            response = hook.get_image(filename, **IMAGE_TRANSFORMS)
            try:
                references[filename] = sha256(response.content)
            finally:
                response.close()
    return references


def _settings(emulator: MircateEmulator):
    from airflow_provider_mircate.hooks.settings import MircateConnectionSettings

    return MircateConnectionSettings(
        conn_id="reference",
        base_url=emulator.url,
        account_id=emulator.account_id,
        api_key=emulator.api_key,
        project_id=emulator.project_id,
    )


def _load_products(emulator: MircateEmulator, records: list[dict[str, Any]]) -> None:
    """Store ``records`` without faults through the bulk API and wait until they are applied."""
    with MircateHook() as hook:
        for start in range(0, len(records), CHUNK_SIZE):
            hook.bulk_upsert_products(records[start : start + CHUNK_SIZE])
    emulator.wait_for_batches(timeout=60)
    emulator.clear_requests()


def _strike(emulator: MircateEmulator, kind: str, when: str, methods: list[str] | None = None) -> None:
    emulator.set_faults(rate=FAULT_RATE, kinds=[kind], when=when, methods=methods)


def _failed_requests(emulator: MircateEmulator, method: str) -> int:
    return sum(1 for call in emulator.calls(method) if call["fault"] is not None)


# -- upsert ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "when"), FAULT_CASES)
def test_upsert_under_faults_stores_each_product_once(
    canary_conn: MircateEmulator, catalog_file, tmp_path: Path, kind: str, when: str
) -> None:
    path, records = catalog_file
    _strike(canary_conn, kind, when)

    results = _rounds_until_struck(
        canary_conn,
        "bulkProductUpsert",
        lambda n: MircateUpsertProductOperator(
            task_id="upsert", source=str(path), checkpoint_path=f"file://{tmp_path}/checkpoint-{n}.json"
        ).execute(make_context("upsert", run_id=f"round_{n}")),
    )
    canary_conn.clear_faults()
    canary_conn.wait_for_batches(timeout=60)

    stored = stored_without_timestamps(canary_conn)
    batch_ids = [b for result in results for b in result["batch_ids"]]
    assert _failed_requests(canary_conn, "bulkProductUpsert") > 0
    assert all(result["upserted"] == PRODUCT_COUNT for result in results)
    assert all(len(result["batch_ids"]) == CHUNK_COUNT for result in results)
    assert len(stored) == PRODUCT_COUNT
    assert all(stored[r["data"]["sku"]] == r for r in records)
    assert all(canary_conn.state.batches[b]["status"] == "DONE" for b in batch_ids)


def _rounds_until_struck(emulator: MircateEmulator, method: str, run: Any) -> list[Any]:
    """
    Call ``run(n)`` for n = 0, 1, ... until a fault has struck ``method``, and return the results.

    A run of 10 requests at a 20% fault rate meets no fault about one time in nine, and a run that met
    none tests nothing, so it is repeated; every run's result is checked.
    """
    results = []
    while _failed_requests(emulator, method) == 0 and len(results) < MAX_ROUNDS:
        results.append(run(len(results)))
    return results


# -- export ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "when"), FAULT_CASES)
def test_export_under_faults_writes_each_product_once(
    canary_conn: MircateEmulator, catalog_file, tmp_path: Path, kind: str, when: str
) -> None:
    _, records = catalog_file
    _load_products(canary_conn, records)
    _strike(canary_conn, kind, when)

    results = _rounds_until_struck(
        canary_conn,
        "getProducts",
        lambda n: MircateGetProductsOperator(
            task_id="export", destination=f"file://{tmp_path}/export-{n}.jsonl", page_size=CHUNK_SIZE
        ).execute(make_context("export")),
    )

    assert _failed_requests(canary_conn, "getProducts") > 0
    for n, result in enumerate(results):
        text = (tmp_path / f"export-{n}.jsonl").read_text(encoding="utf-8")
        lines = [json.loads(line) for line in text.splitlines()]
        exported = {line["data"]["sku"]: line for line in lines}
        assert result["count"] == PRODUCT_COUNT
        assert len(lines) == PRODUCT_COUNT
        assert len(exported) == PRODUCT_COUNT
        assert all(_without_timestamps(exported[r["data"]["sku"]]) == r for r in records)


def _without_timestamps(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if name not in ("createdAt", "updatedAt")}


# -- image fetch ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "when"), FAULT_CASES)
def test_image_fetch_under_faults_stores_each_image_once(
    canary_conn: MircateEmulator,
    image_bytes: list[bytes],
    image_references: dict[str, str],
    tmp_path: Path,
    kind: str,
    when: str,
) -> None:
    filenames = [canary_conn.add_image(data, "png") for data in image_bytes]
    _strike(canary_conn, kind, when)
    destination = tmp_path / "images"

    operator = MircateImageFetchOperator(
        task_id="fetch", destination=f"file://{destination}", filenames=filenames, **IMAGE_TRANSFORMS
    )
    try:
        result = operator.execute(make_context("fetch"))
    except MircateImageFetchError as exc:
        # Eight threads share the seeded fault stream, so which request faults varies between runs.
        # An image fails only when all 7 tries of one request fault (0.2 ** 7 at a 20% rate); that
        # must read as exhausted retries, and a task retry must finish the rest, skipping what exists.
        assert exc.result["failed"] <= 2
        assert "after every retry" in str(exc) or "failed after 7 attempt(s)" in str(exc)
        result = operator.execute(make_context("fetch"))
        result["fetched"] += result["skipped"]

    stored = {p.name: sha256(p.read_bytes()) for p in destination.iterdir() if p.suffix == ".png"}
    leftovers = [p.name for p in destination.iterdir() if p.suffix not in (".png", ".jsonl")]
    assert result["fetched"] == IMAGE_COUNT
    assert result["failed"] == 0
    assert len(stored) == IMAGE_COUNT
    assert sorted(stored.values()) == sorted(image_references.values())
    assert all(stored[f] == image_references[f] for f in filenames)
    assert leftovers == []
    assert _failed_requests(canary_conn, "getImage") > 0


# -- sensor and trigger ---------------------------------------------------------------------------


def _finished_batches(emulator: MircateEmulator) -> list[str]:
    with MircateHook() as hook:
        batch_ids = [hook.bulk_upsert_products(catalog(3, prefix=f"B{n}")) for n in range(SENSOR_BATCHES)]
    emulator.wait_for_batches(timeout=30)
    emulator.clear_requests()
    return batch_ids


@pytest.mark.parametrize(("kind", "when"), FAULT_CASES)
def test_sensor_poke_under_faults_finishes(canary_conn: MircateEmulator, kind: str, when: str) -> None:
    batch_ids = _finished_batches(canary_conn)
    _strike(canary_conn, kind, when)

    # Fresh sensors poll again until at least one fault has struck. A poke either finishes or returns
    # False after a failure that outlasted the hook's 6 retries, which at 20% is very unlikely, so each
    # sensor gets 3 pokes.
    results = []
    while _failed_requests(canary_conn, "checkBatchStatus") == 0 and len(results) < MAX_ROUNDS:
        sensor = MircateBatchStatusSensor(task_id="wait", batch_ids=batch_ids, poke_interval=0.01)
        outcomes = [sensor.poke(make_context("wait")) for _ in range(3)]
        results.append(next((o.xcom_value for o in outcomes if o), None))

    assert _failed_requests(canary_conn, "checkBatchStatus") > 0
    assert None not in results
    assert all(r["batch_ids"] == batch_ids for r in results)
    assert all(r["processed"] == 3 * SENSOR_BATCHES for r in results)
    assert all(r["failed"] == 0 for r in results)


@pytest.mark.parametrize(("kind", "when"), FAULT_CASES)
def test_trigger_under_faults_fires_success(canary_conn: MircateEmulator, kind: str, when: str) -> None:
    batch_ids = _finished_batches(canary_conn)
    _strike(canary_conn, kind, when)

    # Fresh triggers run until at least one fault has struck a status request.
    events = []
    while _failed_requests(canary_conn, "checkBatchStatus") == 0 and len(events) < MAX_ROUNDS:
        trigger = MircateBatchStatusTrigger(batch_ids=batch_ids, poll_interval=0.01)
        events.append(asyncio.run(_first_event(trigger)))

    assert _failed_requests(canary_conn, "checkBatchStatus") > 0
    assert all(e["status"] == "success" for e in events)
    assert all([b["batchId"] for b in e["batches"]] == batch_ids for e in events)
    assert all(sum(b["processed"] for b in e["batches"]) == 3 * SENSOR_BATCHES for e in events)


async def _first_event(trigger: MircateBatchStatusTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return event.payload
    raise AssertionError("The trigger ended without an event.")


# -- every try fails ------------------------------------------------------------------------------

EXHAUSTED = [
    pytest.param("429", MircateRateLimitError, "HTTP 429", id="429"),
    pytest.param("429_retry_after", MircateRateLimitError, "HTTP 429", id="429_retry_after"),
    pytest.param("500", MircateServerError, "HTTP 500", id="500"),
    pytest.param("502", MircateServerError, "HTTP 502", id="502"),
    pytest.param("503", MircateServerError, "HTTP 503", id="503"),
    pytest.param("reset", MircateConnectionError, "ConnectionError", id="reset"),
    pytest.param("timeout", MircateConnectionError, "ReadTimeout", id="timeout"),
    pytest.param("truncate", MircateConnectionError, "IncompleteRead", id="truncate"),
]


@pytest.mark.parametrize(("kind", "error", "reason"), EXHAUSTED)
def test_every_try_failing_raises_typed_error(
    canary_conn: MircateEmulator, kind: str, error: type[Exception], reason: str
) -> None:
    canary_conn.set_faults(rate=1.0, kinds=[kind])

    with pytest.raises(error) as raised, MircateHook() as hook:
        hook.get_products_page(page_size=10)

    message = str(raised.value)
    assert "getProducts" in message
    assert reason in message
    assert len(canary_conn.calls("getProducts")) == MAX_ATTEMPTS


def test_upsert_fails_when_retries_run_out(
    canary_conn: MircateEmulator, catalog_file, tmp_path: Path
) -> None:
    path, _ = catalog_file
    canary_conn.set_faults(rate=1.0, kinds=["503"], methods=["bulkProductUpsert"])
    operator = MircateUpsertProductOperator(
        task_id="upsert", source=str(path), checkpoint_path=f"file://{tmp_path}/checkpoint.json"
    )

    with pytest.raises(MircateServerError) as raised:
        operator.execute(make_context("upsert"))

    assert "bulkProductUpsert" in str(raised.value)
    assert "(HTTP 503) after every retry" in str(raised.value)
    assert len(canary_conn.calls("bulkProductUpsert")) == MAX_ATTEMPTS
    assert canary_conn.calls("bulkProductUpsert", applied=True) == []
