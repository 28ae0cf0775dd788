from __future__ import annotations

import email.utils
import json
import logging
import time

import pytest

from airflow_provider_mircate.exceptions import (
    MircateAuthError,
    MircateBadRequestError,
    MircateConnectionError,
    MircateNotFoundError,
    MircateRateLimitError,
    MircateResultWindowError,
    MircateServerError,
)
from tests.hooks.conftest import ACCOUNT, API_KEY
from tests.hooks.scripted_server import Answer


def test_call_builds_url_and_sends_key(server, make_hook):
    hook = make_hook(project_id="proj1")
    hook.call("getProducts", json={"pageSize": 1})
    seen = server.seen[0]
    assert seen.method == "POST"
    assert seen.path == f"/proj1/CALL/PIMAPI/getProducts/{ACCOUNT}"
    assert seen.headers["x-api-key"] == API_KEY
    assert json.loads(seen.body) == {"pageSize": 1}


def test_call_returns_none_for_204(server, make_hook):
    server.queue(Answer(204))
    assert make_hook().call("deleteProduct", json={"id": "A"}) is None


def test_method_names_extra_maps_assumed_names(server, make_hook):
    hook = make_hook(method_names={"bulkProductUpsert": "bulkUpsert"})
    server.queue(Answer(200, {"batchId": "b1"}))
    assert hook.bulk_upsert_products([{"data": {"sku": "A"}}]) == "b1"
    assert server.seen[0].path.startswith("/5p1hp1d2t/CALL/PIMAPI/bulkUpsert/")


def test_session_is_reused_across_calls(server, make_hook):
    hook = make_hook()
    first = hook.session
    hook.call("getProductSettings", http_method="GET")
    hook.call("getProductSettings", http_method="GET")
    assert hook.session is first
    assert len(server.seen) == 2


def test_bad_request_is_not_retried_and_carries_detail(server, make_hook):
    server.queue(Answer(400, {"message": "sku invalid", "error": {"field": "sku"}}))
    with pytest.raises(MircateBadRequestError) as info:
        make_hook().call("upsertProduct", json={})
    assert info.value.server_message == "sku invalid"
    assert info.value.detail == {"field": "sku"}
    assert len(server.seen) == 1


def test_forbidden_names_connection_not_key(server, make_hook):
    server.queue(Answer(403, {"message": "Access Denied"}))
    with pytest.raises(MircateAuthError) as info:
        make_hook("mircate_denied").call("getProductSettings", http_method="GET")
    assert "mircate_denied" in str(info.value)
    assert "check the api key" in str(info.value).lower()
    assert API_KEY not in str(info.value)
    assert len(server.seen) == 1


def test_not_found_is_typed(server, make_hook):
    server.queue(Answer(404, {"message": "image not found"}))
    with pytest.raises(MircateNotFoundError, match="image not found"):
        make_hook().call("getImage", http_method="GET")


def test_server_error_retried_then_raised(server, make_hook):
    hook = make_hook(max_retries=2)
    server.queue(Answer(500), Answer(502), Answer(503))
    with pytest.raises(MircateServerError, match="after every retry"):
        hook.call("getProducts", json={})
    assert len(server.seen) == 3


def test_server_error_then_success_returns_body(server, make_hook):
    server.queue(Answer(503), Answer(200, {"value": 1}))
    assert make_hook().call("getProducts", json={}) == {"value": 1}
    assert len(server.seen) == 2


def test_retry_after_seconds_is_honoured(server, make_hook):
    server.queue(Answer(429, headers={"Retry-After": "1"}), Answer(200, {"ok": 1}))
    started = time.monotonic()
    make_hook().call("getProducts", json={})
    assert time.monotonic() - started >= 1.0
    assert len(server.seen) == 2


def test_retry_after_http_date_is_honoured(server, make_hook):
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    server.queue(Answer(429, headers={"Retry-After": when}), Answer(200, {"ok": 1}))
    started = time.monotonic()
    make_hook().call("getProducts", json={})
    # An HTTP date has one-second resolution, so the wait is at least one second.
    assert time.monotonic() - started >= 1.0


