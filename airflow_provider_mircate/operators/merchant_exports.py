"""Operators that copy a merchant's stock and price export and history from Mircate to object storage."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_mircate.compat import conf
from airflow_provider_mircate.exceptions import MircateConfigError, MircateError, MircateTimeoutError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.merchant import DEFAULT_MERCHANT_CONN_ID, MERCHANT_API_CLASS
from airflow_provider_mircate.triggers.merchant_export import (
    DEFAULT_EXPORT_FAILURE_STATES,
    DEFAULT_EXPORT_SUCCESS_STATES,
    MircateExportTrigger,
    find_export,
)
from airflow_provider_mircate.utils.filenames import (
    UnsafeFilenameError,
    check_name_component,
    object_path_under,
)
from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mircate.types import MerchantExportResult, MerchantHistoryResult

DOWNLOAD_CHUNK = 1024 * 1024


class MircateExportStockPriceOperator(BaseOperator):
    """
    Start a stock and price export, wait until it is ready, and download its files into ``destination``.

    Each file is streamed into ``destination/<name>`` and appears only when it is complete (and, when the
    API states a ``size``, when that many bytes arrived). A file name from the API that is not a plain
    name (a ``/``, ``..`` or a control character) fails the task. The download sends the merchant key, so
    a file URL on another host than the connection's is rejected. Each try starts a new export, and
    Mircate has no endpoint to cancel one.

    :param destination: the folder for the files, as a URI such as ``s3://bucket/exports/`` or a local
        path. (templated)
    :param dest_conn_id: the object store connection of ``destination``. (templated)
    :param filters: the body of the export request, sent unchanged. (templated)
    :param mircate_conn_id: a ``mircate`` connection with extra ``api=merchant``.
    :param poll_interval: seconds between two ``listExports`` calls while waiting.
    :param timeout: seconds to wait for the export before failing; ``None`` waits without a limit.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param export_method: the API method that starts an export.
    :param list_method: the API method that lists exports and their status.
    :param files_method: the API method that returns the files of an export.
    :param success_states: export status names that mean the files are ready (default ``["DONE"]``).
    :param failure_states: export status names that mean the export failed (default ``["FAILED"]``).
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "destination", "dest_conn_id", "filters")
    template_fields_renderers = {"filters": "json"}
    ui_color = "#fdf2e3"

    def __init__(
        self,
        *,
        destination: str | ObjectStoragePath,
        dest_conn_id: str | None = None,
        filters: dict[str, Any] | None = None,
        mircate_conn_id: str = DEFAULT_MERCHANT_CONN_ID,
        poll_interval: float = 10.0,
        timeout: float | None = 3600.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        export_method: str = "exportStockPrice",
        list_method: str = "listExports",
        files_method: str = "getExportedFiles",
        success_states: Iterable[str] = DEFAULT_EXPORT_SUCCESS_STATES,
        failure_states: Iterable[str] = DEFAULT_EXPORT_FAILURE_STATES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if poll_interval <= 0 or (timeout is not None and timeout <= 0):
            raise MircateConfigError(
                f"poll_interval={poll_interval!r} and timeout={timeout!r} are invalid: give seconds above 0."
            )
        self.destination = destination
        self.dest_conn_id = dest_conn_id
        self.filters = filters
        self.mircate_conn_id = mircate_conn_id
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        self.export_method = export_method
        self.list_method = list_method
        self.files_method = files_method
        self.success_states = list(success_states)
        self.failure_states = list(failure_states)

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    def execute(self, context: Context) -> MerchantExportResult:
        filters = dict(self.filters or {})
        export_id = self.hook.export_stock_price(
            method=self.export_method, api_class=MERCHANT_API_CLASS, **filters
        )
        self.log.info("Started Mircate stock and price export %s", export_id)
        if self.deferrable:
            trigger = MircateExportTrigger(
                export_id=export_id,
                mircate_conn_id=self.mircate_conn_id,
                poll_interval=self.poll_interval,
                deadline=time.time() + self.timeout if self.timeout is not None else None,
                list_method=self.list_method,
                api_class=MERCHANT_API_CLASS,
                success_states=self.success_states,
                failure_states=self.failure_states,
            )
            self.defer(trigger=trigger, method_name="execute_complete", kwargs={"export_id": export_id})
        self._wait(export_id)
        return self._download(export_id)

    def execute_complete(
        self, context: Context, event: dict[str, Any], export_id: str
    ) -> MerchantExportResult:
        """Download the files after the export trigger reported success; raise on any other event."""
        status = event.get("status")
        if status == "success":
            return self._download(export_id)
        if status == "timeout":
            raise MircateTimeoutError(f"Timed out after {self.timeout} s waiting for export {export_id}.")
        raise MircateError(str(event.get("message") or f"Waiting for export {export_id} failed: {event!r}"))

    def _wait(self, export_id: str) -> None:
        deadline = time.monotonic() + self.timeout if self.timeout is not None else None
        while True:
            entry = find_export(
                self.hook.list_exports(method=self.list_method, api_class=MERCHANT_API_CLASS), export_id
            )
            status = None if entry is None else entry.get("status")
            if status in self.success_states:
                self.log.info("Export %s is %s", export_id, status)
                return
            if status in self.failure_states:
                raise MircateError(f"Export {export_id} ended {status}: {entry}.")
            if deadline is not None and time.monotonic() >= deadline:
                raise MircateTimeoutError(
                    f"Timed out after {self.timeout} s waiting for export {export_id} (last status {status})."
                )
            self.log.info("Waiting for export %s (status %s)", export_id, status)
            pause = (
                self.poll_interval
                if deadline is None
                else min(self.poll_interval, deadline - time.monotonic())
            )
            time.sleep(max(0.0, pause))

    def _download(self, export_id: str) -> MerchantExportResult:
        files = self.hook.get_exported_files(
            export_id, method=self.files_method, api_class=MERCHANT_API_CLASS
        )
        destination = to_object_path(self.destination, self.dest_conn_id)
        paths: list[str] = []
        total = 0
        for entry in files:
            target = self._target(destination, entry)
            written = self._download_file(entry, target)
            paths.append(str(target))
            total += written
            self.log.info("Downloaded %s (%d bytes) to %s", entry.get("name"), written, target)
        self.log.info("Export %s: %d file(s), %d bytes in %s", export_id, len(paths), total, destination)
        return {"export_id": export_id, "paths": paths, "bytes": total}

    @staticmethod
    def _target(destination: ObjectStoragePath, entry: Any) -> ObjectStoragePath:
        name = entry.get("name") if isinstance(entry, dict) else None
        try:
            return object_path_under(destination, check_name_component(name))
        except UnsafeFilenameError as exc:
            raise MircateError(
                f"The export listed a file that cannot be stored: {str(exc).rstrip('.')}."
            ) from exc

    def _download_file(self, entry: dict[str, Any], target: ObjectStoragePath) -> int:
        url = entry.get("url")
        if not isinstance(url, str) or not url:
            raise MircateError(f"The exported file {entry.get('name')!r} has no download url: {entry}.")
        expected = entry.get("size")
        written = 0
        with self.hook.download_exported_file(url) as response, atomic_writer(target, "wb") as handle:
            for block in response.iter_content(DOWNLOAD_CHUNK):
                handle.write(block)
                written += len(block)
            # Raising inside the block discards the partial file.
            if isinstance(expected, int) and not isinstance(expected, bool) and written != expected:
                raise MircateError(
                    f"The exported file {entry.get('name')!r} was {written} bytes, but the API listed "
                    f"{expected}; the download was cut short. Retry the task."
                )
        return written


class MircateStockPriceHistoryOperator(BaseOperator):
    """
    Write the merchant's stock and price history as JSON lines, one change a line, to object storage.

    :param destination: the JSON lines file, as a URI such as ``s3://bucket/history.jsonl``. (templated)
    :param dest_conn_id: the object store connection of ``destination``. (templated)
    :param sku: only the history of this sku. (templated)
    :param start: the earliest change, an ISO-8601 timestamp or a ``datetime``; sent as ``from``. (templated)
    :param end: the latest change, sent as ``to``. (templated)
    :param mircate_conn_id: a ``mircate`` connection with extra ``api=merchant``.
    :param method: the API method that returns the history.
    :param list_field: the name of the change list in the response.

    Returns ``{"path", "count"}``.
    """

    template_fields: Sequence[str] = ("mircate_conn_id", "destination", "dest_conn_id", "sku", "start", "end")
    ui_color = "#fdf2e3"

    def __init__(
        self,
        *,
        destination: str | ObjectStoragePath,
        dest_conn_id: str | None = None,
        sku: str | None = None,
        start: str | datetime | None = None,
        end: str | datetime | None = None,
        mircate_conn_id: str = DEFAULT_MERCHANT_CONN_ID,
        method: str = "getStockPriceHistory",
        list_field: str = "history",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.dest_conn_id = dest_conn_id
        self.sku = sku
        self.start = start
        self.end = end
        self.mircate_conn_id = mircate_conn_id
        self.method = method
        self.list_field = list_field

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    def execute(self, context: Context) -> MerchantHistoryResult:
        filters: dict[str, Any] = {}
        if self.sku:
            filters["sku"] = self.sku
        for name, value in (("from", self.start), ("to", self.end)):
            if value not in (None, ""):
                filters[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        # NOTE: the history is read in one call; whether the live API pages long histories is unknown.
        history = self.hook.get_stock_price_history(
            method=self.method, api_class=MERCHANT_API_CLASS, list_field=self.list_field, **filters
        )
        path = to_object_path(self.destination, self.dest_conn_id)
        with atomic_writer(path, "w") as handle:
            for change in history:
                handle.write(json.dumps(change, ensure_ascii=False, sort_keys=True) + "\n")
        self.log.info("Wrote %d stock and price change(s) to %s", len(history), path)
        return {"path": str(path), "count": len(history)}
