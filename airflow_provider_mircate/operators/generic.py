"""A generic operator for any Mircate API method, including groups without a dedicated operator."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_mircate.exceptions import MircateConfigError, MircateValidationError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import Context

MAX_XCOM_BYTES = 64 * 1024
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class MircateOperator(BaseOperator):
    """
    Call one Mircate API method and return its parsed JSON response, or store it when it is large.

    The call goes to ``{host}/{project_id}/CALL/{api_class}/{method}/{account_id}`` with the hook's retries
    and typed errors, so this reaches groups that have no dedicated operator (``PromotionAPI``,
    ``LoyaltyAPI``, ``WalletAPI`` ...). Retries assume the call may be repeated: for a method that
    creates a record on each call, pass ``retry_mode="create"``.

    The response becomes the XCom value only when its JSON is under 64 KiB. A larger response needs
    ``response_path``: it is then written there and the operator returns
    ``{"path": ..., "bytes": ...}``; without ``response_path`` the task fails instead of pushing a large
    XCom. With ``response_path`` set, the response is always written there, whatever its size.

    Mircate has no endpoint that cancels a call in progress, so there is no ``on_kill``.

    :param api_class: the class segment of the URL, such as ``PIMAPI`` or ``PromotionAPI``.
    :param method: the method name, case-sensitive camelCase (``getProducts``).
    :param http_method: the HTTP verb.
    :param body: the JSON body. (templated)
    :param params: query parameters. (templated)
    :param response_path: where to write the JSON response, an ``ObjectStoragePath`` or a URI. (templated)
    :param response_conn_id: the connection of that object store.
    :param retry_mode: ``idempotent`` (default) or ``create``; see :meth:`MircateHook.call`.
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    """

    template_fields: Sequence[str] = (
        "mircate_conn_id",
        "response_conn_id",
        "body",
        "params_",
        "response_path",
    )
    template_fields_renderers = {"body": "json", "params_": "json"}

    def __init__(
        self,
        *,
        api_class: str,
        method: str,
        http_method: str = "POST",
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        response_path: str | ObjectStoragePath | None = None,
        response_conn_id: str | None = None,
        retry_mode: str = "idempotent",
        mircate_conn_id: str = "mircate_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if http_method.upper() not in HTTP_METHODS:
            raise MircateConfigError(
                f"http_method={http_method!r} is invalid: use one of {list(HTTP_METHODS)}."
            )
        if retry_mode not in ("idempotent", "create"):
            raise MircateConfigError(f"retry_mode={retry_mode!r} is invalid: use 'idempotent' or 'create'.")
        if not api_class or not method:
            raise MircateConfigError(
                "api_class and method are both required, such as 'PIMAPI' and 'getProducts'."
            )
        self.api_class = api_class
        self.method = method
        self.http_method = http_method.upper()
        self.body = body
        # BaseOperator owns ``params`` (DAG params), so the query parameters live under another name.
        self.params_ = params
        self.response_path = response_path
        self.response_conn_id = response_conn_id
        self.retry_mode = retry_mode
        self.mircate_conn_id = mircate_conn_id

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    def execute(self, context: Context) -> Any:
        self.log.info("Calling Mircate %s %s/%s", self.http_method, self.api_class, self.method)
        response = self.hook.call(
            self.method,
            api_class=self.api_class,
            http_method=self.http_method,
            json=self.body if self.http_method != "GET" else None,
            params=self.params_,
            retry_mode="create" if self.retry_mode == "create" else "idempotent",
        )
        text = json.dumps(response, ensure_ascii=False)
        size = len(text.encode("utf-8"))
        if self.response_path is None:
            if size >= MAX_XCOM_BYTES:
                raise MircateValidationError(
                    f"Mircate {self.method} returned {size} bytes of JSON, too large for an XCom (the limit "
                    f"is {MAX_XCOM_BYTES} bytes). The call was made; set response_path to store the "
                    "response in object storage."
                )
            return response
        path = to_object_path(self.response_path, self.response_conn_id)
        with atomic_writer(path, "w") as handle:
            handle.write(text)
        self.log.info("Wrote the %d-byte response of %s to %s", size, self.method, path)
        return {"path": str(path), "bytes": size}
