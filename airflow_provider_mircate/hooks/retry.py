"""Retry policy and error mapping shared by the sync and the async Mircate hooks."""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_mircate.exceptions import (
    MircateAccountNotFoundError,
    MircateAPIError,
    MircateAuthError,
    MircateBadRequestError,
    MircateConnectionError,
    MircateNotFoundError,
    MircateRateLimitError,
    MircateServerError,
)

RetryMode = Literal["idempotent", "create"]
"""
How a call may be retried.

``idempotent``: reads, upserts keyed by sku and bulk upserts. Any retryable failure is retried, even an
ambiguous one (a timeout or reset after the request was sent), because sending the same upsert twice
stores the same record.

``create``: calls that create a new record each time (image attach). Retried only when the request
surely never arrived: connection refused, HTTP 429 and HTTP 503.
"""

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
CREATE_RETRYABLE_STATUSES = frozenset({429, 503})

# Whether a failed request may have reached the server.
FailureKind = Literal["not_sent", "ambiguous"]

MAX_LOGGED_BODY = 300


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the wait in seconds that a ``Retry-After`` header requests (delta-seconds or HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        # RFC 9110 sends whole seconds; a fractional value, which some test servers send, is accepted too.
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = datetime.fromtimestamp(now if now is not None else time.time(), tz=timezone.utc)
    return max(0.0, (when - current).total_seconds())


@dataclass
class RetryPolicy:
    """Capped exponential backoff with full jitter, honouring ``Retry-After`` up to a maximum (seconds)."""

    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        """Return a wait drawn uniformly from ``[0, min(backoff_max, backoff_base * 2**attempt)]``."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return self.rng.uniform(0, ceiling)

    def should_retry_status(self, status: int, mode: RetryMode) -> bool:
        allowed = CREATE_RETRYABLE_STATUSES if mode == "create" else RETRYABLE_STATUSES
        return status in allowed

    def should_retry_failure(self, kind: FailureKind, mode: RetryMode) -> bool:
        return kind == "not_sent" or mode == "idempotent"

    def wait_for_status(self, attempt: int, status: int, retry_after: str | None, describe: str) -> float:
        """
        Return the wait before retry number ``attempt + 1`` after a retryable status.

        :raises MircateRateLimitError: when the server requests a wait longer than ``max_retry_after``.
        """
        requested = parse_retry_after(retry_after)
        if requested is None:
            return self.backoff(attempt)
        if requested > self.max_retry_after:
            raise MircateRateLimitError(
                f"{describe} returned HTTP {status} with Retry-After {requested:.0f} s, longer than "
                f"max_retry_after={self.max_retry_after:g} s. Retry later, or raise the connection extra "
                "max_retry_after.",
                status=status,
            )
        # A server that requests a wait gets at least that wait, plus jitter, so that many clients
        # given the same date do not return at the same instant.
        return requested + self.rng.uniform(0, min(1.0, self.backoff_base))


class RateLimiter:
    """Space requests at least ``1 / rate`` seconds apart, across the threads sharing one hook."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Claim the next slot and return how long the caller must wait for it, in seconds."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            return start - now


def summarize_body(body: bytes | str | None) -> str:
    """Return at most ``MAX_LOGGED_BODY`` characters of a body, for DEBUG logs and error text."""
    if body is None:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return text if len(text) <= MAX_LOGGED_BODY else text[:MAX_LOGGED_BODY] + "..."


def error_from_response(
    status: int, body: bytes | None, *, method: str, conn_id: str, after_retries: bool = False
) -> MircateAPIError:
    """Map an error status and its ``{message, error}`` body to the provider's exception."""
    server_message: str | None = None
    detail: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            server_message = parsed.get("message") if isinstance(parsed.get("message"), str) else None
            detail = parsed.get("error")
        if server_message is None:
            server_message = summarize_body(body)
    said = f": {server_message.rstrip('.')}" if server_message else ""
    kwargs: dict[str, Any] = {
        "status": status,
        "method": method,
        "server_message": server_message,
        "detail": detail,
    }
    if status == 400:
        detail_text = f" Detail: {summarize_body(json.dumps(detail))}" if detail is not None else ""
        return MircateBadRequestError(
            f"Mircate rejected {method} as a bad request (HTTP 400){said}.{detail_text}", **kwargs
        )
    if status in (401, 403):
        return MircateAuthError(
            f"Mircate denied access to {method} (HTTP {status}){said}: wrong API key or unknown account. "
            f"Check the API key (password) and account id (login) of connection {conn_id!r}.",
            **kwargs,
        )
    if status == 404:
        # NOTE: the live API's 404 texts are not published. A message that starts by naming the account,
        # project, class or method (as the emulator's do) is taken as a setup error, any other as a record.
        lowered = (server_message or "").lower()
        if lowered.startswith(("account", "project", "class", "method", "not found: ")):
            return MircateAccountNotFoundError(
                f"Mircate found no account, project or method for {method} (HTTP 404){said}. Check the "
                f"login (account id), the extra project_id and the host (API base URL, no path) of "
                f"connection {conn_id!r}; for a method or class name, check the extra method_names.",
                **kwargs,
            )
        return MircateNotFoundError(f"Mircate found no record for {method} (HTTP 404){said}.", **kwargs)
    retried = " after every retry" if after_retries else ""
    if status == 429:
        return MircateRateLimitError(
            f"Mircate rate-limited {method} (HTTP 429){retried}{said}. Lower the request rate "
            "(connection extra max_requests_per_second) or raise max_retries.",
            **kwargs,
        )
    if status >= 500:
        return MircateServerError(f"Mircate failed on {method} (HTTP {status}){retried}{said}.", **kwargs)
    return MircateAPIError(f"Mircate returned unexpected HTTP {status} for {method}{said}.", **kwargs)


def connection_error(method: str, url: str, reason: str, *, attempts: int) -> MircateConnectionError:
    hint = "Check that the connection host is reachable."
    if "WRONG_VERSION_NUMBER" in reason and url.startswith("https://"):
        hint = "The host answered in plain HTTP: write the connection host with http:// if that is intended."
    return MircateConnectionError(
        f"Mircate call {method} to {url} failed after {attempts} attempt(s): {reason.rstrip('.')}. {hint}"
    )


def without_query(url: str) -> str:
    """Drop the query and fragment, which may carry a signature, from a URL shown in logs and errors."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def rename_status_fields(answer: Any, status_fields: Mapping[str, str] | None) -> Any:
    """
    Return a batch status response with its fields renamed to the names this provider reads.

    :param status_fields: a map from the provider's field names (``status``, ``total`` ...) to the
        live API's; a field the answer lacks is left alone.
    """
    if not status_fields or not isinstance(answer, dict):
        return answer
    renamed = dict(answer)
    for ours, theirs in status_fields.items():
        if theirs in renamed and theirs != ours:
            renamed[ours] = renamed.pop(theirs)
    return renamed
