"""Route each HTTP request: authenticate, draw faults, run the method handler and log the call."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from airflow_provider_mircate.testing.emulator import control
from airflow_provider_mircate.testing.emulator.faults import Fault
from airflow_provider_mircate.testing.emulator.protocol import ApiError, Call, Reply
from airflow_provider_mircate.testing.emulator.routes import MERCHANT_METHODS, PIM_METHODS

if TYPE_CHECKING:
    from airflow_provider_mircate.testing.emulator.core import MircateEmulator

log = logging.getLogger(__name__)

URL_SHAPE = "/{project_id}/CALL/{class}/{method}/{account_id}"
FAULT_MESSAGES = {
    429: "Too Many Requests",
    500: "Internal Server Error (injected fault)",
    502: "Bad Gateway (injected fault)",
    503: "Service Unavailable (injected fault)",
}


class Dispatcher:
    """Turn one HTTP request into a ``Reply``; called by the HTTP layer from its request threads."""

    def __init__(self, emulator: MircateEmulator) -> None:
        self.emulator = emulator

    def handle(self, http_method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        """Build the reply to one request. The control paths under ``/_emulator/`` skip authentication and faults."""
        path, _, query_string = raw_path.partition("?")
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        if path.startswith("/_emulator/"):
            return control.handle(self.emulator, http_method, path, query, headers, body)

        entry: dict[str, Any] = {
            "time": time.time(),
            "http_method": http_method,
            "api_class": None,
            "method": None,
            "account_id": None,
            "status": None,
            "fault": None,
            "applied": False,
            "batch_id": None,
            "bulk_operation_id": None,
            "items": None,
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        reply = self._handle_api(http_method, path, query, headers, body, entry)
        entry["status"] = reply.status if reply.action in ("send", "truncate") else None
        self.emulator.requests.append(entry)
        return reply

    def _handle_api(
        self,
        http_method: str,
        path: str,
        query: dict[str, str],
        headers: Any,
        body: bytes,
        entry: dict[str, Any],
    ) -> Reply:
        emulator = self.emulator
        try:
            api_class, method, account_id, handler = self._route(http_method, path, headers, entry)
        except ApiError as exc:
            return exc.to_reply()

        delay = emulator.fault_injector.latency_seconds()
        if delay:
            emulator._stop_event.wait(delay)
        fault = emulator.fault_injector.draw(method)
        if fault is not None:
            entry["fault"] = fault.kind
        if fault is not None and fault.when == "before":
            return self._fault_reply(fault, None)

        call = Call(emulator, api_class, method, account_id, {}, query, headers)
        try:
            call.body = _parse_body(http_method, body)
            result = handler(call)
            reply = result if isinstance(result, Reply) else Reply.json(200, result)
        except ApiError as exc:
            reply = exc.to_reply()
        except Exception as exc:
            log.exception("The emulator handler of %s.%s failed", api_class, method)
            reply = ApiError(500, f"Emulator error in {method}: {exc!r}").to_reply()
        entry.update(
            applied=call.applied,
            batch_id=call.batch_id,
            bulk_operation_id=call.bulk_operation_id,
            items=call.items,
        )
        if call.applied:
            emulator.fault_injector.record_applied(method)
        if fault is not None:
            return self._fault_reply(fault, reply)
        return reply

    def _route(
        self, http_method: str, path: str, headers: Any, entry: dict[str, Any]
    ) -> tuple[str, str, str, Any]:
        emulator = self.emulator
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) != 5 or parts[1] != "CALL":
            raise ApiError(404, f"Not found: {path!r}. API paths have the shape {URL_SHAPE}.")
        project_id, _, api_class, method, account_id = parts
        entry.update(api_class=api_class, method=method, account_id=account_id)
        if project_id != emulator.project_id:
            raise ApiError(404, f"Project {project_id!r} not found.")
        expected_key: str | None
        if api_class == "PIMAPI":
            methods, expected_account, expected_key = PIM_METHODS, emulator.account_id, emulator.api_key
        elif api_class == "MerchantAPI" and emulator.merchant_account_id is not None:
            methods, expected_account = MERCHANT_METHODS, emulator.merchant_account_id
            expected_key = emulator.merchant_api_key
        elif api_class == "MerchantAPI":
            raise ApiError(
                404, "Class 'MerchantAPI' not found: this emulator was started without a merchant account."
            )
        else:
            raise ApiError(404, f"Class {api_class!r} not found; the emulator serves PIMAPI and MerchantAPI.")
        if account_id != expected_account:
            raise ApiError(404, f"Account {account_id!r} not found.")
        if headers.get("x-api-key") != expected_key:
            raise ApiError(403, "Access Denied")
        route = methods.get(method)
        if route is None:
            raise ApiError(404, f"Method {api_class}.{method} not found.")
        verb, handler = route
        if http_method != verb:
            raise ApiError(
                405, f"{api_class}.{method} expects {verb}, not {http_method}.", headers={"Allow": verb}
            )
        return api_class, method, account_id, handler

    def _fault_reply(self, fault: Fault, reply: Reply | None) -> Reply:
        if fault.kind == "reset":
            return Reply(action="reset")
        if fault.kind == "timeout":
            return Reply(action="timeout", stall_seconds=self.emulator.faults.stall_seconds)
        if fault.kind == "truncate":
            if reply is None or len(reply.body) < 2:
                reply = Reply.json(200, {"message": "This response is cut short by an injected fault."})
            reply.action = "truncate"
            return reply
        assert fault.status is not None
        message = FAULT_MESSAGES.get(fault.status, f"Injected fault {fault.status}")
        if fault.kind == "fail_after":
            message = (
                f"{message}: the call failed after the configured count of applied calls (injected fault)."
            )
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return Reply.json(fault.status, {"message": message}, headers=headers)


def _parse_body(http_method: str, body: bytes) -> dict[str, Any]:
    if http_method == "GET" or not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return value
