"""Parse and validate the fields and extras of a ``mircate`` connection."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_mircate.exceptions import MircateConfigError

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_HOST = "https://api.b2b.retter.io"
DEFAULT_PROJECT_ID = "5p1hp1d2t"
API_CLASSES = {"pim": "PIMAPI", "merchant": "MerchantAPI"}
PAGING_MODES = ("offset", "page")
ACCOUNT_ID = re.compile(r"[A-Za-z0-9_.-]+")

# Every extra key the connection accepts, with its default. Any other key is an error, so that a typo
# such as ``read_timout`` fails loudly instead of being ignored.
EXTRA_DEFAULTS: dict[str, Any] = {
    "project_id": DEFAULT_PROJECT_ID,
    "api": "pim",
    "connect_timeout": 10.0,
    "read_timeout": 60.0,
    "max_retries": 6,
    "backoff_base": 1.0,
    "backoff_max": 60.0,
    "max_retry_after": 300.0,
    "max_requests_per_second": None,
    "verify": True,
    "paging": "offset",
    "method_names": {},
}


@dataclass(frozen=True)
class MircateConnectionSettings:
    """The validated settings of one ``mircate`` connection; ``api_key`` is left out of ``repr``."""

    conn_id: str
    base_url: str
    account_id: str
    api_key: str = field(repr=False)
    project_id: str = DEFAULT_PROJECT_ID
    api: str = "pim"
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retries: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0
    max_requests_per_second: float | None = None
    verify: bool | str = True
    paging: str = "offset"
    method_names: dict[str, str] = field(default_factory=dict)

    @property
    def api_class(self) -> str:
        """The default class segment of the URL: ``PIMAPI`` or ``MerchantAPI``."""
        return API_CLASSES[self.api]

    @classmethod
    def from_connection(cls, conn: Connection) -> MircateConnectionSettings:
        """Build settings from an Airflow connection, raising ``MircateConfigError`` on any bad value."""
        conn_id = conn.conn_id
        if conn.conn_type and conn.conn_type != "mircate":
            raise MircateConfigError(
                f"Connection {conn_id!r} has type {conn.conn_type!r}. Set its type to 'mircate' so that "
                "its extras are read as Mircate settings."
            )
        if not conn.login:
            raise MircateConfigError(
                f"Connection {conn_id!r} has no login. Set the login to the Mircate account id "
                "(for the merchant API, the merchant's project id)."
            )
        if not ACCOUNT_ID.fullmatch(conn.login):
            raise MircateConfigError(
                f"Connection {conn_id!r} has an invalid login {conn.login!r}: the account id is the last "
                "segment of every URL, so use only letters, digits, '_', '-' and '.'."
            )
        if not conn.password:
            raise MircateConfigError(
                f"Connection {conn_id!r} has no password. Set the password to the Mircate API key."
            )
        extras = parse_extras(conn_id, conn.extra_dejson)
        return cls(
            conn_id=conn_id,
            base_url=build_base_url(conn_id, conn.host, conn.port, conn.schema),
            account_id=conn.login,
            api_key=conn.password,
            **extras,
        )


def build_base_url(conn_id: str, host: str | None, port: int | None, schema: str | None = None) -> str:
    """
    Join host and port into a base URL; a host without a scheme means https.

    ``schema`` is accepted because Airflow's URI form puts ``http`` there for
    ``mircate://http://...`` style hosts on some releases.
    """
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_HOST
    if "://" not in raw:
        scheme = schema if schema in ("http", "https") else "https"
        raw = f"{scheme}://{raw}"
    try:
        parts = urlsplit(raw)
        parsed_port = parts.port
    except ValueError as exc:
        raise MircateConfigError(
            f"Connection {conn_id!r} has a malformed host {host!r} ({exc}). "
            "Use a host name such as 'api.b2b.retter.io' or a URL such as 'http://127.0.0.1'."
        ) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in raw):
        raise MircateConfigError(
            f"Connection {conn_id!r} has a malformed host {host!r}. "
            "Use a host name such as 'api.b2b.retter.io' or a URL such as 'http://127.0.0.1'."
        )
    if port is not None and parsed_port is not None and int(port) != parsed_port:
        raise MircateConfigError(
            f"Connection {conn_id!r} gives port {parsed_port} in the host {host!r} and port {port} "
            "in the port field. Keep only one of them."
        )
    final_port = port if port is not None else parsed_port
    if final_port is not None and not 0 < int(final_port) < 65536:
        raise MircateConfigError(f"Connection {conn_id!r} has an invalid port {final_port!r}.")
    netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if final_port is not None:
        netloc = f"{netloc}:{int(final_port)}"
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def parse_extras(conn_id: str, extras: dict[str, Any]) -> dict[str, Any]:
    """Convert and validate the connection extras; extras in URI form arrive as strings."""
    unknown = sorted(set(extras) - set(EXTRA_DEFAULTS))
    if unknown:
        raise MircateConfigError(
            f"Connection {conn_id!r} has unknown extra key(s) {unknown}. "
            f"Remove them; the accepted keys are {sorted(EXTRA_DEFAULTS)}."
        )
    values = {**EXTRA_DEFAULTS, **{k: v for k, v in extras.items() if v is not None and v != ""}}

    result: dict[str, Any] = {}
    result["project_id"] = _text(conn_id, "project_id", values["project_id"])
    result["api"] = _choice(conn_id, "api", values["api"], tuple(API_CLASSES))
    result["paging"] = _choice(conn_id, "paging", values["paging"], PAGING_MODES)
    for key in ("connect_timeout", "read_timeout", "backoff_base", "backoff_max", "max_retry_after"):
        result[key] = _number(conn_id, key, values[key], minimum=0.0, exclusive=key.endswith("timeout"))
    result["max_retries"] = int(
        _number(conn_id, "max_retries", values["max_retries"], minimum=0, integer=True)
    )
    rps = values["max_requests_per_second"]
    result["max_requests_per_second"] = (
        None if rps is None else _number(conn_id, "max_requests_per_second", rps, minimum=0.0, exclusive=True)
    )
    result["verify"] = _verify(conn_id, values["verify"])
    result["method_names"] = _method_names(conn_id, values["method_names"])
    return result


def _text(conn_id: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or "/" in value:
        raise MircateConfigError(
            f"Connection {conn_id!r} has an invalid extra {key}={value!r}: expected a non-empty "
            "string without '/'."
        )
    return value.strip()


def _choice(conn_id: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise MircateConfigError(
            f"Connection {conn_id!r} has an invalid extra {key}={value!r}: use one of {list(allowed)}."
        )
    return str(value)


def _number(
    conn_id: str, key: str, value: Any, *, minimum: float, exclusive: bool = False, integer: bool = False
) -> float:
    unit = (
        "an integer" if integer else "a number of seconds" if key != "max_requests_per_second" else "a number"
    )
    if isinstance(value, bool):
        number = None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or (integer and not number.is_integer()):
        raise MircateConfigError(
            f"Connection {conn_id!r} has an invalid extra {key}={value!r}: expected {unit}."
        )
    if number < minimum or (exclusive and number == minimum):
        bound = "greater than" if exclusive else "at least"
        raise MircateConfigError(
            f"Connection {conn_id!r} has an invalid extra {key}={value!r}: it must be {bound} {minimum:g}."
        )
    return number


def _verify(conn_id: str, value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    text = str(value).strip()
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    if text and os.path.exists(text):
        # Any other string is the path of a CA bundle (a file or a folder), as requests and httpx take it.
        return text
    raise MircateConfigError(
        f"Connection {conn_id!r} has an invalid extra verify={value!r}: use true, false or the path of an "
        "existing CA bundle."
    )


def _method_names(conn_id: str, value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise MircateConfigError(
                f"Connection {conn_id!r} has an extra method_names={value!r} that is not valid JSON ({exc}). "
                'Give a JSON object such as {"bulkProductUpsert": "bulkUpsertProducts"}.'
            ) from exc
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in value.items()
    ):
        raise MircateConfigError(
            f"Connection {conn_id!r} has an invalid extra method_names={value!r}: expected a JSON object "
            "that maps contract method names to live method names."
        )
    return dict(value)
