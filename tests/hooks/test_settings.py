from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.hooks.settings import MircateConnectionSettings, build_base_url

KEY = "0123456789abcdef0123456789abcdef"


def settings_for(**fields):
    conn = Connection(conn_id="mircate_x", conn_type="mircate", **fields)
    return MircateConnectionSettings.from_connection(conn)


def test_defaults_follow_the_documented_table():
    s = settings_for(login="1j19r3y78mj", password=KEY)
    assert s.base_url == "https://api.b2b.retter.io"
    assert s.project_id == "5p1hp1d2t"
    assert s.api == "pim"
    assert (s.connect_timeout, s.read_timeout) == (10.0, 60.0)
    assert s.max_retries == 6
    assert (s.backoff_base, s.backoff_max, s.max_retry_after) == (1.0, 60.0, 300.0)
    assert s.max_requests_per_second is None
    assert s.verify is True
    assert s.paging == "offset"
    assert s.method_names == {}


def test_host_without_scheme_means_https_and_joins_port():
    assert build_base_url("c", "api.example.test", 8443) == "https://api.example.test:8443"


def test_host_with_scheme_keeps_it():
    assert build_base_url("c", "http://127.0.0.1", 8099) == "http://127.0.0.1:8099"


@pytest.mark.parametrize("host", ["http://", "ftp://example.test", "http://exa mple.test", "http://[::1"])
def test_malformed_host_names_the_value(host):
    with pytest.raises(MircateConfigError, match="malformed host"):
        build_base_url("mircate_x", host, None)


def test_uri_form_extras_arrive_as_strings_and_are_converted():
    conn = Connection.from_uri(
        f"mircate://1j19r3y78mj:{KEY}@127.0.0.1:8099?connect_timeout=2.5&max_retries=3&verify=false"
        "&max_requests_per_second=20&method_names=%7B%22checkBatchStatus%22%3A%22batchStatus%22%7D",
        conn_id="mircate_uri",
    )
    s = MircateConnectionSettings.from_connection(conn)
    assert s.connect_timeout == 2.5
    assert s.max_retries == 3
    assert s.verify is False
    assert s.max_requests_per_second == 20.0
    assert s.method_names == {"checkBatchStatus": "batchStatus"}


def test_uri_form_host_with_protocol(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRCATE_URI", f"mircate://http://1j19r3y78mj:{KEY}@127.0.0.1:8099?project_id=abc123"
    )
    hook = MircateHook("mircate_uri")
    assert hook.settings.base_url == "http://127.0.0.1:8099"
    assert hook.settings.project_id == "abc123"
    assert hook.build_url("getProducts") == "http://127.0.0.1:8099/abc123/CALL/PIMAPI/getProducts/1j19r3y78mj"


def test_json_form_keeps_types(monkeypatch):
    conn = {
        "conn_type": "mircate",
        "host": "http://127.0.0.1:8099",
        "login": "1j19r3y78mj",
        "password": KEY,
        "extra": {"api": "merchant", "paging": "page", "max_retries": 0},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_JSON", json.dumps(conn))
    hook = MircateHook("mircate_json")
    assert hook.settings.api_class == "MerchantAPI"
    assert hook.settings.paging == "page"
    assert hook.settings.max_retries == 0
    assert hook.build_url("receivePrice").endswith("/CALL/MerchantAPI/receivePrice/1j19r3y78mj")


def test_unknown_extra_key_is_named():
    with pytest.raises(MircateConfigError, match=r"unknown extra key\(s\) \['read_timout'\]"):
        settings_for(login="a", password=KEY, extra=json.dumps({"read_timout": 5}))


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"read_timeout": "soon"}, "read_timeout='soon'"),
        ({"connect_timeout": 0}, "connect_timeout=0"),
        ({"max_retries": 1.5}, "max_retries=1.5"),
        ({"max_retries": -1}, "max_retries=-1"),
        ({"api": "promotions"}, "api='promotions'"),
        ({"paging": "cursor"}, "paging='cursor'"),
        ({"method_names": "not json"}, "method_names='not json'"),
        ({"project_id": "a/b"}, "project_id='a/b'"),
    ],
)
def test_invalid_extra_names_value(extra, fragment):
    with pytest.raises(MircateConfigError) as info:
        settings_for(login="a", password=KEY, extra=json.dumps(extra))
    assert fragment in str(info.value)


def test_missing_login_says_to_set_account_id():
    with pytest.raises(MircateConfigError, match="no login"):
        settings_for(password=KEY)


def test_missing_password_says_to_set_api_key():
    with pytest.raises(MircateConfigError, match="no password"):
        settings_for(login="1j19r3y78mj")


def test_repr_hides_api_key():
    s = settings_for(login="1j19r3y78mj", password=KEY)
    assert KEY not in repr(s)


def test_hook_init_does_not_read_connection():
    hook = MircateHook("connection_that_does_not_exist")
    assert "settings" not in hook.__dict__


def test_missing_connection_id_is_an_error():
    with pytest.raises(ValueError, match="mircate_conn_id is empty"):
        MircateHook("")


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_timeout_is_rejected(value):
    with pytest.raises(MircateConfigError, match=f"read_timeout='{value}'"):
        settings_for(login="a", password=KEY, extra=json.dumps({"read_timeout": value}))


def test_verify_path_must_exist():
    with pytest.raises(MircateConfigError, match="verify='/no/such/ca.pem'"):
        settings_for(login="a", password=KEY, extra=json.dumps({"verify": "/no/such/ca.pem"}))


def test_verify_accepts_existing_bundle(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    s = settings_for(login="a", password=KEY, extra=json.dumps({"verify": str(bundle)}))
    assert s.verify == str(bundle)


def test_other_connection_type_is_rejected():
    conn = Connection(conn_id="mircate_http", conn_type="http", login="a", password=KEY)
    with pytest.raises(MircateConfigError, match="type 'http'"):
        MircateConnectionSettings.from_connection(conn)


@pytest.mark.parametrize("login", ["acc/../x", "acc?x=1", "acc id"])
def test_login_that_breaks_url_is_rejected(login):
    with pytest.raises(MircateConfigError, match="invalid login"):
        settings_for(login=login, password=KEY)


@pytest.mark.parametrize(
    ("method", "api_class"), [("x/../getProductSettings", None), ("getProducts", "NoSuchAPI/../PIMAPI")]
)
def test_build_url_rejects_path_segments(method, api_class):
    hook = MircateHook("mircate_x", settings=settings_for(login="1j19r3y78mj", password=KEY))
    with pytest.raises(MircateConfigError, match="Invalid"):
        hook.build_url(method, api_class)


def test_plain_http_host_hint():
    from airflow_provider_mircate.hooks.retry import connection_error

    error = connection_error(
        "getProducts",
        "https://127.0.0.1:8099/x",
        "SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version",
        attempts=1,
    )
    assert "http://" in str(error)
