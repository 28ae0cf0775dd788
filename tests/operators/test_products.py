"""MircateUpsertProductOperator.execute() against the local emulator."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_mircate.exceptions import (
    MircateBatchFailedError,
    MircateConfigError,
    MircateServerError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.products import MircateUpsertProductOperator
from airflow_provider_mircate.testing.emulator import MircateEmulator

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1 defines it in the core package only.
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

UPSERT_METHODS = ("upsertProduct", "bulkProductUpsert")


def make_context(task_id: str = "upsert", run_id: str = "manual__2024-05-01") -> dict[str, Any]:
    ti = SimpleNamespace(dag_id="catalog", run_id=run_id, task_id=task_id, map_index=-1, try_number=1)
    return {"ti": ti, "run_id": run_id}


def product(sku: str, **data: Any) -> dict[str, Any]:
    return {"dataType": "PRODUCT", "data": {"sku": sku, "family": "shoes", "status": "DRAFT", **data}}


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def operator(tmp_path: Path, **kwargs: Any) -> MircateUpsertProductOperator:
    kwargs.setdefault("checkpoint_path", f"file://{tmp_path}/checkpoints/")
    return MircateUpsertProductOperator(task_id="upsert", **kwargs)


def upsert_calls(emulator: MircateEmulator) -> list[dict[str, Any]]:
    return [c for c in emulator.calls() if c["method"] in UPSERT_METHODS]


CATALOG_SIZE = 1203


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "products.jsonl", [product(f"SKU_{i:05d}") for i in range(CATALOG_SIZE)])


# -- arguments ------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, 501, True, "500"])
def test_batch_size_out_of_range(batch_size: Any) -> None:
    with pytest.raises(MircateConfigError, match="batch_size"):
        MircateUpsertProductOperator(task_id="t", products=[], batch_size=batch_size)


def test_skip_needs_rejects_path() -> None:
    with pytest.raises(MircateConfigError, match="rejects_path"):
        MircateUpsertProductOperator(task_id="t", products=[], on_invalid="skip")


def test_products_and_source_exclusive() -> None:
    with pytest.raises(MircateConfigError, match="exactly one"):
        MircateUpsertProductOperator(task_id="t", products=[], source="/tmp/x.jsonl")
    with pytest.raises(MircateConfigError, match="exactly one"):
        MircateUpsertProductOperator(task_id="t")


def test_no_connection_lookup_at_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MIRCATE_DEFAULT", raising=False)
    op = MircateUpsertProductOperator(task_id="t", products=[product("A1")])
    assert "hook" not in op.__dict__


def test_template_fields() -> None:
    assert set(MircateUpsertProductOperator.template_fields) >= {"products", "source"}


# -- sending --------------------------------------------------------------------------------------


def test_single_product_uses_upsert_product(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    result = operator(tmp_path, products=product("ONE_1")).execute(make_context())
    assert result == {"batch_ids": [], "upserted": 1, "rejected": 0, "valid": 1, "dry_run": False}
    assert [c["method"] for c in upsert_calls(mircate_conn)] == ["upsertProduct"]
    assert mircate_conn.state.products["ONE_1"]["data"]["family"] == "shoes"


def test_bulk_from_jsonl_file(mircate_conn: MircateEmulator, tmp_path: Path, catalog_file: Path) -> None:
    result = operator(tmp_path, source=f"file://{catalog_file}").execute(make_context())
    assert mircate_conn.wait_for_batches(timeout=30)
    bulk = mircate_conn.calls(method="bulkProductUpsert", applied=True)
    assert [c["items"] for c in bulk] == [500, 500, 203]
    assert result["batch_ids"] == [c["batch_id"] for c in bulk]
    assert result["upserted"] == CATALOG_SIZE
    assert len({c["bulk_operation_id"] for c in bulk}) == 1
    assert len(mircate_conn.state.products) == CATALOG_SIZE


def test_bulk_batch_size(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    products = [product(f"B{i}") for i in range(5)]
    result = operator(tmp_path, products=products, batch_size=2).execute(make_context())
    assert len(result["batch_ids"]) == 3
    assert [c["items"] for c in mircate_conn.calls(method="bulkProductUpsert")] == [2, 2, 1]


@pytest.mark.s3
def test_bulk_from_s3(
    mircate_conn: MircateEmulator, tmp_path: Path, catalog_file: Path, s3_bucket: str, s3_client
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="feeds/products.jsonl", Body=catalog_file.read_bytes())
    result = operator(
        tmp_path, source=f"s3://{s3_bucket}/feeds/products.jsonl", source_conn_id="mircate_test_s3"
    ).execute(make_context())
    assert mircate_conn.wait_for_batches(timeout=30)
    assert result["upserted"] == CATALOG_SIZE
    assert len(result["batch_ids"]) == 3
    assert len(mircate_conn.state.products) == CATALOG_SIZE


def test_json_array_source(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    path = tmp_path / "products.json"
    path.write_text(json.dumps([product("J1"), product("J2")]))
    result = operator(tmp_path, source=str(path)).execute(make_context())
    assert result["upserted"] == 2
    assert mircate_conn.wait_for_batches(timeout=30)
    assert set(mircate_conn.state.products) == {"J1", "J2"}


def test_csv_source_with_attribute_types(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    MircateHook().upsert_attributes(
        [
            {"code": "price", "type": "PRICE"},
            {"code": "weight", "type": "NUMBER"},
            {"code": "name", "type": "TEXT"},
        ]
    )
    path = tmp_path / "products.csv"
    path.write_text(
        "sku,family,status,enabled,categories,attr.price,attr.weight,attr.name.en_US\n"
        "C1,shoes,ACTIVE,true,men|sale,12.50 EUR|13.00 USD,1.5,Runner\n"
        "C2,shoes,DRAFT,false,,,2,\n",
        encoding="utf-8",
    )
    result = operator(tmp_path, source=str(path)).execute(make_context())
    assert result["upserted"] == 2
    assert mircate_conn.wait_for_batches(timeout=30)
    stored = mircate_conn.state.products["C1"]["data"]
    assert stored["enabled"] is True
    assert stored["categories"] == ["men", "sale"]
    attributes = {a["code"]: a["data"] for a in stored["attributes"]}
    assert attributes["price"] == [
        {"value": [{"amount": "12.50", "currency": "EUR"}, {"amount": "13.00", "currency": "USD"}]}
    ]
    assert attributes["weight"] == [{"value": 1.5}]
    assert attributes["name"] == [{"locale": "en_US", "value": "Runner"}]
    assert len(mircate_conn.calls(method="getProductSettings")) == 1


def test_csv_unclosed_quote_fails_naming_line(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    rows = "".join(f"Q_{n},shoes,ACTIVE,Name {n}\n" for n in range(3, 101))
    path.write_text(
        'sku,family,status,code\nQ_1,shoes,ACTIVE,ok\nQ_2,shoes,ACTIVE,"Broken name\n' + rows,
        encoding="utf-8",
    )
    with pytest.raises(MircateValidationError) as info:
        operator(tmp_path, source=str(path)).execute(make_context())
    assert str(info.value).startswith("Line 3 of ")
    assert "Close the quote on line 3" in str(info.value)
    assert upsert_calls(mircate_conn) == []


def test_csv_closed_multiline_cell_is_sent(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    MircateHook().upsert_attributes([{"code": "notes", "type": "TEXTAREA"}])
    path = tmp_path / "products.csv"
    path.write_text(
        'sku,family,status,attr.notes\nM1,shoes,ACTIVE,"first line\nsecond line"\nM2,shoes,DRAFT,x\n',
        encoding="utf-8",
    )
    result = operator(tmp_path, source=str(path)).execute(make_context())
    assert result["upserted"] == 2
    assert mircate_conn.wait_for_batches(timeout=30)
    notes = mircate_conn.state.products["M1"]["data"]["attributes"][0]["data"]
    assert notes == [{"value": "first line\nsecond line"}]


# -- invalid records ------------------------------------------------------------------------------


def invalid_file(tmp_path: Path) -> Path:
    records = [product("V1"), product("bad sku"), product("V2", status="LIVE"), product("V3")]
    return write_jsonl(tmp_path / "mixed.jsonl", records)


def test_invalid_fails_and_sends_nothing(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    source = invalid_file(tmp_path)
    with pytest.raises(MircateValidationError) as info:
        operator(tmp_path, source=str(source)).execute(make_context())
    message = str(info.value)
    assert "2 of 4 product records" in message
    assert "line 2 sku 'bad sku', data.sku" in message
    assert "line 3 sku 'V2', data.status" in message
    assert "nothing was sent" in message
    assert [e["position"] for e in info.value.errors] == [2, 3]
    assert upsert_calls(mircate_conn) == []


def test_invalid_lists_at_most_twenty(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "bad.jsonl", [product(f"B{i}", status="LIVE") for i in range(25)])
    with pytest.raises(MircateValidationError) as info:
        operator(tmp_path, source=str(source)).execute(make_context())
    assert len(info.value.errors) == 20
    assert "... and 5 more problem(s)" in str(info.value)


def test_invalid_skip_writes_rejects(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    source = invalid_file(tmp_path)
    rejects = tmp_path / "out" / "rejects.jsonl"
    result = operator(tmp_path, source=str(source), on_invalid="skip", rejects_path=str(rejects)).execute(
        make_context()
    )
    assert result["upserted"] == 2
    assert result["rejected"] == 2
    assert mircate_conn.wait_for_batches(timeout=30)
    assert set(mircate_conn.state.products) == {"V1", "V3"}
    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [line["line"] for line in lines] == [2, 3]
    assert lines[0]["sku"] == "bad sku"
    assert lines[0]["errors"][0]["field"] == "data.sku"
    assert lines[1]["errors"][0]["field"] == "data.status"
    assert lines[1]["record"] == product("V2", status="LIVE")


def test_skip_with_all_invalid_sends_nothing(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    rejects = tmp_path / "rejects.jsonl"
    result = operator(
        tmp_path, products=[product("x y")], on_invalid="skip", rejects_path=str(rejects)
    ).execute(make_context())
    assert result["upserted"] == 0
    assert result["rejected"] == 1
    assert upsert_calls(mircate_conn) == []


def test_malformed_line_fails_before_sending(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    source = tmp_path / "broken.jsonl"
    source.write_text(json.dumps(product("A1")) + "\n{broken\n")
    with pytest.raises(MircateValidationError, match="Line 2"):
        operator(tmp_path, source=str(source)).execute(make_context())
    assert upsert_calls(mircate_conn) == []


def test_empty_products_list(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    with pytest.raises(MircateValidationError, match="no product records"):
        operator(tmp_path, products=[]).execute(make_context())


# -- duplicates -----------------------------------------------------------------------------------


def duplicate_file(tmp_path: Path) -> Path:
    records = [product("D1", family="first"), product("D2"), product("D1", family="second")]
    return write_jsonl(tmp_path / "dupes.jsonl", records)


def test_duplicate_fails_naming_both_lines(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    with pytest.raises(MircateValidationError) as info:
        operator(tmp_path, source=str(duplicate_file(tmp_path))).execute(make_context())
    assert "sku 'D1' appears on line 1 and again on line 3" in str(info.value)
    assert upsert_calls(mircate_conn) == []


def test_duplicate_last_wins(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    result = operator(tmp_path, source=str(duplicate_file(tmp_path)), on_duplicate="last_wins").execute(
        make_context()
    )
    assert result["upserted"] == 2
    assert mircate_conn.wait_for_batches(timeout=30)
    assert mircate_conn.state.products["D1"]["data"]["family"] == "second"
    assert [c["items"] for c in mircate_conn.calls(method="bulkProductUpsert")] == [2]


def test_model_codes_are_keys(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    models = [
        {"dataType": "PRODUCT_MODEL", "data": {"sku": "S1", "code": "M1", "family": "f", "status": "DRAFT"}},
        {"dataType": "PRODUCT_MODEL", "data": {"sku": "S2", "code": "M1", "family": "f", "status": "DRAFT"}},
    ]
    with pytest.raises(MircateValidationError, match="code 'M1' appears on item 0 and again on item 1"):
        operator(tmp_path, products=models).execute(make_context())


# -- dry run --------------------------------------------------------------------------------------


def test_dry_run_sends_nothing(mircate_conn: MircateEmulator, tmp_path: Path, catalog_file: Path) -> None:
    result = operator(tmp_path, source=str(catalog_file), dry_run=True).execute(make_context())
    assert result == {"batch_ids": [], "upserted": 0, "rejected": 0, "valid": CATALOG_SIZE, "dry_run": True}
    assert upsert_calls(mircate_conn) == []


# -- retry and resume -----------------------------------------------------------------------------


def test_retry_resumes_after_last_accepted_chunk(
    mircate_conn: MircateEmulator, tmp_path: Path, catalog_file: Path
) -> None:
    checkpoint = f"file://{tmp_path}/ckpt.json"
    mircate_conn.set_faults(fail_after={"method": "bulkProductUpsert", "count": 1, "status": 500})
    with pytest.raises(MircateServerError):
        operator(tmp_path, source=str(catalog_file), checkpoint_path=checkpoint).execute(make_context())
    assert len(mircate_conn.calls(method="bulkProductUpsert", applied=True)) == 1

    mircate_conn.clear_faults()
    result = operator(tmp_path, source=str(catalog_file), checkpoint_path=checkpoint).execute(make_context())
    assert mircate_conn.wait_for_batches(timeout=30)
    applied = mircate_conn.calls(method="bulkProductUpsert", applied=True)
    assert [c["items"] for c in applied] == [500, 500, 203]
    assert len({c["body_sha256"] for c in applied}) == 3
    assert result["batch_ids"] == [c["batch_id"] for c in applied]
    assert len(mircate_conn.state.products) == CATALOG_SIZE


def test_changed_input_does_not_resume(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    checkpoint = f"file://{tmp_path}/ckpt.json"
    mircate_conn.set_faults(fail_after={"method": "bulkProductUpsert", "count": 1, "status": 500})
    first = [product(f"F{i}") for i in range(4)]
    with pytest.raises(MircateServerError):
        operator(tmp_path, products=first, batch_size=2, checkpoint_path=checkpoint).execute(make_context())
    mircate_conn.clear_faults()
    changed = [product(f"F{i}", family="other") for i in range(4)]
    operator(tmp_path, products=changed, batch_size=2, checkpoint_path=checkpoint).execute(make_context())
    assert len(mircate_conn.calls(method="bulkProductUpsert", applied=True)) == 3


def test_success_clears_checkpoint(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    checkpoint = tmp_path / "ckpt.json"
    operator(tmp_path, products=[product("A1"), product("A2")], checkpoint_path=str(checkpoint)).execute(
        make_context()
    )
    assert not checkpoint.exists()


# -- waiting for the batches ----------------------------------------------------------------------


def test_wait_for_completion_sync(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    result = operator(
        tmp_path, products=[product("W1"), product("W2")], wait_for_completion=True, poll_interval=0.01
    ).execute(make_context())
    assert result["upserted"] == 2
    statuses = [mircate_conn.state.batches[b]["status"] for b in result["batch_ids"]]
    assert statuses == ["DONE"]
    assert mircate_conn.calls(method="checkBatchStatus")


def test_wait_fails_on_item_errors(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    MircateHook().upsert_attributes([{"code": "weight", "type": "NUMBER", "negativeAllowed": False}])
    # The local types omit negativeAllowed, so only the emulator rejects the item, inside the batch.
    records = [product("E1"), product("E2", attributes=[{"code": "weight", "data": [{"value": -1}]}])]
    with pytest.raises(MircateBatchFailedError, match="E2|failed"):
        operator(
            tmp_path,
            products=records,
            attribute_types={"weight": "NUMBER"},
            wait_for_completion=True,
            poll_interval=0.01,
        ).execute(make_context())


def test_deferrable_defers_with_trigger(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    op = operator(
        tmp_path,
        products=[product("T1"), product("T2")],
        wait_for_completion=True,
        deferrable=True,
        timeout=60,
    )
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    assert deferred.trigger.batch_ids == deferred.kwargs["result"]["batch_ids"]
    assert deferred.trigger.deadline is not None

    async def first_event() -> Any:
        async for event in deferred.trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    assert event["status"] == "success"
    result = op.execute_complete(make_context(), event, **deferred.kwargs)
    assert result["upserted"] == 2


def test_execute_complete_failed_event(tmp_path: Path) -> None:
    op = operator(tmp_path, products=[product("A1")])
    result = {"batch_ids": ["b1"], "upserted": 2, "rejected": 0, "valid": 2, "dry_run": False}
    event = {
        "status": "failed",
        "message": "1 of 1 batch failed",
        "batches": [{"batchId": "b1", "status": "FAILED"}],
    }
    with pytest.raises(MircateBatchFailedError, match="1 of 1 batch failed"):
        op.execute_complete(make_context(), event, result)


# -- secrets and lineage --------------------------------------------------------------------------


def test_api_key_never_logged(
    mircate_conn: MircateEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        result = operator(
            tmp_path, products=[product("K1"), product("K2")], wait_for_completion=True, poll_interval=0.01
        ).execute(make_context())
    assert mircate_conn.api_key not in caplog.text
    assert mircate_conn.api_key not in json.dumps(result)


def test_openlineage_datasets(mircate_conn: MircateEmulator, tmp_path: Path, catalog_file: Path) -> None:
    pytest.importorskip("airflow.providers.openlineage")
    lineage = operator(tmp_path, source=f"file://{catalog_file}").get_openlineage_facets_on_complete(None)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", str(catalog_file))]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [
        (f"mircate://{mircate_conn.account_id}", "products")
    ]


class AppendsBetweenPasses(MircateUpsertProductOperator):
    """An upsert whose source file gets one more line after validation, as a writer still filling it would."""

    def _send(self, context, product_input, scan):
        with open(self.source, "a") as handle:
            handle.write(json.dumps({"dataType": "PRODUCT", "data": {"sku": "bad sku"}}) + "\n")
        return super()._send(context, product_input, scan)


def test_file_changed_after_validation_sends_nothing(mircate_conn: MircateEmulator, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "growing.jsonl", [product(f"G{i}") for i in range(5)])
    op = AppendsBetweenPasses(
        task_id="upsert", source=str(source), checkpoint_path=str(tmp_path / "checkpoints") + "/"
    )

    with pytest.raises(MircateValidationError, match="changed while it was being validated"):
        op.execute(make_context())

    assert upsert_calls(mircate_conn) == []
    assert mircate_conn.state.products == {}
