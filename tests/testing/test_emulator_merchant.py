"""Merchant stock and price methods in the emulator: feeds, batch status, exports, history, removal."""

from __future__ import annotations

import csv
import io

import pytest
import requests


def stock(sku, quantity, warehouse=None):
    item = {"sku": sku, "quantity": quantity}
    if warehouse:
        item["warehouse"] = warehouse
    return item


def test_receive_stock_batch_done(merchant_api, emulator):
    response = merchant_api.post(
        "receiveStock", {"items": [stock("S1", 5), stock("S2", 0, "ist")], "bulkOperationId": "feed-1"}
    )
    assert response.status_code == 200
    batch_id = response.json()["batchId"]
    emulator.wait_for_batches(timeout=10)
    status = merchant_api.get("checkBatchStatus", {"batchId": batch_id}).json()
    assert status["status"] == "DONE"
    assert status["processed"] == 2
    assert status["bulkOperationId"] == "feed-1"
    assert emulator.state.stock["S2:ist"]["quantity"] == 0


def test_receive_price_batch_with_invalid_item(merchant_api, emulator):
    items = [
        {"sku": "S1", "price": "12.50", "currency": "EUR", "channel": "web", "listPrice": "15.00"},
        {"sku": "S2", "price": 12.5, "currency": "EUR"},
        {"sku": "S3", "price": "3", "currency": "eur"},
    ]
    batch_id = merchant_api.post("receivePrice", {"items": items}).json()["batchId"]
    emulator.wait_for_batches(timeout=10)
    status = merchant_api.get("checkBatchStatus", {"batchId": batch_id}).json()
    assert status["status"] == "DONE"
    assert status["failed"] == 2
    assert [e["sku"] for e in status["errors"]] == ["S2", "S3"]
    assert emulator.state.prices["S1:EUR:web"]["listPrice"] == "15.00"


@pytest.mark.parametrize(
    ("item", "word"),
    [(stock("S1", -1), "quantity"), (stock("S1", 1.5), "quantity"), (stock("bad sku", 1), "sku")],
)
def test_invalid_stock_item_fails_alone(merchant_api, emulator, item, word):
    batch_id = merchant_api.post("receiveStock", {"items": [item]}).json()["batchId"]
    emulator.wait_for_batches(timeout=10)
    status = merchant_api.get("checkBatchStatus", {"batchId": batch_id}).json()
    assert status["status"] == "FAILED"
    assert word in status["errors"][0]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": []},
        {"items": [stock(f"S{i}", 1) for i in range(501)]},
        {"items": [stock("S", 1)], "frequency": 11},
    ],
)
def test_receive_stock_request_validation_400(merchant_api, body):
    assert merchant_api.post("receiveStock", body).status_code == 400


def test_frequency_uses_scale(merchant_api, emulator):
    emulator.frequency_scale = 0.0
    merchant_api.post("receiveStock", {"items": [stock("S1", 1)], "frequency": 10})
    assert emulator.wait_for_batches(timeout=10)


def test_item_delay_kept_after_batch_ends(merchant_api, emulator):
    batch_id = merchant_api.post("receiveStock", {"items": [stock("S1", 1)], "frequency": 3}).json()[
        "batchId"
    ]
    assert emulator.wait_for_batches(timeout=10)

    assert batch_id not in emulator.state.batch_payloads
    assert emulator.state.batches[batch_id]["itemDelay"] == pytest.approx(3 * emulator.frequency_scale)
    status = merchant_api.get("checkBatchStatus", {"batchId": batch_id}).json()
    assert "itemDelay" not in status


def test_check_batch_status_is_get_and_404(merchant_api):
    assert merchant_api.get("checkBatchStatus", {"batchId": "b-nope"}).status_code == 404
    assert merchant_api.get("checkBatchStatus", {}).status_code == 400
    assert merchant_api.post("checkBatchStatus", {"batchId": "x"}).status_code == 405


def test_pim_batch_not_visible_to_merchant(api, merchant_api, emulator):
    batch_id = api.post("bulkProductUpsert", {"products": [{"dataType": "PRODUCT"}]}).json()["batchId"]
    assert merchant_api.get("checkBatchStatus", {"batchId": batch_id}).status_code == 404


