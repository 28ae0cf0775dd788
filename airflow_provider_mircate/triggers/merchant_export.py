"""A trigger that waits in the triggerer for a merchant stock and price export to finish."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mircate.exceptions import MircateError
from airflow_provider_mircate.hooks.async_hook import MircateAsyncHook
from airflow_provider_mircate.triggers.batch import TRANSIENT_ERRORS, transient_wait

# NOTE: the export status names are assumed (the emulator uses PENDING, RUNNING, DONE and FAILED); every
# caller takes success_states and failure_states.
DEFAULT_EXPORT_SUCCESS_STATES = ("DONE",)
DEFAULT_EXPORT_FAILURE_STATES = ("FAILED",)


def find_export(exports: Iterable[Any], export_id: str, id_field: str = "exportId") -> dict[str, Any] | None:
    """Return the entry of ``export_id`` in a ``listExports`` response, or ``None`` when it is not listed."""
    for entry in exports:
        if isinstance(entry, Mapping) and str(entry.get(id_field)) == export_id:
            return dict(entry)
    return None


class MircateExportTrigger(BaseTrigger):
    """
    Poll ``listExports`` until one export reaches a success or failure state, then fire one event.

    The event is ``{"status": "success" | "failed" | "timeout" | "error", "message": ..., "export": {...}}``
    where ``export`` is the export's last ``listExports`` entry (``None`` when it was never listed).
    Rate limiting, server errors and connection failures that outlast the hook's retries are logged and
    polled again after a wait that doubles, as in the batch status trigger.

    :param export_id: the id that ``exportStockPrice`` returned.
    :param mircate_conn_id: a ``mircate`` connection with extra ``api=merchant``.
    :param poll_interval: seconds between two ``listExports`` calls.
    :param deadline: wall-clock time (epoch seconds) after which a ``timeout`` event fires; ``None`` waits
        without a limit.
    :param list_method: the API method that lists exports.
    :param api_class: the class segment of the URL.
    :param list_field: the name of the export list in the response.
    :param id_field: the name of the export id in each entry.
    :param success_states: export status names that mean the files are ready.
    :param failure_states: export status names that mean the export failed.
    """

    def __init__(
        self,
        *,
        export_id: str,
        mircate_conn_id: str,
        poll_interval: float = 10.0,
        deadline: float | None = None,
        list_method: str = "listExports",
        api_class: str = "MerchantAPI",
        list_field: str = "exports",
        id_field: str = "exportId",
        success_states: Iterable[str] = DEFAULT_EXPORT_SUCCESS_STATES,
        failure_states: Iterable[str] = DEFAULT_EXPORT_FAILURE_STATES,
    ) -> None:
        super().__init__()
        if poll_interval <= 0:
            raise ValueError(f"poll_interval={poll_interval!r} is invalid: give a number of seconds above 0.")
        self.export_id = export_id
        self.mircate_conn_id = mircate_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.list_method = list_method
        self.api_class = api_class
        self.list_field = list_field
        self.id_field = id_field
        self.success_states = list(success_states)
        self.failure_states = list(failure_states)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "export_id": self.export_id,
                "mircate_conn_id": self.mircate_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "list_method": self.list_method,
                "api_class": self.api_class,
                "list_field": self.list_field,
                "id_field": self.id_field,
                "success_states": self.success_states,
                "failure_states": self.failure_states,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = MircateAsyncHook(self.mircate_conn_id)
        try:
            payload = await self._poll_until_finished(hook)
        finally:
            await hook.aclose()
        yield TriggerEvent(payload)

    async def _poll_until_finished(self, hook: MircateAsyncHook) -> dict[str, Any]:
        entry: dict[str, Any] | None = None
        failures = 0
        while True:
            if self.deadline is not None and time.time() >= self.deadline:
                return self._event(
                    "timeout", f"Deadline passed before export {self.export_id} finished.", entry
                )
            try:
                answer = await hook.call(self.list_method, api_class=self.api_class, json={})
            except TRANSIENT_ERRORS as exc:
                failures += 1
                wait = transient_wait(self.poll_interval, failures)
                self.log.warning(
                    "Listing Mircate exports failed (%d time(s) in a row): %s; polling again in %.1f s",
                    failures,
                    exc,
                    wait,
                )
                await asyncio.sleep(self._bounded(wait))
                continue
            except MircateError as exc:
                return self._event("error", f"Listing Mircate exports failed: {exc}", entry)
            failures = 0
            exports = answer.get(self.list_field) if isinstance(answer, Mapping) else None
            entry = find_export(exports or [], self.export_id, self.id_field)
            status = None if entry is None else entry.get("status")
            if status in self.success_states:
                return self._event("success", f"Export {self.export_id} is {status}.", entry)
            if status in self.failure_states:
                return self._event("failed", f"Export {self.export_id} ended {status}: {entry}.", entry)
            self.log.info("Waiting for Mircate export %s (status %s)", self.export_id, status)
            await asyncio.sleep(self._bounded(self.poll_interval))

    def _bounded(self, wait: float) -> float:
        """Shorten a wait so that the deadline check runs soon after the deadline passes."""
        if self.deadline is None:
            return wait
        return max(0.0, min(wait, self.deadline - time.time()))

    def _event(self, status: str, message: str, entry: dict[str, Any] | None) -> dict[str, Any]:
        return {"status": status, "message": message, "export": entry}
