"""The emulator's lifecycle, routing, authentication, connection values and control endpoints."""

from __future__ import annotations

import json

import requests

from airflow_provider_mircate.testing.emulator import MircateEmulator
from tests.testing.conftest import ApiClient, product


def test_start_picks_free_port_and_stop_is_idempotent():
    emulator = MircateEmulator()
    emulator.start()
    assert emulator.port > 0
    assert emulator.url == f"http://127.0.0.1:{emulator.port}"
    assert requests.get(f"{emulator.url}/_emulator/health", timeout=5).json()["status"] == "ok"
    emulator.stop()
    emulator.stop()
    assert not emulator.running


def test_stop_ends_idle_keep_alive_connections():
    emulator = MircateEmulator().start()
    session = requests.Session()
    assert session.get(f"{emulator.url}/_emulator/health", timeout=5).status_code == 200
    emulator.stop()
    assert not emulator.running
    session.close()


def test_wrong_api_key_is_403(api):
    response = api.get("getProductSettings", headers={"x-api-key": "f" * 32})
    assert response.status_code == 403
    assert response.json() == {"message": "Access Denied"}


def test_missing_api_key_is_403(emulator):
    response = requests.get(ApiClient(emulator).url("getProductSettings"), timeout=5)
    assert response.status_code == 403


def test_unknown_account_is_404(emulator):
    url = f"{emulator.url}/{emulator.project_id}/CALL/PIMAPI/getProductSettings/nosuchaccnt"
    response = requests.get(url, headers={"x-api-key": emulator.api_key}, timeout=5)
    assert response.status_code == 404
    assert "nosuchaccnt" in response.json()["message"]


def test_unknown_project_is_404(emulator):
    url = f"{emulator.url}/otherproj/CALL/PIMAPI/getProductSettings/{emulator.account_id}"
    response = requests.get(url, headers={"x-api-key": emulator.api_key}, timeout=5)
    assert response.status_code == 404
    assert "otherproj" in response.json()["message"]


def test_unknown_class_is_404(emulator):
    url = f"{emulator.url}/{emulator.project_id}/CALL/NoSuchAPI/getProductSettings/{emulator.account_id}"
    response = requests.get(url, headers={"x-api-key": emulator.api_key}, timeout=5)
    assert response.status_code == 404
    assert "NoSuchAPI" in response.json()["message"]


def test_unknown_method_is_404_naming_it(api):
    response = api.post("frobnicate", {})
    assert response.status_code == 404
    assert "frobnicate" in response.json()["message"]


def test_wrong_verb_is_405_naming_expected(api):
    response = api.post("getProductSettings", {})
    assert response.status_code == 405
    assert "GET" in response.json()["message"]
    assert response.headers["Allow"] == "GET"


