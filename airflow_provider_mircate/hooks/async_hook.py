"""The asynchronous Mircate hook, for triggers: same URLs, errors and retry policy as ``MircateHook``."""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from typing import Any

import httpx

from airflow_provider_mircate.hooks.base import MircateBaseHook
from airflow_provider_mircate.hooks.retry import (
    FailureKind,
    RetryMode,
    rename_status_fields,
)
from airflow_provider_mircate.hooks.settings import MircateConnectionSettings


class MircateAsyncHook(MircateBaseHook):
    """
    Call the Mircate API from an event loop with ``httpx.AsyncClient``.

    The first call (or :meth:`load_settings`, or ``async with``) reads the connection with
    ``aget_connection``, so the event loop does not block on the metadata database or a secrets backend.

    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param settings: ready settings that replace the connection lookup.
    """

    _client: httpx.AsyncClient | None = None

    async def load_settings(self) -> MircateConnectionSettings:
        """Read and validate the connection without blocking the event loop."""
        if "settings" not in self.__dict__:
            if self._given_settings is not None:
                settings = self._given_settings
            else:
                conn = await self.aget_connection(self.mircate_conn_id)
                settings = MircateConnectionSettings.from_connection(conn)
            # Fill the cached property so that the sync helpers (build_url, retry_policy) can use it.
            self._given_settings = settings
            await asyncio.to_thread(lambda: self.settings)
        return self.settings

    async def _get_client(self) -> httpx.AsyncClient:
        if self._client is None:
            s = await self.load_settings()
            self._client = httpx.AsyncClient(
                headers=self._headers(),
                verify=s.verify,
                timeout=httpx.Timeout(s.read_timeout, connect=s.connect_timeout),
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled async client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> MircateAsyncHook:
        await self.load_settings()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def call(
        self,
        method: str,
        *,
        api_class: str | None = None,
        http_method: str = "POST",
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_mode: RetryMode = "idempotent",
    ) -> Any:
        """Send one API call and return its parsed JSON body; the async twin of ``MircateHook.call``."""
        client = await self._get_client()
        url = self.build_url(method, api_class)
        attempt = 0
        while True:
            delay = self.rate_limiter.reserve()
            if delay:
                await asyncio.sleep(delay)
            try:
                response = await client.request(http_method, url, json=json, params=dict(params or {}))
            except httpx.HTTPError as exc:
                kind: FailureKind = (
                    "not_sent" if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)) else "ambiguous"
                )
                wait = self._wait_after_failure(
                    attempt,
                    kind=kind,
                    reason=type(exc).__name__,
                    detail=f"{type(exc).__name__}: {exc}",
                    mode=retry_mode,
                    label=method,
                    url=url,
                    cause=exc,
                )
            else:
                if response.status_code < 400:
                    if response.status_code == 204 or not response.content:
                        return None
                    try:
                        return jsonlib.loads(response.content)
                    except ValueError:
                        wait = self._wait_after_failure(
                            attempt,
                            kind="ambiguous",
                            reason="truncated body",
                            detail="truncated body",
                            mode=retry_mode,
                            label=method,
                            url=url,
                        )
                else:
                    wait = self._wait_after_status(
                        attempt,
                        status=response.status_code,
                        body=response.content,
                        retry_after=response.headers.get("Retry-After"),
                        mode=retry_mode,
                        label=method,
                    )
            attempt += 1
            await asyncio.sleep(wait)

    async def check_batch_status(
        self,
        batch_id: str,
        *,
        method: str = "checkBatchStatus",
        id_field: str = "batchId",
        api_class: str | None = None,
        http_method: str | None = None,
        status_fields: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Return the status dict of one batch; the async twin of ``MircateHook.check_batch_status``."""
        await self.load_settings()
        api_class, verb, kwargs = self.batch_status_request(
            batch_id, id_field=id_field, api_class=api_class, http_method=http_method
        )
        answer = await self.call(method, api_class=api_class, http_method=verb, **kwargs)
        return rename_status_fields(answer or {}, status_fields)