def test_export_flow_serves_csv(merchant_api, emulator):
    merchant_api.post("receiveStock", {"items": [stock("S1", 4, "ist"), stock("S2", 9)]})
    merchant_api.post("receivePrice", {"items": [{"sku": "S1", "price": "9.90", "currency": "TRY"}]})
    emulator.wait_for_batches(timeout=10)
    export_id = merchant_api.post("exportStockPrice", {}).json()["exportId"]
    emulator.wait_for_batches(timeout=10)
    exports = merchant_api.post("listExports", {}).json()["exports"]
    assert exports[0]["exportId"] == export_id
    assert exports[0]["status"] == "DONE"
    files = merchant_api.post("getExportedFiles", {"exportId": export_id}).json()["files"]
    assert [f["name"] for f in files] == ["stock.csv", "prices.csv"]
    response = requests.get(files[0]["url"], headers={"x-api-key": emulator.merchant_api_key}, timeout=5)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert len(response.content) == files[0]["size"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["sku"], r["warehouse"], r["quantity"]) for r in rows] == [("S1", "ist", "4"), ("S2", "", "9")]
    prices = requests.get(files[1]["url"], headers={"x-api-key": emulator.merchant_api_key}, timeout=5).text
    assert "S1,TRY,,9.90" in prices


def test_export_file_needs_merchant_key(merchant_api, emulator):
    export_id = merchant_api.post("exportStockPrice", {}).json()["exportId"]
    emulator.wait_for_batches(timeout=10)
    url = merchant_api.post("getExportedFiles", {"exportId": export_id}).json()["files"][0]["url"]
    assert requests.get(url, timeout=5).status_code == 403
    assert requests.get(url, headers={"x-api-key": emulator.api_key}, timeout=5).status_code == 403


def test_get_exported_files_unknown_is_404(merchant_api):
    assert merchant_api.post("getExportedFiles", {"exportId": "e-nope"}).status_code == 404
    assert merchant_api.post("getExportedFiles", {}).status_code == 400


def test_stock_price_history_filters(merchant_api, emulator):
    ticks = iter(float(t) for t in range(1_700_000_000, 1_700_000_100))
    emulator.state.clock = lambda: next(ticks)
    merchant_api.post("receiveStock", {"items": [stock("S1", 1), stock("S2", 2), stock("S1", 3)]})
    emulator.wait_for_batches(timeout=10)
    history = merchant_api.post("getStockPriceHistory", {"sku": "S1"}).json()["history"]
    assert [h["quantity"] for h in history] == [1, 3]
    after = merchant_api.post("getStockPriceHistory", {"from": history[1]["at"]}).json()["history"]
    assert [h["sku"] for h in after] == ["S1"]
    assert merchant_api.post("getStockPriceHistory", {"to": "soon"}).status_code == 400


def test_remove_and_clean_my_products(merchant_api, emulator):
    merchant_api.post("receiveStock", {"items": [stock("S1", 1), stock("S2", 2), stock("S3", 3)]})
    merchant_api.post("receivePrice", {"items": [{"sku": "S1", "price": "1", "currency": "EUR"}]})
    emulator.wait_for_batches(timeout=10)
    assert merchant_api.post("removeMyProducts", {"skus": ["S1", "S9"]}).json() == {"removed": 1}
    assert {r["sku"] for r in emulator.state.stock.values()} == {"S2", "S3"}
    assert emulator.state.prices == {}
    assert merchant_api.post("cleanMyProducts", {}).json() == {"removed": 2}
    assert emulator.state.stock == {}
    assert merchant_api.post("removeMyProducts", {"skus": "S1"}).status_code == 400


def test_merchant_feed_logged_with_items(merchant_api, emulator):
    merchant_api.post("receiveStock", {"items": [stock("S1", 1)] * 3, "bulkOperationId": "op-7"})
    entry = emulator.calls(method="receiveStock")[0]
    assert entry["api_class"] == "MerchantAPI"
    assert entry["items"] == 3
    assert entry["bulk_operation_id"] == "op-7"
    assert entry["account_id"] == emulator.merchant_account_id
