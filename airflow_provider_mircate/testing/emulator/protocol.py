"""Types shared by the emulator's HTTP layer and its handlers: the call, the reply, the API error."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_mircate.testing.emulator.core import MircateEmulator


class ApiError(Exception):
    """An error response: ``status`` with the body ``{"message": ..., "error": ...}``."""

    def __init__(self, status: int, message: str, error: Any = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.error = error
        self.headers = headers or {}

    def to_reply(self) -> Reply:
        """Build the JSON reply for this error."""
        body: dict[str, Any] = {"message": self.message}
        if self.error is not None:
            body["error"] = self.error
        return Reply.json(self.status, body, headers=self.headers)


def invalid(message: str, field_name: str | None = None, value: Any = None) -> ApiError:
    """Build a 400 validation error whose ``error`` names the field and the rejected value."""
    error = None if field_name is None else {"field": field_name, "value": value}
    return ApiError(400, message, error)


@dataclass
class Reply:
    """
    The response the HTTP layer sends back.

    ``action`` is ``send`` for a normal response. ``reset``, ``timeout`` and ``truncate`` break the
    connection in the way the fault of that name describes.
    """

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    action: str = "send"
    stall_seconds: float = 0.0

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
        """Build a JSON reply."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status=status, body=body, headers=dict(headers or {}))


@dataclass
class Call:
    """One routed API request, handed to a method handler; the handler fills the log fields."""

    emulator: MircateEmulator
    api_class: str
    method: str
    account_id: str
    body: dict[str, Any]
    query: dict[str, str]
    headers: Any
    applied: bool = False
    batch_id: str | None = None
    bulk_operation_id: str | None = None
    items: int | None = None