def test_retry_after_past_maximum_fails_at_once(server, make_hook):
    server.queue(Answer(429, headers={"Retry-After": "900"}))
    with pytest.raises(MircateRateLimitError, match="max_retry_after"):
        make_hook(max_retry_after=30).call("getProducts", json={})
    assert len(server.seen) == 1


def test_rate_limit_after_retries_raises(server, make_hook):
    server.default = Answer(429)
    with pytest.raises(MircateRateLimitError):
        make_hook(max_retries=3).call("getProducts", json={})
    assert len(server.seen) == 4


def test_read_timeout_is_retried(server, make_hook):
    server.queue(Answer(200, {"late": 1}, fault="stall", stall_seconds=0.6), Answer(200, {"ok": 1}))
    assert make_hook(read_timeout=0.3).call("getProducts", json={}) == {"ok": 1}


def test_truncated_body_is_retried(server, make_hook):
    server.queue(Answer(200, {"products": ["x" * 100]}, fault="truncate"), Answer(200, {"ok": 1}))
    assert make_hook().call("getProducts", json={}) == {"ok": 1}
    assert len(server.seen) == 2


def test_reset_is_retried_for_idempotent_calls(server, make_hook):
    server.queue(Answer(fault="reset"), Answer(200, {"ok": 1}))
    assert make_hook().call("upsertProduct", json={}) == {"ok": 1}
    assert len(server.seen) == 2


def test_attach_is_not_retried_after_ambiguous_failure(server, make_hook):
    server.queue(Answer(500), Answer(200, {"filename": "x.png"}))
    with pytest.raises(MircateServerError):
        make_hook().attach_category_image(category_code="c", image_base64="AA==", extension="png")
    assert len(server.seen) == 1


def test_attach_is_retried_on_503_and_429(server, make_hook):
    server.queue(Answer(503), Answer(429), Answer(200, {"filename": "x.png"}))
    answer = make_hook().attach_category_image(category_code="c", image_base64="AA==", extension="png")
    assert answer == {"filename": "x.png"}
    assert len(server.seen) == 3


def test_attach_after_reset_is_not_retried(server, make_hook):
    server.queue(Answer(fault="reset"))
    with pytest.raises(MircateConnectionError):
        make_hook().attach_category_image(category_code="c", image_base64="AA==", extension="png")
    assert len(server.seen) == 1


def test_unreachable_host_raises_connection_error(make_hook, monkeypatch):
    hook = make_hook(max_retries=1)
    # Port 9 on loopback has no listener here: the connection is refused at once.
    hook.settings  # noqa: B018 - load the connection before replacing its URL
    monkeypatch.setattr(hook, "build_url", lambda method, api_class=None: "http://127.0.0.1:9/x")
    with pytest.raises(MircateConnectionError, match="after 2 attempt"):
        hook.call("getProducts", json={})


def test_retries_are_logged_at_warning(server, make_hook, capfd):
    server.queue(Answer(500), Answer(200, {}))
    make_hook().call("getProducts", json={})
    out, err = capfd.readouterr()
    lines = [line for line in (out + err).splitlines() if "retry 1 of" in line]
    assert len(lines) == 1
    assert "warning" in lines[0]
    assert "getProducts failed with HTTP 500" in lines[0]


def test_key_absent_from_logs_and_errors(server, make_hook, capfd, caplog):
    server.queue(Answer(500), Answer(403, {"message": "Access Denied"}))
    with caplog.at_level(logging.DEBUG), pytest.raises(MircateAuthError) as info:
        make_hook().call("getProducts", json={"x": 1})
    out, err = capfd.readouterr()
    assert "retry 1 of" in out + err
    assert API_KEY not in out + err
    assert API_KEY not in caplog.text
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)


def test_rate_limit_spaces_requests(server, make_hook):
    hook = make_hook(max_requests_per_second=20)
    started = time.monotonic()
    for _ in range(5):
        hook.call("getProductSettings", http_method="GET")
    # Five requests at 20/s need at least four intervals of 50 ms.
    assert time.monotonic() - started >= 0.2


