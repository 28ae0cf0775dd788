"""State kept across restarts in a SQLite file, and the mircate-emulator console script."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading

import requests

from airflow_provider_mircate.testing.emulator import MircateEmulator, make_test_image
from tests.testing.conftest import MERCHANT_ACCOUNT, MERCHANT_KEY, ApiClient, product


def test_state_survives_restart(tmp_path):
    state_file = tmp_path / "state.sqlite"
    picture = make_test_image(16, 16)
    with MircateEmulator(
        state_file=state_file, merchant_account_id=MERCHANT_ACCOUNT, merchant_api_key=MERCHANT_KEY
    ) as first:
        client = ApiClient(first)
        client.post(
            "upsertAttributes",
            {"attributes": [{"code": "color", "type": "SIMPLESELECT"}, {"code": "photo", "type": "IMAGE"}]},
        )
        client.post("upsertAttributeOptions", {"code": "color", "options": [{"code": "red"}]})
        client.post("upsertCategory", {"category": {"code": "shoes"}})
        client.post("upsertProduct", product("KEEP_1"))
        batch_id = client.post(
            "bulkProductUpsert", {"products": [product(f"KEEP_B{i}") for i in range(3)]}
        ).json()["batchId"]
        body = {
            "image": base64.b64encode(picture).decode(),
            "productId": "KEEP_1",
            "extension": "png",
            "attributeCode": "photo",
        }
        filename = client.post("attachProductAttributeImage", body).json()["filename"]
        merchant = ApiClient(first, "MerchantAPI")
        merchant.post("receiveStock", {"items": [{"sku": "KEEP_1", "quantity": 4}]})
        first.wait_for_batches(timeout=10)
        client.close()
        merchant.close()
        created = first.state.products["KEEP_1"]["createdAt"]

    with MircateEmulator(
        state_file=state_file, merchant_account_id=MERCHANT_ACCOUNT, merchant_api_key=MERCHANT_KEY
    ) as second:
        client = ApiClient(second)
        total = client.post("getProducts", {}).json()["totalProducts"]
        image = client.get("getImage", {"filename": filename})
        status = client.post("checkBatchStatus", {"batchId": batch_id}).json()
        client.close()
        assert total == 4
        assert second.state.products["KEEP_1"]["createdAt"] == created
        assert image.content == picture
        assert status["status"] == "DONE"
        assert "red" in second.state.attribute_options["color"]
        assert "shoes" in second.state.categories
        assert second.state.stock["KEEP_1:"]["quantity"] == 4


def test_unfinished_batch_resumes_after_restart(tmp_path):
    state_file = tmp_path / "state.sqlite"
    with MircateEmulator(state_file=state_file) as first:
        first.pause_batches()
        client = ApiClient(first)
        batch_id = client.post("bulkProductUpsert", {"products": [product("LATE_1")]}).json()["batchId"]
        client.close()
    with MircateEmulator(state_file=state_file) as second:
        second.wait_for_batches(timeout=10)
        assert second.state.batches[batch_id]["status"] == "DONE"
        assert "LATE_1" in second.state.products


def test_reset_clears_state_file(tmp_path):
    state_file = tmp_path / "state.sqlite"
    with MircateEmulator(state_file=state_file) as first:
        ApiClient(first).post("upsertProduct", product("GONE_1"))
        first.reset()
    with MircateEmulator(state_file=state_file) as second:
        assert second.state.products == {}


def test_deleted_product_stays_deleted(tmp_path):
    state_file = tmp_path / "state.sqlite"
    with MircateEmulator(state_file=state_file) as first:
        client = ApiClient(first)
        client.post("upsertProduct", product("DEL_9"))
        client.post("deleteProduct", {"id": "DEL_9"})
        client.close()
    with MircateEmulator(state_file=state_file) as second:
        assert "DEL_9" not in second.state.products


def test_cli_ready_file_and_sigterm(tmp_path):
    ready = tmp_path / "ready.json"
    command = [
        sys.executable, "-m", "airflow_provider_mircate.testing.emulator.cli", "--port", "0",
        "--ready-file", str(ready), "--merchant-account-id", MERCHANT_ACCOUNT, "--merchant-api-key", MERCHANT_KEY,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Stop it with"):
                break
        info = json.loads(ready.read_text())
        assert info["pid"] == process.pid
        assert any("emulator test keys" in line for line in lines)
        conn = json.loads(info["conn_json"])
        url = f"{info['url']}/5p1hp1d2t/CALL/PIMAPI/getProductSettings/{conn['login']}"
        assert requests.get(url, headers={"x-api-key": conn["password"]}, timeout=5).status_code == 200
        assert json.loads(info["merchant_conn_json"])["login"] == MERCHANT_ACCOUNT
        assert info["conn_uri"].startswith("mircate://http://")
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_stops_on_sigint(tmp_path):
    ready = tmp_path / "ready.json"
    command = [
        sys.executable,
        "-m",
        "airflow_provider_mircate.testing.emulator.cli",
        "--port",
        "0",
        "--ready-file",
        str(ready),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in process.stdout:
            if line.startswith("Stop it with"):
                break
        assert json.loads(ready.read_text())["merchant_conn_json"] is None
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_cli_rejects_half_merchant_config():
    command = [
        sys.executable,
        "-m",
        "airflow_provider_mircate.testing.emulator.cli",
        "--merchant-account-id",
        "x",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--merchant-api-key" in result.stderr


def test_concurrent_clients_all_applied():
    with MircateEmulator() as emulator:

        def write(worker):
            client = ApiClient(emulator)
            for i in range(25):
                assert client.post("upsertProduct", product(f"C{worker}_{i}")).status_code == 200
            client.close()

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(emulator.state.products) == 100
        assert len(emulator.calls(method="upsertProduct", applied=True)) == 100
