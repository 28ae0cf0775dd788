"""Wait in the worker for a group of batches, polling their status with the synchronous hook."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.exceptions import MircateBatchFailedError, MircateTimeoutError
from airflow_provider_mircate.utils.batches import BatchEvaluation, BatchStates, evaluate_batches

if TYPE_CHECKING:
    from airflow_provider_mircate.hooks.mircate import MircateHook


def wait_for_batches(
    hook: MircateHook,
    batch_ids: list[str],
    *,
    poll_interval: float,
    timeout: float | None,
    fail_on_item_errors: bool,
    status_method: str = "checkBatchStatus",
    batch_id_field: str = "batchId",
    status_fields: Mapping[str, str] | None = None,
    states: BatchStates | None = None,
    api_class: str | None = None,
    http_method: str | None = None,
    log: Any,
) -> BatchEvaluation:
    """
    Query every unfinished batch each ``poll_interval`` seconds until all are finished.

    The verdict is the one the batch sensor and trigger reach (``evaluate_batches``).

    :param timeout: seconds to wait before failing; ``None`` waits without a limit.
    :param api_class: the class segment of the status query (``MerchantAPI`` for merchant batches); the
        connection decides when ``None``.
    :param http_method: the verb of the status query; GET for ``MerchantAPI``, else POST, when ``None``.
    :raises MircateBatchFailedError: when a batch fails, with the batch summaries.
    :raises MircateTimeoutError: when ``timeout`` passes first.
    """
    states = states or BatchStates()
    deadline = time.monotonic() + timeout if timeout is not None else None
    statuses: dict[str, dict[str, Any]] = {}
    while True:
        for batch_id in batch_ids:
            known = statuses.get(batch_id)
            if known is None or not states.is_terminal(known.get("status")):
                answer = hook.check_batch_status(
                    batch_id,
                    method=status_method,
                    id_field=batch_id_field,
                    status_fields=status_fields,
                    api_class=api_class,
                    http_method=http_method,
                )
                statuses[batch_id] = {"batchId": batch_id, **answer}
        evaluation = evaluate_batches(
            batch_ids, statuses, states=states, fail_on_item_errors=fail_on_item_errors
        )
        if evaluation.failed:
            raise MircateBatchFailedError(evaluation.message, batches=[dict(s) for s in evaluation.summaries])
        if evaluation.done:
            log.info("Mircate batches finished: %s", evaluation.message)
            return evaluation
        if deadline is not None and time.monotonic() >= deadline:
            raise MircateTimeoutError(
                f"Timed out after {timeout} s waiting for the Mircate batches. {evaluation.message}"
            )
        log.info("Waiting for Mircate batches: %s", evaluation.message)
        pause = poll_interval if deadline is None else min(poll_interval, deadline - time.monotonic())
        time.sleep(max(0.0, pause))