def page(total, start, count):
    return {
        "pageFrom": start,
        "pageSize": 2,
        "totalProducts": total,
        "products": [{"score": 1, "source": {"data": {"sku": f"S{i}"}}} for i in range(start, start + count)],
    }


def test_get_products_pages_by_offset(server, make_hook):
    server.queue(Answer(200, page(5, 0, 2)), Answer(200, page(5, 2, 2)), Answer(200, page(5, 4, 1)))
    skus = [p["data"]["sku"] for p in make_hook().get_products(page_size=2)]
    assert skus == ["S0", "S1", "S2", "S3", "S4"]
    assert [json.loads(s.body)["pageFrom"] for s in server.seen] == [0, 2, 4]


def test_get_products_pages_by_page_number(server, make_hook):
    server.queue(Answer(200, page(4, 0, 2)), Answer(200, page(4, 2, 2)))
    skus = [p["data"]["sku"] for p in make_hook(paging="page").get_products(page_size=2)]
    assert skus == ["S0", "S1", "S2", "S3"]
    assert [json.loads(s.body)["pageFrom"] for s in server.seen] == [1, 2]


def test_get_products_stops_at_result_window(server, make_hook):
    server.default = Answer(200, page(100, 0, 2))
    products = make_hook().get_products(page_size=2, result_window=4)
    with pytest.raises(MircateResultWindowError, match="iter_products_sliced"):
        list(products)
    assert len(server.seen) == 2


def test_get_image_sends_transforms_as_strings(server, make_hook):
    server.queue(Answer(200, b"\x89PNG", headers={"Content-Type": "image/png"}))
    response = make_hook().get_image("acc-1.png", width=80, fit="cover", compression_level=9)
    with response:
        assert response.content == b"\x89PNG"
    path = server.seen[0].path
    assert "filename=acc-1.png" in path
    assert "width=80" in path
    assert "compressionLevel=9" in path


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (Answer(200, {"productSettings": {}}), (True, "Connected to")),
        (Answer(403, {"message": "Access Denied"}), (False, "wrong API key or unknown account")),
        (Answer(404, {"message": "no such account"}), (False, "Unknown account or project")),
    ],
)
def test_test_connection_outcomes(server, make_hook, answer, expected):
    server.queue(answer)
    ok, message = make_hook().test_connection()
    assert ok is expected[0]
    assert expected[1] in message
    assert server.seen[0].path.startswith("/5p1hp1d2t/CALL/PIMAPI/getProductSettings/")


def test_test_connection_reports_unreachable_host(monkeypatch):
    from airflow_provider_mircate.hooks.mircate import MircateHook

    conn = {
        "conn_type": "mircate",
        "host": "http://127.0.0.1",
        "port": 9,
        "login": ACCOUNT,
        "password": API_KEY,
        "extra": {"max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_DOWN", json.dumps(conn))
    ok, message = MircateHook("mircate_down").test_connection()
    assert ok is False
    assert "Host unreachable" in message


def test_loading_connection_registers_key_with_masker(make_hook):
    from airflow.sdk.log import redact

    hook = make_hook()
    hook.settings  # noqa: B018 - loading the settings registers the key
    assert redact(f"echo {API_KEY}") == "echo ***"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("3", 3.0), ("0.25", 0.25), ("", None), ("soon", None), ("-4", 0.0)],
)
def test_parse_retry_after_seconds_forms(header, expected):
    from airflow_provider_mircate.hooks.retry import parse_retry_after

    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date():
    from airflow_provider_mircate.hooks.retry import parse_retry_after

    now = 1_700_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now=now) == pytest.approx(30.0, abs=1.0)


def test_unknown_account_names_connection_fields(server, make_hook):
    server.queue(Answer(404, {"message": "Account 'zzzzzzzzzzz' not found."}))
    with pytest.raises(MircateNotFoundError) as info:
        make_hook("mircate_wrong_account").call("getProducts", json={})
    message = str(info.value)
    assert "Account 'zzzzzzzzzzz' not found." in message
    assert ".." not in message
    assert "login (account id)" in message
    assert "'mircate_wrong_account'" in message
