"""A trigger that polls Mircate batch statuses from the triggerer until every batch finishes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_mircate.exceptions import (
    MircateConnectionError,
    MircateError,
    MircateRateLimitError,
    MircateServerError,
)
from airflow_provider_mircate.hooks.async_hook import MircateAsyncHook
from airflow_provider_mircate.utils.batches import BatchStates, evaluate_batches, normalize_batch_ids

# Failures that the hook already retried and that may still clear up; the trigger waits and polls again.
TRANSIENT_ERRORS = (MircateRateLimitError, MircateServerError, MircateConnectionError)
MAX_TRANSIENT_WAIT = 600.0


def transient_wait(poll_interval: float, failures: int) -> float:
    """Return the wait in seconds after ``failures`` polls in a row failed transiently: doubling, capped."""
    ceiling = max(MAX_TRANSIENT_WAIT, poll_interval)
    return min(ceiling, poll_interval * (2 ** max(0, failures - 1)))


class MircateBatchStatusTrigger(BaseTrigger):
    """
    Poll ``checkBatchStatus`` for a group of batches and fire one event when they are finished.

    Only batches not yet in a success or failure state are polled again. The event is
    ``{"status": "success" | "failed" | "timeout" | "error", "message": ..., "batches": [...]}`` where each
    batch is ``{batchId, status, total, processed, failed, errors}`` with at most 5 errors.

    Rate limiting (429), server errors (5xx) and connection failures that outlast the hook's own retries
    are logged and polled again after a wait that doubles each time, starting at ``poll_interval`` and
    capped at 600 s. Any other API error (400, 403, 404) fires an ``error`` event.

    :param batch_ids: one batch id or a list of ids.
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param poll_interval: seconds between two polling rounds.
    :param deadline: wall-clock time (epoch seconds) after which a ``timeout`` event fires; checked before
        every status request. ``None`` waits without a limit.
    :param fail_on_item_errors: fire ``failed`` when a finished batch reports failed items.
    :param status_method: the API method that returns a batch status.
    :param batch_id_field: the name of the batch id in the status request.
    :param status_fields: the live names of the status answer's fields, keyed by the names read here
        (``batchId``, ``status``, ``total``, ``processed``, ``failed``, ``errors``), for example
        ``{"status": "state"}``; those names are assumed.
    :param api_class: the class segment of the URL; the connection decides when ``None``.
    :param http_method: the HTTP verb of the status request; GET for ``MerchantAPI``, else POST, when ``None``.
    :param success_states: status names that mean success (default ``["DONE"]``).
    :param failure_states: status names that mean failure (default ``["FAILED"]``).
    :param running_states: status names that mean still running (default ``["PENDING", "RUNNING"]``).
    :param request_retries: retries of one status request inside a polling round, in place of the
        connection's ``max_retries``. The trigger's own doubling wait handles longer outages, so a
        small number keeps hundreds of deferred sensors from multiplying each other's requests during
        sustained rate limiting.
    """

    def __init__(
        self,
        *,
        batch_ids: str | Iterable[str],
        mircate_conn_id: str = "mircate_default",
        poll_interval: float = 10.0,
        deadline: float | None = None,
        fail_on_item_errors: bool = True,
        status_method: str = "checkBatchStatus",
        batch_id_field: str = "batchId",
        status_fields: Mapping[str, str] | None = None,
        api_class: str | None = None,
        http_method: str | None = None,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
        running_states: Iterable[str] | None = None,
        request_retries: int = 1,
    ) -> None:
        super().__init__()
        self.batch_ids = normalize_batch_ids(batch_ids if isinstance(batch_ids, str) else list(batch_ids))
        self.mircate_conn_id = mircate_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.fail_on_item_errors = fail_on_item_errors
        self.status_method = status_method
        self.batch_id_field = batch_id_field
        self.status_fields = dict(status_fields or {})
        self.api_class = api_class
        self.http_method = http_method
        self.states = BatchStates.build(success_states, failure_states, running_states)
        self.request_retries = int(request_retries)
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval={poll_interval!r} is invalid: give a number of seconds above 0.")

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "batch_ids": list(self.batch_ids),
                "mircate_conn_id": self.mircate_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "fail_on_item_errors": self.fail_on_item_errors,
                "status_method": self.status_method,
                "batch_id_field": self.batch_id_field,
                "status_fields": dict(self.status_fields),
                "api_class": self.api_class,
                "http_method": self.http_method,
                "request_retries": self.request_retries,
                **self.states.as_lists(),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = MircateAsyncHook(self.mircate_conn_id, max_retries=self.request_retries)
        try:
            payload = await self._poll_until_finished(hook)
        finally:
            await hook.aclose()
        yield TriggerEvent(payload)

    async def _poll_until_finished(self, hook: MircateAsyncHook) -> dict[str, Any]:
        statuses: dict[str, dict[str, Any]] = {}
        reported_unknown: set[str] = set()
        failures = 0
        while True:
            try:
                timed_out = await self._poll_round(hook, statuses)
            except TRANSIENT_ERRORS as exc:
                failures += 1
                wait = self._bounded(transient_wait(self.poll_interval, failures))
                self.log.warning(
                    "Polling Mircate batches failed (%d time(s) in a row): %s; polling again in %.1f s",
                    failures,
                    exc,
                    wait,
                )
                await asyncio.sleep(wait)
                continue
            except MircateError as exc:
                return self._event("error", f"Polling Mircate batch status failed: {exc}", statuses)
            failures = 0
            evaluation = evaluate_batches(
                self.batch_ids, statuses, states=self.states, fail_on_item_errors=self.fail_on_item_errors
            )
            if timed_out:
                return self._event(
                    "timeout", f"Deadline passed before the batches finished. {evaluation.message}", statuses
                )
            for name in sorted(evaluation.unknown_states - reported_unknown):
                reported_unknown.add(name)
                self.log.warning(
                    "Batch status %r is in none of success_states, failure_states or running_states; "
                    "treating it as running",
                    name,
                )
            if evaluation.failed:
                return self._event("failed", evaluation.message, statuses)
            if evaluation.done:
                return self._event("success", evaluation.message, statuses)
            self.log.info("Waiting for Mircate batches: %s", evaluation.message)
            await asyncio.sleep(self._bounded(self.poll_interval))

    async def _poll_round(self, hook: MircateAsyncHook, statuses: dict[str, dict[str, Any]]) -> bool:
        """Query every batch not yet finished; return ``True`` when the deadline passed before a query."""
        for batch_id in self.batch_ids:
            if batch_id in statuses and self.states.is_terminal(statuses[batch_id].get("status")):
                continue
            if self.deadline is not None and time.time() >= self.deadline:
                return True
            statuses[batch_id] = await hook.check_batch_status(
                batch_id,
                method=self.status_method,
                id_field=self.batch_id_field,
                status_fields=self.status_fields,
                api_class=self.api_class,
                http_method=self.http_method,
            )
        return False

    def _bounded(self, wait: float) -> float:
        """Shorten a wait so that the deadline check runs soon after the deadline passes."""
        if self.deadline is None:
            return wait
        return max(0.0, min(wait, self.deadline - time.time()))

    def _event(self, status: str, message: str, statuses: dict[str, dict[str, Any]]) -> dict[str, Any]:
        evaluation = evaluate_batches(
            self.batch_ids, statuses, states=self.states, fail_on_item_errors=self.fail_on_item_errors
        )
        return {"status": status, "message": message, "batches": evaluation.summaries}
