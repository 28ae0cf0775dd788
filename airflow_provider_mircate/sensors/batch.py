"""A sensor that waits for Mircate batches (bulk product upserts, merchant stock and price feeds)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, ObjectStoragePath, PokeReturnValue

from airflow_provider_mircate.compat import AirflowSensorTimeout, AirflowSkipException, conf
from airflow_provider_mircate.exceptions import (
    MircateBatchFailedError,
    MircateConnectionError,
    MircateError,
    MircateRateLimitError,
    MircateServerError,
)
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger
from airflow_provider_mircate.utils.batches import (
    BatchEvaluation,
    BatchStates,
    BatchWaitResult,
    error_report_records,
    evaluate_batches,
    normalize_batch_ids,
)
from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import Context

TRANSIENT_ERRORS = (MircateRateLimitError, MircateServerError, MircateConnectionError)


class MircateBatchStatusSensor(BaseSensorOperator):
    """
    Wait until every given Mircate batch is finished; fail when one failed or reported failed items.

    Three ways to wait: ``mode="poke"`` holds a worker slot and polls every ``poke_interval`` seconds;
    ``mode="reschedule"`` frees the slot between polls; ``deferrable=True`` hands the polling to the
    triggerer (:class:`~airflow_provider_mircate.triggers.batch.MircateBatchStatusTrigger`) and frees the
    worker at once. All three return the same XCom value: ``{batch_ids, total, processed, failed}``.

    While polling, rate limiting (429), server errors (5xx) and connection failures that outlast the
    hook's retries are logged and count as "not finished yet"; ``timeout`` still bounds the wait.

    :param batch_ids: one batch id, a list of ids, or the XCom value of an upsert or merchant operator
        (``{"batch_ids": [...], ...}``), also as its rendered string, such as
        ``"{{ ti.xcom_pull('upsert') }}"``. An empty list succeeds at once. (templated)
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param fail_on_item_errors: fail when a finished batch reports failed items, not only when a batch
        ends in a failure state.
    :param error_report_path: where to write every per-item error as JSON lines
        (``{"batchId", "sku", "message", ...}``) when the wait ends, an ``ObjectStoragePath`` or a URI.
        Written empty when there are no errors. (templated)
    :param error_report_conn_id: the connection of the error report's object store.
    :param status_method: the API method that returns a batch status.
    :param batch_id_field: the name of the batch id in the status request.
    :param status_fields: the live names of the status answer's fields, keyed by the names read here
        (``batchId``, ``status``, ``total``, ``processed``, ``failed``, ``errors``), for example
        ``{"status": "state"}``; those names are assumed.
    :param api_class: the class segment of the URL, ``MerchantAPI`` for merchant feed batches; the
        connection decides when ``None``.
    :param http_method: the verb of the status request; GET for ``MerchantAPI``, else POST, when ``None``.
    :param success_states: status names that mean success (default ``["DONE"]``).
    :param failure_states: status names that mean failure (default ``["FAILED"]``).
    :param running_states: status names that mean still running (default ``["PENDING", "RUNNING"]``).
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    """

    template_fields: Sequence[str] = (
        "error_report_conn_id",
        "mircate_conn_id",
        "batch_ids",
        "error_report_path",
    )
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        batch_ids: Any,
        mircate_conn_id: str = "mircate_default",
        fail_on_item_errors: bool = True,
        error_report_path: str | ObjectStoragePath | None = None,
        error_report_conn_id: str | None = None,
        status_method: str = "checkBatchStatus",
        batch_id_field: str = "batchId",
        status_fields: Mapping[str, str] | None = None,
        api_class: str | None = None,
        http_method: str | None = None,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
        running_states: Iterable[str] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.batch_ids = batch_ids
        self.mircate_conn_id = mircate_conn_id
        self.fail_on_item_errors = fail_on_item_errors
        self.error_report_path = error_report_path
        self.error_report_conn_id = error_report_conn_id
        self.status_method = status_method
        self.batch_id_field = batch_id_field
        self.status_fields = dict(status_fields or {})
        self.api_class = api_class
        self.http_method = http_method
        self.states = BatchStates.build(success_states, failure_states, running_states)
        self.deferrable = deferrable
        self._statuses: dict[str, dict[str, Any]] = {}
        self._reported_unknown: set[str] = set()

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    @cached_property
    def resolved_batch_ids(self) -> list[str]:
        """The batch ids after rendering and normalizing ``batch_ids``."""
        return normalize_batch_ids(self.batch_ids)

    # -- poke and reschedule ----------------------------------------------------------------------

    def poke(self, context: Context) -> bool | PokeReturnValue:
        batch_ids = self.resolved_batch_ids
        if not batch_ids:
            self.log.info("No batch ids were given; nothing to wait for")
            self._write_error_report([])
            return PokeReturnValue(True, self._empty_result())
        try:
            self._query_unfinished(batch_ids)
        except TRANSIENT_ERRORS as exc:
            self.log.warning("Polling Mircate batches failed, polling again later: %s", exc)
            return False
        evaluation = self._evaluate()
        if evaluation.failed:
            self._write_error_report(self._statuses.values())
            raise MircateBatchFailedError(evaluation.message, batches=[dict(s) for s in evaluation.summaries])
        if not evaluation.done:
            self.log.info("Waiting for Mircate batches: %s", evaluation.message)
            return False
        self.log.info("Mircate batches finished: %s", evaluation.message)
        self._write_error_report(self._statuses.values())
        return PokeReturnValue(True, evaluation.result())

    def _query_unfinished(self, batch_ids: list[str]) -> None:
        """Query each batch that has no final status yet; finished ones keep their last response."""
        for batch_id in batch_ids:
            known = self._statuses.get(batch_id)
            if known is not None and self.states.is_terminal(known.get("status")):
                continue
            self._statuses[batch_id] = self._query(batch_id)

    def _query(self, batch_id: str) -> dict[str, Any]:
        answer = self.hook.check_batch_status(
            batch_id,
            method=self.status_method,
            id_field=self.batch_id_field,
            status_fields=self.status_fields,
            api_class=self.api_class,
            http_method=self.http_method,
        )
        return {"batchId": batch_id, **answer}

    def _evaluate(self) -> BatchEvaluation:
        evaluation = evaluate_batches(
            self.resolved_batch_ids,
            self._statuses,
            states=self.states,
            fail_on_item_errors=self.fail_on_item_errors,
        )
        for name in sorted(evaluation.unknown_states - self._reported_unknown):
            self._reported_unknown.add(name)
            self.log.warning(
                "Batch status %r is in none of success_states, failure_states or running_states; "
                "treating it as running",
                name,
            )
        return evaluation

    # -- deferrable -------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        batch_ids = self.resolved_batch_ids
        if not batch_ids:
            self.log.info("No batch ids were given; nothing to wait for")
            self._write_error_report([])
            return self._empty_result()
        trigger = MircateBatchStatusTrigger(
            batch_ids=batch_ids,
            mircate_conn_id=self.mircate_conn_id,
            poll_interval=self.poke_interval,
            deadline=time.time() + self.timeout,
            fail_on_item_errors=self.fail_on_item_errors,
            status_method=self.status_method,
            batch_id_field=self.batch_id_field,
            status_fields=self.status_fields,
            api_class=self.api_class,
            http_method=self.http_method,
            **self.states.as_lists(),
        )
        self.defer(trigger=trigger, method_name="execute_complete", timeout=timedelta(seconds=self.timeout))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> BatchWaitResult:
        """Turn the trigger's event into the XCom value or the matching exception."""
        status = event.get("status")
        message = str(event.get("message", ""))
        summaries = list(event.get("batches") or [])
        if status == "success":
            self.log.info("Mircate batches finished: %s", message)
            if self.error_report_path is not None:
                self._write_error_report(self._full_statuses(s for s in summaries if _has_errors(s)))
            return {
                "batch_ids": [str(s["batchId"]) for s in summaries],
                "total": sum(int(s.get("total") or 0) for s in summaries),
                "processed": sum(int(s.get("processed") or 0) for s in summaries),
                "failed": sum(int(s.get("failed") or 0) for s in summaries),
            }
        if status == "failed":
            if self.error_report_path is not None:
                failed = [s for s in summaries if _has_errors(s) or s.get("status") in self.states.failure]
                self._write_error_report(self._full_statuses(failed))
            raise MircateBatchFailedError(message, batches=summaries)
        if status == "timeout":
            text = f"Timed out after {self.timeout:g} s waiting for Mircate batches. {message}"
            if self.soft_fail:
                raise AirflowSkipException(text)
            raise AirflowSensorTimeout(text)
        if status == "error":
            raise MircateError(message)
        raise MircateError(f"The batch status trigger sent an event with an unknown status: {status!r}.")

    def _full_statuses(self, summaries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Query the complete status (every item error) of batches that the event only summarized."""
        statuses = []
        for summary in summaries:
            try:
                statuses.append(self._query(str(summary["batchId"])))
            except MircateError as exc:
                self.log.warning(
                    "Could not fetch every error of batch %s, the report keeps the first ones: %s",
                    summary["batchId"],
                    exc,
                )
                statuses.append(dict(summary))
        return statuses

    # -- helpers ----------------------------------------------------------------------------------

    def _write_error_report(self, statuses: Iterable[dict[str, Any]]) -> None:
        if self.error_report_path is None:
            return
        path = to_object_path(self.error_report_path, self.error_report_conn_id)
        lines = 0
        with atomic_writer(path, "w") as handle:
            for record in _error_records(statuses, self.states):
                handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                lines += 1
        self.log.info("Wrote %d batch error line(s) to %s", lines, path)

    def _empty_result(self) -> BatchWaitResult:
        return {"batch_ids": [], "total": 0, "processed": 0, "failed": 0}


def _has_errors(summary: dict[str, Any]) -> bool:
    return bool(summary.get("errors")) or int(summary.get("failed") or 0) > 0


def _error_records(statuses: Iterable[dict[str, Any]], states: BatchStates) -> Iterable[dict[str, Any]]:
    """Yield one report line per item error, and one per batch that failed as a whole."""
    return error_report_records(statuses, states)
