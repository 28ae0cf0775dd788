from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_mircate.hooks.mircate import MircateHook
from tests.hooks.scripted_server import ScriptedServer

API_KEY = "feedc0de" * 4
ACCOUNT = "1j19r3y78mj"


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running


@pytest.fixture
def make_hook(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> Callable[..., MircateHook]:
    """Build a hook on a JSON connection to the scripted server; keyword arguments become extras."""

    def build(conn_id: str = "mircate_test", **extra: Any) -> MircateHook:
        extra = {"backoff_base": 0.001, "backoff_max": 0.005, "read_timeout": 2, **extra}
        conn = {
            "conn_type": "mircate",
            "host": "http://127.0.0.1",
            "port": server.port,
            "login": ACCOUNT,
            "password": API_KEY,
            "extra": extra,
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
        return MircateHook(conn_id)

    return build
