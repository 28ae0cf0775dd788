"""Fault injection in the emulator: statuses, Retry-After, broken connections, before/after, limits."""

from __future__ import annotations

import http.client
import json
import time
from email.utils import parsedate_to_datetime

import pytest
import requests

from airflow_provider_mircate.testing.emulator import MircateEmulator
from tests.testing.conftest import ApiClient, product


def test_429_without_retry_after(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["429"])
    response = api.get("getProductSettings")
    assert response.status_code == 429
    assert "Retry-After" not in response.headers
    assert emulator.requests[-1]["fault"] == "429"


def test_429_with_retry_after_seconds(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["429_retry_after"], retry_after=7)
    response = api.get("getProductSettings")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"


def test_429_with_retry_after_fraction(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["429_retry_after"], retry_after=0.25)
    assert api.get("getProductSettings").headers["Retry-After"] == "0.25"


def test_429_with_retry_after_http_date(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["429_retry_after"], retry_after=120, retry_after_date=True)
    response = api.get("getProductSettings")
    moment = parsedate_to_datetime(response.headers["Retry-After"])
    assert response.status_code == 429
    assert 100 < moment.timestamp() - time.time() <= 121


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_error_statuses(api, emulator, status):
    emulator.set_faults(rate=1.0, kinds=[status])
    response = api.get("getProductSettings")
    assert response.status_code == int(status)
    assert response.json()["message"]


def test_reset_closes_without_response(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["reset"])
    with pytest.raises(requests.ConnectionError):
        api.get("getProductSettings", timeout=5)
    assert emulator.requests[-1]["status"] is None
    assert emulator.requests[-1]["fault"] == "reset"


def test_timeout_stalls_past_read_timeout(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["timeout"], stall_seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        api.get("getProductSettings", timeout=(2, 0.2))


def test_stop_interrupts_timeout_stall(emulator):
    emulator.set_faults(rate=1.0, kinds=["timeout"], stall_seconds=60.0)
    client = ApiClient(emulator)
    with pytest.raises(requests.ReadTimeout):
        client.get("getProductSettings", timeout=(2, 0.2))
    started = time.monotonic()
    emulator.stop()
    assert time.monotonic() - started < 30


def test_truncate_sends_half_body(emulator):
    emulator.set_faults(rate=1.0, kinds=["truncate"])
    connection = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    path = f"/{emulator.project_id}/CALL/PIMAPI/getProductSettings/{emulator.account_id}"
    connection.request("GET", path, headers={"x-api-key": emulator.api_key})
    response = connection.getresponse()
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead):
        response.read()
    connection.close()


def test_fault_before_leaves_state_unchanged(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["500"], when="before")
    assert api.post("upsertProduct", product("F_1")).status_code == 500
    assert emulator.state.products == {}
    assert emulator.requests[-1]["applied"] is False


def test_fault_after_changes_state_and_loses_answer(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["503"], when="after")
    assert api.post("upsertProduct", product("F_2")).status_code == 503
    assert "F_2" in emulator.state.products
    assert emulator.requests[-1]["applied"] is True
    assert emulator.requests[-1]["fault"] == "503"


def test_reset_after_applies_bulk(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["reset"], when="after", methods=["bulkProductUpsert"])
    with pytest.raises(requests.ConnectionError):
        api.post("bulkProductUpsert", {"products": [product("F_3")]})
    emulator.wait_for_batches(timeout=10)
    assert "F_3" in emulator.state.products
    assert emulator.calls(method="bulkProductUpsert", applied=True)[0]["batch_id"] in emulator.state.batches


def test_methods_knob_limits_faults(api, emulator):
    emulator.set_faults(rate=1.0, kinds=["500"], methods=["upsertProduct"])
    assert api.get("getProductSettings").status_code == 200
    assert api.post("upsertProduct", product("F_4")).status_code == 500


def test_fault_draws_repeat_for_same_seed():
    def statuses(seed):
        with MircateEmulator(seed=seed) as emulator:
            emulator.set_faults(rate=0.5, kinds=["500", "503"])
            client = ApiClient(emulator)
            result = [client.get("getProductSettings").status_code for _ in range(20)]
            client.close()
            return result

    first = statuses(11)
    assert first == statuses(11)
    assert 200 in first
    assert set(first) != {200}


def test_rate_limit_rps_answers_429_with_retry_after(api, emulator):
    emulator.set_faults(rate_limit_rps=3)
    responses = [api.get("getProductSettings") for _ in range(10)]
    limited = [r for r in responses if r.status_code == 429]
    assert limited
    assert sum(r.status_code == 200 for r in responses) <= 6
    assert 0 < float(limited[0].headers["Retry-After"]) <= 1
    assert emulator.requests[-1]["fault"] == "rate_limit"


def test_fail_after_fails_later_calls(api, emulator):
    emulator.set_faults(fail_after={"method": "bulkProductUpsert", "count": 2, "status": 502})
    statuses = [
        api.post("bulkProductUpsert", {"products": [product(f"FA_{i}")]}).status_code for i in range(4)
    ]
    assert statuses == [200, 200, 502, 502]
    assert len(emulator.state.batches) == 2
    assert [e["fault"] for e in emulator.calls(method="bulkProductUpsert")] == [
        None,
        None,
        "fail_after",
        "fail_after",
    ]


def test_fail_after_counts_only_applied_calls(api, emulator):
    emulator.set_faults(fail_after={"method": "upsertProduct", "count": 1})
    assert api.post("upsertProduct", {"dataType": "PRODUCT"}).status_code == 400
    assert api.post("upsertProduct", product("FA_9")).status_code == 200
    assert api.post("upsertProduct", product("FA_10")).status_code == 500


def test_latency_ms_delays_requests(api, emulator):
    emulator.set_faults(latency_ms=50)
    started = time.monotonic()
    api.get("getProductSettings")
    assert time.monotonic() - started >= 0.05


@pytest.mark.parametrize(
    "knobs",
    [{"rate": 2}, {"kinds": ["418"]}, {"when": "during"}, {"fail_after": {"method": "x", "count": -1}},
     {"rate_limit_rps": 0}, {"latency_ms": "5"}],
)  # fmt: skip
def test_invalid_knobs_raise(emulator, knobs):
    with pytest.raises(ValueError):
        emulator.set_faults(**knobs)


def test_faults_settable_over_control_endpoint(api, emulator):
    body = json.dumps({"rate": 1.0, "kinds": ["502"]}).encode()
    response = requests.post(f"{emulator.url}/_emulator/faults", data=body, timeout=5)
    assert response.status_code == 200
    assert api.get("getProductSettings").status_code == 502
    requests.post(f"{emulator.url}/_emulator/faults", json={"clear": True}, timeout=5)
    assert api.get("getProductSettings").status_code == 200


def test_control_endpoint_ignores_faults(emulator):
    emulator.set_faults(rate=1.0, kinds=["500"])
    assert requests.get(f"{emulator.url}/_emulator/health", timeout=5).status_code == 200
