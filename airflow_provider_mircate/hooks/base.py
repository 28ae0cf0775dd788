"""Connection handling shared by the sync and the async Mircate hooks."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.hooks.retry import (
    FailureKind,
    RateLimiter,
    RetryMode,
    RetryPolicy,
    connection_error,
    error_from_response,
    summarize_body,
    without_query,
)
from airflow_provider_mircate.hooks.settings import MircateConnectionSettings

URL_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


class MircateBaseHook(BaseHook):
    """
    Load and validate a ``mircate`` connection and build API URLs from it.

    The connection is read on first use, never in ``__init__``, so building a hook at DAG parse time
    makes no database call.

    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param settings: ready settings that replace the connection lookup (for tests and scripts).
    :param max_retries: retries per request, replacing the connection extra ``max_retries``; a caller
        that retries on its own, such as a trigger that polls again later, passes a small number.
    """

    conn_name_attr = "mircate_conn_id"
    default_conn_name = "mircate_default"
    conn_type = "mircate"
    hook_name = "Mircate"

    def __init__(
        self,
        mircate_conn_id: str = default_conn_name,
        *,
        settings: MircateConnectionSettings | None = None,
        max_retries: int | None = None,
    ) -> None:
        super().__init__()
        if not mircate_conn_id and settings is None:
            raise ValueError(
                "mircate_conn_id is empty. Pass the id of a connection of type 'mircate', "
                "for example 'mircate_default'."
            )
        self.mircate_conn_id = mircate_conn_id
        self._given_settings = settings
        self._max_retries = max_retries

    @cached_property
    def settings(self) -> MircateConnectionSettings:
        """The validated connection settings; the API key is registered with the secret masker."""
        if self._given_settings is not None:
            settings = self._given_settings
        else:
            settings = MircateConnectionSettings.from_connection(self.get_connection(self.mircate_conn_id))
        mask_secret(settings.api_key)
        return settings

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        s = self.settings
        return RetryPolicy(
            max_retries=s.max_retries if self._max_retries is None else self._max_retries,
            backoff_base=s.backoff_base,
            backoff_max=s.backoff_max,
            max_retry_after=s.max_retry_after,
        )

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        return RateLimiter(self.settings.max_requests_per_second)

    def method_name(self, name: str) -> str:
        """Return the live name of a contract method, after the connection's ``method_names`` map."""
        return self.settings.method_names.get(name, name)

    def build_url(self, method: str, api_class: str | None = None) -> str:
        """
        Return ``{host}/{project_id}/CALL/{api_class}/{method}/{account_id}`` for a method.

        :raises MircateConfigError: when the class or method name is not a plain identifier, so that
            a name such as ``x/../y`` cannot reach another endpoint.
        """
        s = self.settings
        segments = {"api_class": api_class or s.api_class, "method": self.method_name(method)}
        for field_name, value in segments.items():
            if not isinstance(value, str) or not URL_SEGMENT.fullmatch(value):
                raise MircateConfigError(
                    f"Invalid {field_name} {value!r}: use a name of letters, digits and underscores "
                    "such as 'PIMAPI' or 'getProducts'."
                )
        return f"{s.base_url}/{s.project_id}/CALL/{segments['api_class']}/{segments['method']}/{s.account_id}"

    def batch_status_request(
        self, batch_id: str, *, id_field: str, api_class: str | None, http_method: str | None
    ) -> tuple[str, str, dict[str, Any]]:
        """
        Return ``(api_class, verb, call kwargs)`` for a batch status query.

        PIM batches are queried with POST and a JSON body, merchant batches with GET and a query string.
        """
        api_class = api_class or self.settings.api_class
        verb = http_method or ("GET" if api_class == "MerchantAPI" else "POST")
        if verb == "GET":
            return api_class, verb, {"params": {id_field: batch_id}}
        return api_class, verb, {"json": {id_field: batch_id}}

    def _wait_after_failure(
        self,
        attempt: int,
        *,
        kind: FailureKind,
        reason: str,
        detail: str,
        mode: RetryMode,
        label: str,
        url: str,
        cause: BaseException | None = None,
    ) -> float:
        """
        Return the wait before retrying a request that got no usable response, or raise when it may not.

        :param reason: the short cause logged with the retry (an exception name, ``truncated body``).
        :param detail: the full cause put in the error when no retry is left.
        :raises MircateConnectionError: when the retries are used up or the mode forbids a retry.
        """
        policy = self.retry_policy
        if attempt >= policy.max_retries or not policy.should_retry_failure(kind, mode):
            raise connection_error(label, without_query(url), detail, attempts=attempt + 1) from cause
        return self._log_retry(attempt, label, reason, policy.backoff(attempt))

    def _wait_after_status(
        self, attempt: int, *, status: int, body: bytes, retry_after: str | None, mode: RetryMode, label: str
    ) -> float:
        """
        Return the wait before retrying a request that returned an error status, or raise its error.

        :raises MircateAPIError: the typed error of the status when it is not retried or no retry is left.
        """
        policy = self.retry_policy
        self.log.debug("Mircate %s returned HTTP %s: %s", label, status, summarize_body(body))
        retryable = policy.should_retry_status(status, mode)
        if not retryable or attempt >= policy.max_retries:
            raise error_from_response(
                status, body, method=label, conn_id=self.mircate_conn_id, after_retries=retryable
            )
        wait = policy.wait_for_status(attempt, status, retry_after, self._describe(label))
        return self._log_retry(attempt, label, f"HTTP {status}", wait)

    def _log_retry(self, attempt: int, label: str, reason: str, wait: float) -> float:
        self.log.warning(
            "Mircate %s failed with %s; retry %d of %d in %.2f s",
            label,
            reason,
            attempt + 1,
            self.retry_policy.max_retries,
            wait,
        )
        return wait

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.settings.api_key, "Accept": "application/json"}

    def _describe(self, method: str) -> str:
        return f"Mircate {method} (connection {self.mircate_conn_id!r})"

    @staticmethod
    def _test_call(api: str) -> tuple[str, str, str | None]:
        """Return the cheap authenticated call for ``test_connection``: (method, HTTP verb, class)."""
        if api == "merchant":
            # NOTE: the merchant read used here (listExports, POST) is an assumed name; override it with
            # the connection extra method_names if the live API differs.
            return "listExports", "POST", None
        return "getProductSettings", "GET", None

    @staticmethod
    def _explain_failure(exc: Exception, conn_id: str) -> str:
        from airflow_provider_mircate.exceptions import (
            MircateAuthError,
            MircateConnectionError,
            MircateNotFoundError,
        )

        if isinstance(exc, MircateAuthError):
            return (
                f"Access denied (HTTP 403): wrong API key or unknown account. Check the password (API key) "
                f"and login (account id) of connection {conn_id!r}."
            )
        if isinstance(exc, MircateNotFoundError):
            return (
                f"Unknown account or project (HTTP 404). Check the login (account id) and the extra "
                f"project_id of connection {conn_id!r}."
            )
        if isinstance(exc, MircateConnectionError):
            return f"Host unreachable: {exc}"
        return str(exc)
