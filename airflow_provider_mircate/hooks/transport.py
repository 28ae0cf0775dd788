"""The HTTP layer of ``MircateHook``: one pooled ``requests.Session``, retries and typed errors."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

import requests
from requests.adapters import HTTPAdapter

from airflow_provider_mircate.hooks.base import MircateBaseHook
from airflow_provider_mircate.hooks.retry import FailureKind, RetryMode

if TYPE_CHECKING:
    from airflow_provider_mircate.hooks.settings import MircateConnectionSettings


_HookT = TypeVar("_HookT", bound="MircateTransportHook")


class MircateTransportHook(MircateBaseHook):
    """
    Send requests to the Mircate API over one pooled HTTP session.

    HTTP 429, 5xx, connection errors and timeouts are retried with capped exponential backoff and full
    jitter, honouring ``Retry-After``; 400, 403 and 404 raise at once.

    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param pool_size: the number of HTTP connections kept open, for callers that share one hook across
        threads.
    :param settings: ready settings that replace the connection lookup.
    :param max_retries: retries per request, replacing the connection extra ``max_retries``.
    """

    def __init__(
        self,
        mircate_conn_id: str = MircateBaseHook.default_conn_name,
        *,
        pool_size: int = 10,
        settings: MircateConnectionSettings | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__(mircate_conn_id, settings=settings, max_retries=max_retries)
        self.pool_size = pool_size

    @cached_property
    def session(self) -> requests.Session:
        """The pooled session, built on first use and reused by every call of this hook."""
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update(self._headers())
        session.verify = self.settings.verify
        # Proxies and credentials from the environment would otherwise be merged into every request.
        session.trust_env = False
        return session

    def get_conn(self) -> requests.Session:
        """Return the pooled session."""
        return self.session

    def close(self) -> None:
        """Close the pooled session's connections."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def __enter__(self: _HookT) -> _HookT:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(
        self,
        method: str,
        *,
        api_class: str | None = None,
        http_method: str = "POST",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        retry_mode: RetryMode = "idempotent",
    ) -> Any:
        """
        Send one API call and return its parsed JSON body (``None`` for HTTP 204).

        :param method: the method name, mapped through the connection extra ``method_names``.
        :param api_class: the class segment of the URL; the connection's ``api`` decides the default
            (``PIMAPI`` or ``MerchantAPI``). Other groups: ``PromotionAPI``, ``LoyaltyAPI`` and so on.
        :param http_method: the HTTP verb.
        :param json: the JSON body.
        :param params: query parameters.
        :param stream: return the open ``requests.Response`` instead of parsed JSON; the caller closes it.
        :param retry_mode: ``idempotent`` retries every retryable failure; ``create`` retries only
            failures where the request surely never arrived.
        """
        return self.request(
            http_method,
            self.build_url(method, api_class),
            label=method,
            json=json,
            params=params,
            stream=stream,
            retry_mode=retry_mode,
        )

    def request(
        self,
        http_method: str,
        url: str,
        *,
        label: str,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
        retry_mode: RetryMode = "idempotent",
        allow_redirects: bool = True,
    ) -> Any:
        """
        Send one request to ``url`` with the API key and the retry policy; see :meth:`call`.

        :param label: the name used in logs and errors (the method name, or ``download of <url>``);
            never the URL's query, which may carry a signature.
        :param allow_redirects: follow redirects; a caller that must check where a redirect leads
            before the key is sent there passes ``False``.
        """
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        attempt = 0
        while True:
            delay = self.rate_limiter.reserve()
            if delay:
                time.sleep(delay)
            self.log.debug("Sending %s %s", http_method, label)
            try:
                response = self.session.request(
                    http_method,
                    url,
                    json=json,
                    params=params,
                    stream=stream,
                    timeout=timeout,
                    allow_redirects=allow_redirects,
                )
            except requests.RequestException as exc:
                wait = self._wait_after_failure(
                    attempt,
                    kind=_failure_kind(exc),
                    reason=type(exc).__name__,
                    detail=f"{type(exc).__name__}: {exc}",
                    mode=retry_mode,
                    label=label,
                    url=url,
                    cause=exc,
                )
            else:
                if response.status_code < 400:
                    if stream:
                        return response
                    outcome = _parse_body(response)
                    if outcome is not _BROKEN:
                        return outcome
                    # The status arrived but the body was cut short: the request was applied.
                    wait = self._wait_after_failure(
                        attempt,
                        kind="ambiguous",
                        reason="truncated body",
                        detail="truncated body",
                        mode=retry_mode,
                        label=label,
                        url=url,
                    )
                else:
                    body = response.content if not stream else response.raw.read(4096, decode_content=True)
                    response.close()
                    wait = self._wait_after_status(
                        attempt,
                        status=response.status_code,
                        body=body,
                        retry_after=response.headers.get("Retry-After"),
                        mode=retry_mode,
                        label=label,
                    )
            attempt += 1
            time.sleep(wait)


_BROKEN = object()


def _parse_body(response: requests.Response) -> Any:
    """Return the JSON body, ``None`` for an empty one, or ``_BROKEN`` when the body was cut short."""
    try:
        content = response.content
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        return _BROKEN
    if response.status_code == 204 or not content:
        return None
    expected = response.headers.get("Content-Length")
    if expected is not None and expected.isdigit() and int(expected) != len(content):
        return _BROKEN
    try:
        return response.json()
    except ValueError:
        return _BROKEN


def _failure_kind(exc: requests.RequestException) -> FailureKind:
    """Tell a request that surely never reached the server from one that may have been applied."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "not_sent"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc)
        if "NewConnectionError" in text or "Connection refused" in text or "NameResolutionError" in text:
            return "not_sent"
    return "ambiguous"
