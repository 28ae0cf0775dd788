"""Merchant stock and price operators against the emulator on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 3.1 raises the core class.
    from airflow.exceptions import TaskDeferred  # type: ignore[no-redef]

from airflow_provider_mircate.exceptions import (
    MircateAuthError,
    MircateConfigError,
    MircateServerError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.merchant import (
    MircateReceivePriceOperator,
    MircateReceiveStockOperator,
)
from airflow_provider_mircate.operators.merchant_exports import (
    MircateExportStockPriceOperator,
    MircateStockPriceHistoryOperator,
)
from airflow_provider_mircate.operators.merchant_products import (
    MircateCleanMyProductsOperator,
    MircateRemoveMyProductsOperator,
)
from airflow_provider_mircate.testing.pytest_plugin import TEST_CONNECTION_EXTRAS

MERCHANT_CONN_ID = "mircate_merchant_default"


@pytest.fixture
def merchant(mircate_conn, monkeypatch: pytest.MonkeyPatch):
    """The emulator, with ``mircate_merchant_default`` pointing at its merchant account and no retries."""
    extras = {**TEST_CONNECTION_EXTRAS, "max_retries": 0}
    monkeypatch.setenv(f"AIRFLOW_CONN_{MERCHANT_CONN_ID.upper()}", mircate_conn.merchant_conn_json(**extras))
    return mircate_conn


def make_context(task_id: str = "push_prices", try_number: int = 1) -> dict[str, Any]:
    """A task context with the identity fields the checkpoint and the bulk operation id are built from."""
    ti = SimpleNamespace(
        dag_id="merchant_feed",
        run_id="manual__2026-12-04",
        task_id=task_id,
        map_index=-1,
        try_number=try_number,
    )
    return {"ti": ti, "task_instance": ti, "run_id": ti.run_id}


def write_price_csv(path: Path, count: int) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "price", "currency", "channel", "listPrice"])
        for number in range(count):
            writer.writerow([f"SKU_{number:05d}", f"{number % 997}.{number % 100:02d}", "EUR", "web", ""])
    return path


def price_operator(tmp_path: Path, **kwargs: Any) -> MircateReceivePriceOperator:
    kwargs.setdefault("checkpoint_path", f"{tmp_path}/checkpoints/")
    return MircateReceivePriceOperator(task_id="push_prices", **kwargs)


def stock_operator(tmp_path: Path, **kwargs: Any) -> MircateReceiveStockOperator:
    kwargs.setdefault("checkpoint_path", f"{tmp_path}/checkpoints/")
    return MircateReceiveStockOperator(task_id="push_stock", **kwargs)


# -- price feed from a file ---------------------------------------------------------------------------


def test_price_feed_sends_20_batches(merchant, tmp_path: Path) -> None:
    source = write_price_csv(tmp_path / "prices.csv", 10_000)

    result = price_operator(tmp_path, source=str(source)).execute(make_context())

    calls = merchant.calls(method="receivePrice", applied=True)
    assert len(calls) == 20
    assert [call["items"] for call in calls] == [500] * 20
    assert {call["bulk_operation_id"] for call in calls} == {result["bulk_operation_id"]}
    assert result["batch_ids"] == [call["batch_id"] for call in calls]
    assert result["sent"] == 10_000
    assert result["rejected"] == 0


def test_price_feed_retry_resumes_after_batch_7(merchant, tmp_path: Path) -> None:
    source = write_price_csv(tmp_path / "prices.csv", 10_000)
    merchant.set_faults(fail_after={"method": "receivePrice", "count": 7, "status": 500})

    with pytest.raises(MircateServerError):
        price_operator(tmp_path, source=str(source)).execute(make_context(try_number=1))
    merchant.clear_faults()
    result = price_operator(tmp_path, source=str(source)).execute(make_context(try_number=2))

    applied = merchant.calls(method="receivePrice", applied=True)
    assert len(applied) == 20
    assert len({call["body_sha256"] for call in applied}) == 20
    assert {call["bulk_operation_id"] for call in applied} == {result["bulk_operation_id"]}
    assert len(result["batch_ids"]) == 20
    assert result["batch_ids"][:7] == [call["batch_id"] for call in applied[:7]]
    merchant.wait_for_batches()
    stored = {record["sku"] for record in merchant.state.prices.values()}
    assert stored == {f"SKU_{number:05d}" for number in range(10_000)}


def test_price_feed_from_items_in_one_batch(merchant, tmp_path: Path) -> None:
    items = [{"sku": f"A{number}", "price": "1.00", "currency": "USD"} for number in range(3)]

    result = price_operator(tmp_path, items=items).execute(make_context())

    calls = merchant.calls(method="receivePrice", applied=True)
    assert len(calls) == 1
    assert calls[0]["items"] == 3
    assert result["sent"] == 3


def test_bulk_operation_id_stable_across_tries(merchant, tmp_path: Path) -> None:
    items = [{"sku": "A1", "quantity": 1}]
    stock = stock_operator(tmp_path, items=items)

    first = stock.execute(make_context("push_stock", try_number=1))
    second = stock.execute(make_context("push_stock", try_number=2))
    other_task = stock.execute(make_context("push_stock_eu", try_number=1))

    assert first["bulk_operation_id"] == second["bulk_operation_id"]
    assert first["bulk_operation_id"] != other_task["bulk_operation_id"]


# -- prices as exact decimal strings ----------------------------------------------------------------


def test_prices_stored_as_strings(merchant, tmp_path: Path) -> None:
    items = [
        {"sku": "FLOAT", "price": 19.99, "currency": "EUR"},
        {"sku": "INT", "price": 5, "currency": "EUR", "listPrice": 7},
        {"sku": "TEXT", "price": "12.50", "currency": "EUR", "channel": "web"},
    ]

    price_operator(tmp_path, items=items).execute(make_context())
    merchant.wait_for_batches()

    stored = {record["sku"]: record for record in merchant.state.prices.values()}
    assert stored["FLOAT"]["price"] == "19.99"
    assert stored["INT"]["price"] == "5"
    assert stored["INT"]["listPrice"] == "7"
    assert stored["TEXT"]["price"] == "12.50"
    assert stored["TEXT"]["channel"] == "web"


# -- validation -------------------------------------------------------------------------------------


def test_validation_errors_name_lines(merchant, tmp_path: Path) -> None:
    source = tmp_path / "prices.jsonl"
    rows = [
        {"sku": "OK_1", "price": "1.00", "currency": "EUR"},
        {"sku": "FLOATY", "price": 0.1 + 0.2, "currency": "EUR"},
        {"sku": "LOWER", "price": "3.00", "currency": "eur"},
        {"sku": "bad sku!", "price": "4.00", "currency": "EUR"},
        {"sku": "NEG", "price": "-1", "currency": "EUR"},
    ]
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))

    with pytest.raises(MircateValidationError) as caught:
        price_operator(tmp_path, source=str(source)).execute(make_context())

    by_line = {error["line"]: error for error in caught.value.errors}
    assert sorted(by_line) == [2, 3, 4, 5]
    assert by_line[2]["field"] == "price"
    assert "17 decimal places" in by_line[2]["message"]
    assert by_line[3]["field"] == "currency"
    assert by_line[4]["field"] == "sku"
    assert by_line[5]["field"] == "price"
    assert "line 2 (sku FLOATY)" in str(caught.value)
    assert merchant.calls(method="receivePrice") == []


def test_negative_quantity_names_csv_line(merchant, tmp_path: Path) -> None:
    source = tmp_path / "stock.csv"
    source.write_text("sku,quantity,warehouse\nA1,5,IST\nA2,-3,IST\nA3,2.5,\n")

    with pytest.raises(MircateValidationError) as caught:
        stock_operator(tmp_path, source=str(source)).execute(make_context("push_stock"))

    by_line = {error["line"]: error for error in caught.value.errors}
    assert sorted(by_line) == [3, 4]
    assert "negative" in by_line[3]["message"]
    assert "integer" in by_line[4]["message"]
    assert merchant.calls(method="receiveStock") == []


def test_csv_unclosed_quote_fails_naming_line(merchant, tmp_path: Path) -> None:
    source = tmp_path / "stock.csv"
    rows = "".join(f"S{n},{n},IST\n" for n in range(3, 50))
    source.write_text('sku,quantity,warehouse\nS1,5,IST\nS2,4,"IST\n' + rows)

    with pytest.raises(MircateValidationError) as caught:
        stock_operator(tmp_path, source=str(source)).execute(make_context("push_stock"))

    assert str(caught.value).startswith("Line 3 of ")
    assert "never closed" in str(caught.value)
    assert merchant.calls(method="receiveStock") == []


def test_unknown_csv_column_fails_file(merchant, tmp_path: Path) -> None:
    source = tmp_path / "stock.csv"
    source.write_text("sku,qty\nA1,5\n")
    operator = stock_operator(
        tmp_path, source=str(source), on_invalid="skip", rejects_path=str(tmp_path / "rejects.jsonl")
    )

    with pytest.raises(MircateValidationError, match=r"unknown column\(s\) \['qty'\]"):
        operator.execute(make_context())


def test_skip_sends_valid_and_writes_rejects(merchant, tmp_path: Path) -> None:
    source = tmp_path / "stock.csv"
    source.write_text("sku,quantity,warehouse\nA1,5,IST\nA2,-3,IST\nA3,7,\n")
    rejects = tmp_path / "rejects.jsonl"
    operator = stock_operator(tmp_path, source=str(source), on_invalid="skip", rejects_path=str(rejects))

    result = operator.execute(make_context("push_stock"))
    merchant.wait_for_batches()

    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [line["line"] for line in lines] == [3]
    assert lines[0]["row"]["sku"] == "A2"
    assert result["sent"] == 2
    assert result["rejected"] == 1
    stored = {(r["sku"], r["warehouse"]): r["quantity"] for r in merchant.state.stock.values()}
    assert stored == {("A1", "IST"): 5, ("A3", None): 7}


def write_duplicate_stock(path: Path) -> Path:
    path.write_text("sku,quantity,warehouse\nS1,5,IST\nS2,1,IST\nS1,7,IST\nS1,9,IST\nS1,3,ANK\n")
    return path


def test_duplicate_stock_fails_naming_lines(merchant, tmp_path: Path) -> None:
    source = write_duplicate_stock(tmp_path / "stock.csv")

    with pytest.raises(MircateValidationError) as caught:
        stock_operator(tmp_path, source=str(source)).execute(make_context("push_stock"))

    by_line = {error["line"]: error for error in caught.value.errors}
    assert sorted(by_line) == [4, 5]
    assert "appears on line 2 and again on line 4" in by_line[4]["message"]
    assert "appears on line 2 and again on line 5" in by_line[5]["message"]
    assert "sku 'S1', warehouse 'IST'" in by_line[4]["message"]
    assert by_line[4]["sku"] == "S1"
    assert "on_duplicate='last_wins'" in str(caught.value)
    assert merchant.calls(method="receiveStock") == []


def test_duplicate_stock_last_wins(merchant, tmp_path: Path) -> None:
    source = write_duplicate_stock(tmp_path / "stock.csv")

    result = stock_operator(tmp_path, source=str(source), on_duplicate="last_wins").execute(
        make_context("push_stock")
    )
    merchant.wait_for_batches()

    assert result["sent"] == 3
    assert result["rejected"] == 0
    calls = merchant.calls(method="receiveStock", applied=True)
    assert [call["items"] for call in calls] == [3]
    stored = {(r["sku"], r["warehouse"]): r["quantity"] for r in merchant.state.stock.values()}
    assert stored == {("S1", "IST"): 9, ("S2", "IST"): 1, ("S1", "ANK"): 3}


def test_duplicate_stock_skip_writes_rejects(merchant, tmp_path: Path) -> None:
    source = write_duplicate_stock(tmp_path / "stock.csv")
    rejects = tmp_path / "rejects.jsonl"
    operator = stock_operator(tmp_path, source=str(source), on_invalid="skip", rejects_path=str(rejects))

    result = operator.execute(make_context("push_stock"))
    merchant.wait_for_batches()

    lines = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [line["line"] for line in lines] == [4, 5]
    assert result["sent"] == 3
    assert result["rejected"] == 2
    stored = {(r["sku"], r["warehouse"]): r["quantity"] for r in merchant.state.stock.values()}
    assert stored[("S1", "IST")] == 5


def test_duplicate_price_key_includes_channel(merchant, tmp_path: Path) -> None:
    items = [
        {"sku": "P1", "price": "1.00", "currency": "EUR", "channel": "web"},
        {"sku": "P1", "price": "2.00", "currency": "EUR", "channel": "shop"},
        {"sku": "P1", "price": "3.00", "currency": "USD", "channel": "web"},
        {"sku": "P1", "price": "4.00", "currency": "EUR", "channel": "web"},
    ]

    with pytest.raises(MircateValidationError) as caught:
        price_operator(tmp_path, items=items).execute(make_context())

    assert [error["index"] for error in caught.value.errors] == [3]
    assert "appears on index 0 and again on index 3" in caught.value.errors[0]["message"]
    assert merchant.calls(method="receivePrice") == []


def test_duplicate_price_last_wins(merchant, tmp_path: Path) -> None:
    items = [
        {"sku": "P1", "price": "1.00", "currency": "EUR"},
        {"sku": "P2", "price": "2.00", "currency": "EUR"},
        {"sku": "P1", "price": "4.00", "currency": "EUR"},
    ]

    result = price_operator(tmp_path, items=items, on_duplicate="last_wins").execute(make_context())
    merchant.wait_for_batches()

    assert result["sent"] == 2
    stored = {record["sku"]: record["price"] for record in merchant.state.prices.values()}
    assert stored == {"P1": "4.00", "P2": "2.00"}


def test_invalid_on_duplicate_fails_at_init() -> None:
    with pytest.raises(MircateConfigError, match="on_duplicate='first'"):
        MircateReceiveStockOperator(task_id="s", items=[], on_duplicate="first")


def test_invalid_arguments_fail_at_init() -> None:
    with pytest.raises(MircateConfigError, match="batch_size"):
        MircateReceiveStockOperator(task_id="t", items=[], batch_size=501)
    with pytest.raises(MircateValidationError, match="frequency"):
        MircateReceiveStockOperator(task_id="t", items=[], frequency=11)
    with pytest.raises(MircateConfigError, match="rejects_path"):
        MircateReceiveStockOperator(task_id="t", items=[], on_invalid="skip")
    with pytest.raises(MircateConfigError, match="exactly one"):
        MircateReceiveStockOperator(task_id="t")


def test_frequency_passed_through(merchant, tmp_path: Path) -> None:
    items = [{"sku": "A1", "quantity": 1}]
    stock_operator(tmp_path, items=items, frequency=2).execute(make_context("push_stock"))

    batch_id = merchant.calls(method="receiveStock")[0]["batch_id"]
    merchant.wait_for_batches()
    # The emulator waits frequency * frequency_scale seconds between the items of a batch. The batch
    # record keeps the delay after the batch finished, unlike batch_payloads.
    delay = merchant.state.batches[batch_id]["itemDelay"]
    assert delay == pytest.approx(2 * merchant.frequency_scale)


# -- waiting for the batches ------------------------------------------------------------------------


def test_wait_for_completion_polls_until_done(merchant, tmp_path: Path) -> None:
    items = [{"sku": f"A{number}", "quantity": number} for number in range(1200)]
    operator = stock_operator(
        tmp_path, items=items, wait_for_completion=True, deferrable=False, poll_interval=0.05
    )

    result = operator.execute(make_context("push_stock"))

    assert len(result["batch_ids"]) == 3
    hook = MircateHook(MERCHANT_CONN_ID)
    assert {hook.check_batch_status(b)["status"] for b in result["batch_ids"]} == {"DONE"}


def test_deferrable_wait_resumes_with_result(merchant, tmp_path: Path) -> None:
    items = [{"sku": "A1", "price": "2.50", "currency": "EUR"}]
    operator = price_operator(
        tmp_path, items=items, wait_for_completion=True, deferrable=True, poll_interval=0.05
    )

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(make_context())
    trigger = deferred.value.trigger
    event = asyncio.run(first_event(trigger))
    result = operator.execute_complete(make_context(), event.payload, **deferred.value.kwargs)

    assert trigger.api_class == "MerchantAPI"
    assert trigger.http_method == "GET"
    assert event.payload["status"] == "success"
    assert result["batch_ids"] == [merchant.calls(method="receivePrice")[0]["batch_id"]]
    assert {call["http_method"] for call in merchant.calls(method="checkBatchStatus")} == {"GET"}


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


# -- keys -------------------------------------------------------------------------------------------


def test_pim_key_rejected_by_merchant_api(merchant, monkeypatch: pytest.MonkeyPatch) -> None:
    conn = json.loads(merchant.merchant_conn_json(max_retries=0))
    conn["password"] = merchant.api_key
    monkeypatch.setenv("AIRFLOW_CONN_MERCHANT_WITH_PIM_KEY", json.dumps(conn))
    pim_hook = MircateHook("merchant_with_pim_key")

    with pytest.raises(MircateAuthError):
        pim_hook.receive_price([{"sku": "A1", "price": "1.00", "currency": "EUR"}], bulk_operation_id="op")

    assert merchant.calls(method="receivePrice", applied=True) == []


def test_feed_rejects_pim_connection(merchant, tmp_path: Path) -> None:
    operator = price_operator(
        tmp_path, items=[{"sku": "A1", "price": "1.00", "currency": "EUR"}], mircate_conn_id="mircate_default"
    )

    with pytest.raises(MircateConfigError, match="api=merchant"):
        operator.execute(make_context())


def test_merchant_key_never_logged(
    merchant, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    source = write_price_csv(tmp_path / "prices.csv", 600)
    merchant.set_faults(fail_after={"method": "receivePrice", "count": 1, "status": 500})

    with pytest.raises(MircateServerError) as failure:
        price_operator(tmp_path, source=str(source)).execute(make_context())
    merchant.clear_faults()
    result = price_operator(tmp_path, source=str(source)).execute(make_context(try_number=2))

    key = merchant.merchant_api_key
    printed = capfd.readouterr()
    assert "Resuming" in printed.out + printed.err
    assert key not in printed.out + printed.err
    assert key not in caplog.text
    assert key not in str(failure.value)
    assert key not in json.dumps(result)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and key in p.read_text(errors="replace")]


# -- export, history and removal --------------------------------------------------------------------


def seed_feed(tmp_path: Path) -> None:
    """Store three prices and two stock levels in the emulator through the feed operators."""
    prices = [{"sku": f"P{number}", "price": f"{number}.25", "currency": "EUR"} for number in range(3)]
    stock = [{"sku": "P0", "quantity": 4, "warehouse": "IST"}, {"sku": "P1", "quantity": 0}]
    price_operator(tmp_path, items=prices).execute(make_context())
    stock_operator(tmp_path, items=stock).execute(make_context("push_stock"))


def test_export_downloads_to_local_folder(merchant, tmp_path: Path) -> None:
    seed_feed(tmp_path)
    merchant.wait_for_batches()
    operator = MircateExportStockPriceOperator(
        task_id="export", destination=str(tmp_path / "exports"), poll_interval=0.05, deferrable=False
    )

    result = operator.execute(make_context("export"))

    names = sorted(Path(p.removeprefix("file://")).name for p in result["paths"])
    assert names == ["prices.csv", "stock.csv"]
    prices = (tmp_path / "exports" / "prices.csv").read_text()
    assert "P2,EUR,,2.25" in prices
    assert result["bytes"] == sum((tmp_path / "exports" / n).stat().st_size for n in names)
    assert [p.name for p in (tmp_path / "exports").iterdir() if p.name.startswith(".")] == []


@pytest.mark.s3
def test_export_downloads_to_s3(merchant, tmp_path: Path, s3_bucket: str, s3_client) -> None:
    seed_feed(tmp_path)
    merchant.wait_for_batches()
    operator = MircateExportStockPriceOperator(
        task_id="export",
        destination=f"s3://{s3_bucket}/exports/",
        dest_conn_id="mircate_test_s3",
        poll_interval=0.05,
        deferrable=False,
    )

    result = operator.execute(make_context("export"))

    listing = s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="exports/")
    keys = sorted(obj["Key"] for obj in listing.get("Contents", []))
    assert keys == ["exports/prices.csv", "exports/stock.csv"]
    body = s3_client.get_object(Bucket=s3_bucket, Key="exports/stock.csv")["Body"].read().decode()
    assert "P0,IST,4" in body
    assert len(result["paths"]) == 2


def test_export_deferrable_downloads_after_event(merchant, tmp_path: Path) -> None:
    seed_feed(tmp_path)
    operator = MircateExportStockPriceOperator(
        task_id="export", destination=str(tmp_path / "exports"), poll_interval=0.05, deferrable=True
    )

    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(make_context("export"))
    event = asyncio.run(first_event(deferred.value.trigger))
    result = operator.execute_complete(make_context("export"), event.payload, **deferred.value.kwargs)

    assert event.payload["status"] == "success"
    assert result["export_id"] == deferred.value.kwargs["export_id"]
    assert (tmp_path / "exports" / "stock.csv").exists()


def test_download_rejects_foreign_host(merchant) -> None:
    hook = MircateHook(MERCHANT_CONN_ID)
    foreign = merchant.url.replace("127.0.0.1", "localhost") + "/_emulator/files/e-1/stock.csv"
    before = len(merchant.requests)

    with pytest.raises(MircateConfigError, match="only sent to the connection's host"):
        hook.download_exported_file(foreign)

    assert len(merchant.requests) == before


def test_history_written_as_json_lines(merchant, tmp_path: Path) -> None:
    seed_feed(tmp_path)
    merchant.wait_for_batches()
    target = tmp_path / "history" / "p0.jsonl"
    operator = MircateStockPriceHistoryOperator(task_id="history", destination=str(target), sku="P0")

    result = operator.execute(make_context("history"))

    changes = [json.loads(line) for line in target.read_text().splitlines()]
    assert result["count"] == 2
    assert {change["type"] for change in changes} == {"price", "stock"}
    assert {change["sku"] for change in changes} == {"P0"}


def test_remove_without_confirm_removes_nothing(merchant, tmp_path: Path) -> None:
    seed_feed(tmp_path)
    merchant.wait_for_batches()
    operator = MircateRemoveMyProductsOperator(task_id="remove", skus=["P0", "P1"])

    with pytest.raises(MircateConfigError) as refused:
        operator.execute(make_context("remove"))

    assert "would remove 2 product(s)" in str(refused.value)
    assert "P0, P1" in str(refused.value)
    assert "confirm=True" in str(refused.value)
    assert merchant.calls(method="removeMyProducts") == []


def test_remove_with_confirm_logs_skus(merchant, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    seed_feed(tmp_path)
    merchant.wait_for_batches()
    operator = MircateRemoveMyProductsOperator(task_id="remove", skus=["P0", "P1"], confirm=True)

    result = operator.execute(make_context("remove"))

    printed = capfd.readouterr().out
    assert result == {"requested": 2, "removed": 2}
    assert "Removed 2 of 2 requested product(s)" in printed
    assert "first skus: P0, P1" in printed
    assert {record["sku"] for record in merchant.state.prices.values()} == {"P2"}
    assert merchant.state.stock == {}


def test_remove_checks_listed_skus_at_init() -> None:
    with pytest.raises(MircateConfigError, match="do not match"):
        MircateRemoveMyProductsOperator(task_id="remove", skus=["ok_1", "not ok"])
    with pytest.raises(MircateConfigError, match="confirm"):
        MircateRemoveMyProductsOperator(task_id="remove", skus=["ok_1"], confirm="yes")


def test_clean_requires_confirm(merchant, tmp_path: Path) -> None:
    seed_feed(tmp_path)
    merchant.wait_for_batches()

    with pytest.raises(MircateConfigError, match="would remove every product"):
        MircateCleanMyProductsOperator(task_id="clean").execute(make_context("clean"))
    assert merchant.calls(method="cleanMyProducts") == []

    result = MircateCleanMyProductsOperator(task_id="clean", confirm=True).execute(make_context("clean"))
    assert result == {"removed": 3}
    assert merchant.state.prices == {}


# -- example DAG ------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.dagrun
def test_example_dag_sends_and_archives_drop(mircate_emulator, tmp_path: Path) -> None:
    drop = tmp_path / "drop" / "incoming"
    drop.mkdir(parents=True)
    for name in ("prices.csv", "stock.csv"):
        shutil.copyfile(REPO / "example_dags" / "data" / "merchant" / name, drop / name)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_MIRCATE_MERCHANT_DEFAULT": mircate_emulator.merchant_conn_json(
            **TEST_CONNECTION_EXTRAS
        ),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)

    run = subprocess.run(
        [
            airflow,
            "dags",
            "test",
            "mircate_stock_price_feed",
            "-c",
            json.dumps({"feed_uri": f"file://{drop}"}),
        ],
        env=env,
        capture_output=True,
        text=True,
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert len(mircate_emulator.state.prices) == 600
    assert len(mircate_emulator.state.stock) == 600
    assert sorted(p.name for p in drop.iterdir()) == []
    archived = sorted(p.name for p in (tmp_path / "drop" / "archive").rglob("*.csv"))
    assert archived == ["prices.csv", "stock.csv"]


def test_item_fields_rename_body_fields(merchant, tmp_path: Path) -> None:
    items = [{"sku": "S1", "quantity": 4, "warehouse": "IST"}]
    operator = stock_operator(tmp_path, items=items, item_fields={"quantity": "stockLevel"})

    operator.execute(make_context("push_stock"))
    merchant.wait_for_batches()

    # The emulator reads the field as quantity, so the renamed field reaches it and fails the item.
    batch = next(iter(merchant.state.batches.values()))
    assert batch["failed"] == 1
    assert "quantity" in batch["errors"][0]["message"]
    assert merchant.state.stock == {}


def test_item_fields_must_map_names(tmp_path: Path) -> None:
    with pytest.raises(MircateConfigError, match="item_fields"):
        stock_operator(tmp_path, items=[{"sku": "S1", "quantity": 1}], item_fields={"quantity": ""})
