"""The control endpoints under ``/_emulator/``: JSON, no API key, for tests and scripts on the same host."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.testing.emulator.merchant import export_file
from airflow_provider_mircate.testing.emulator.protocol import Reply

if TYPE_CHECKING:
    from airflow_provider_mircate.testing.emulator.core import MircateEmulator


def handle(
    emulator: MircateEmulator, http_method: str, path: str, query: dict[str, str], headers: Any, body: bytes
) -> Reply:
    """Handle ``GET requests|faults|state|health``, ``POST faults|reset`` and ``GET files/{exportId}/{name}``."""
    name = path[len("/_emulator/") :].strip("/")
    if name.startswith("files/"):
        return _export_file(emulator, name, headers, http_method)
    routes = {
        ("GET", "health"): lambda: {"status": "ok", "url": emulator.url},
        ("GET", "requests"): lambda: {"requests": emulator.calls(method=query.get("method"))},
        ("GET", "faults"): lambda: emulator.faults.to_json(),
        ("GET", "state"): lambda: emulator.state.summary(),
    }
    if (http_method, name) in routes:
        return Reply.json(200, routes[(http_method, name)]())
    if (http_method, name) == ("POST", "faults"):
        return _set_faults(emulator, body)
    if (http_method, name) == ("POST", "reset"):
        emulator.reset()
        return Reply.json(200, {"reset": True})
    known = [
        "GET health",
        "GET requests",
        "GET faults",
        "POST faults",
        "GET state",
        "POST reset",
        "GET files/...",
    ]
    return Reply.json(
        404, {"message": f"Unknown control endpoint {http_method} {path}; the endpoints are {known}."}
    )


def _set_faults(emulator: MircateEmulator, body: bytes) -> Reply:
    try:
        knobs = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        return Reply.json(400, {"message": f"The request body is not valid JSON: {exc}."})
    if not isinstance(knobs, dict):
        return Reply.json(400, {"message": "The body must be a JSON object of fault knobs."})
    try:
        if knobs.pop("clear", False):
            emulator.clear_faults()
        settings = emulator.set_faults(**knobs)
    except ValueError as exc:
        return Reply.json(400, {"message": str(exc)})
    return Reply.json(200, settings.to_json())


def _export_file(emulator: MircateEmulator, name: str, headers: Any, http_method: str) -> Reply:
    if http_method != "GET":
        return Reply.json(405, {"message": "Export files are read with GET."}, headers={"Allow": "GET"})
    if emulator.merchant_api_key is None or headers.get("x-api-key") != emulator.merchant_api_key:
        return Reply.json(403, {"message": "Access Denied"})
    parts = name.split("/")
    text = export_file(emulator, parts[1], parts[2]) if len(parts) == 3 else None
    if text is None:
        return Reply.json(404, {"message": f"Export file {name!r} not found."})
    return Reply(status=200, body=text.encode(), content_type="text/csv; charset=utf-8")
