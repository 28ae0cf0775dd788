"""Exceptions raised by the Mircate provider, one class per failure a caller handles differently."""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowException


class MircateError(AirflowException):
    """Base class of every error this provider raises."""


class MircateConfigError(MircateError):
    """The ``mircate`` connection or an operator argument is invalid; nothing was sent."""


class MircateValidationError(MircateError):
    """
    Input data failed validation before anything was sent.

    :param message: the summary shown to the user.
    :param errors: one dict per problem, with ``index`` or ``line``, ``sku``, ``field`` and ``message``.
    """

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


class MircateResultWindowError(MircateError):
    """A ``getProducts`` page lies past the search engine's result window."""


class MircateAPIError(MircateError):
    """
    The API returned an error status.

    :param message: the text shown to the user.
    :param status: the HTTP status code.
    :param method: the API method that failed.
    :param server_message: the ``message`` field of the error body, when there was one.
    :param detail: the ``error`` field of the error body (validation detail), when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        server_message: str | None = None,
        detail: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.server_message = server_message
        self.detail = detail


class MircateBadRequestError(MircateAPIError):
    """HTTP 400: a parameter is missing or invalid. Never retried."""


class MircateAuthError(MircateAPIError):
    """HTTP 403: the API key is missing, wrong or under-privileged, or the account is unknown."""


class MircateNotFoundError(MircateAPIError):
    """HTTP 404: the record, image, account or project does not exist."""


class MircateAccountNotFoundError(MircateNotFoundError):
    """HTTP 404 for the account, project, class or method of the URL, not for a record: a setup error."""


class MircateRateLimitError(MircateAPIError):
    """HTTP 429 after every retry, or a ``Retry-After`` longer than the connection allows."""


class MircateServerError(MircateAPIError):
    """HTTP 5xx after every retry."""


class MircateConnectionError(MircateError):
    """The host could not be reached, or the response was lost, after every retry."""


class MircateTimeoutError(MircateError):
    """A wait for batches or an export passed its timeout before they finished."""


class MircateBatchFailedError(MircateError):
    """
    A batch ended in a failure state, or finished with item errors.

    :param message: the summary shown to the user.
    :param batches: the final status dicts of the batches that failed.
    """

    def __init__(self, message: str, batches: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.batches = batches or []