def test_invalid_json_body_is_400(api):
    response = api.session.post(
        api.url("upsertProduct"), data=b"{not json", headers={"x-api-key": api.api_key}, timeout=5
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_merchant_class_absent_without_merchant_account():
    with MircateEmulator() as emulator:
        url = f"{emulator.url}/{emulator.project_id}/CALL/MerchantAPI/listExports/{emulator.account_id}"
        response = requests.post(url, json={}, headers={"x-api-key": emulator.api_key}, timeout=5)
    assert response.status_code == 404
    assert "merchant" in response.json()["message"].lower()


def test_merchant_class_rejects_pim_key(emulator):
    url = f"{emulator.url}/{emulator.project_id}/CALL/MerchantAPI/listExports/{emulator.merchant_account_id}"
    response = requests.post(url, json={}, headers={"x-api-key": emulator.api_key}, timeout=5)
    assert response.status_code == 403


def test_conn_json_reaches_emulator(emulator):
    value = json.loads(emulator.conn_json(max_retries=3))
    assert value["conn_type"] == "mircate"
    assert value["host"] == "http://127.0.0.1"
    assert value["port"] == emulator.port
    assert value["login"] == emulator.account_id
    assert value["password"] == emulator.api_key
    assert value["extra"] == {"project_id": emulator.project_id, "max_retries": 3}


def test_conn_uri_parses_to_host_with_scheme(emulator):
    from airflow.sdk import Connection

    conn = Connection.from_uri(emulator.conn_uri(read_timeout=5), conn_id="mircate_default")
    assert conn.host == "http://127.0.0.1"
    assert conn.port == emulator.port
    assert conn.login == emulator.account_id
    assert conn.password == emulator.api_key
    assert conn.extra_dejson == {"project_id": emulator.project_id, "read_timeout": "5"}


def test_merchant_conn_json_uses_merchant_credentials(emulator):
    value = json.loads(emulator.merchant_conn_json())
    assert value["login"] == emulator.merchant_account_id
    assert value["password"] == emulator.merchant_api_key
    assert value["extra"]["api"] == "merchant"


def test_merchant_conn_uri_parses(emulator):
    from airflow.sdk import Connection

    conn = Connection.from_uri(emulator.merchant_conn_uri(), conn_id="mircate_merchant")
    assert conn.host == "http://127.0.0.1"
    assert conn.login == emulator.merchant_account_id
    assert conn.extra_dejson["api"] == "merchant"


def test_request_log_records_call_fields(api, emulator):
    body = product("LOG_1")
    api.post("upsertProduct", body)
    entry = emulator.requests[-1]
    assert entry["method"] == "upsertProduct"
    assert entry["api_class"] == "PIMAPI"
    assert entry["http_method"] == "POST"
    assert entry["account_id"] == emulator.account_id
    assert entry["status"] == 200
    assert entry["applied"] is True
    assert entry["fault"] is None
    assert len(entry["body_sha256"]) == 64


def test_calls_filters_by_method_and_applied(api, emulator):
    api.post("upsertProduct", product("LOG_2"))
    api.post("upsertProduct", {"dataType": "PRODUCT"})
    api.get("getProductSettings")
    assert len(emulator.calls(method="upsertProduct")) == 2
    assert len(emulator.calls(method="upsertProduct", applied=True)) == 1
    assert len(emulator.calls(applied=False)) == 2
    emulator.clear_requests()
    assert len(emulator.requests) == 0


def test_control_requests_endpoint(api, emulator):
    api.get("getProductSettings")
    payload = requests.get(f"{emulator.url}/_emulator/requests", timeout=5).json()
    assert [r["method"] for r in payload["requests"]] == ["getProductSettings"]


def test_control_faults_endpoint_roundtrip(emulator):
    response = requests.post(
        f"{emulator.url}/_emulator/faults", json={"rate": 0.5, "kinds": ["503"]}, timeout=5
    )
    assert response.status_code == 200
    current = requests.get(f"{emulator.url}/_emulator/faults", timeout=5).json()
    assert current["rate"] == 0.5
    assert current["kinds"] == ["503"]
    assert emulator.faults.rate == 0.5


def test_control_faults_rejects_unknown_knob(emulator):
    response = requests.post(f"{emulator.url}/_emulator/faults", json={"rtae": 0.5}, timeout=5)
    assert response.status_code == 400
    assert "rtae" in response.json()["message"]


def test_control_state_and_reset(api, emulator):
    api.post("upsertProduct", product("RESET_1"))
    assert requests.get(f"{emulator.url}/_emulator/state", timeout=5).json()["products"] == 1
    assert requests.post(f"{emulator.url}/_emulator/reset", timeout=5).status_code == 200
    assert emulator.state.products == {}
    assert len(emulator.requests) == 0


def test_control_unknown_endpoint_is_404(emulator):
    response = requests.get(f"{emulator.url}/_emulator/nothing", timeout=5)
    assert response.status_code == 404


def test_plugin_fixture_sets_connection(mircate_conn, monkeypatch):
    import os

    value = json.loads(os.environ["AIRFLOW_CONN_MIRCATE_DEFAULT"])
    assert value["port"] == mircate_conn.port
    assert value["extra"]["max_retries"] == 3
    assert value["extra"]["read_timeout"] == 5
