"""
Batch status names, their default groupings, and the evaluation shared by the sensor, trigger and upsert.

A status dict is what ``checkBatchStatus`` returns for one batch:
``{batchId, status, total, processed, failed, errors: [{sku, message}, ...]}``.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from airflow_provider_mircate.exceptions import MircateConfigError

PENDING = "PENDING"
RUNNING = "RUNNING"
DONE = "DONE"
FAILED = "FAILED"

# NOTE: only RUNNING, DONE and FAILED are seen in the old import jobs; PENDING and the grouping of the live
# batch statuses are assumed. Every caller takes success_states, failure_states and running_states.
# The answer's field names (status, total, processed, failed, errors) are assumed too; every caller takes
# status_fields to map them to the live names. The item errors' own shape ({sku, message}) is fixed.
DEFAULT_SUCCESS_STATES: frozenset[str] = frozenset({DONE})
DEFAULT_FAILURE_STATES: frozenset[str] = frozenset({FAILED})
DEFAULT_RUNNING_STATES: frozenset[str] = frozenset({PENDING, RUNNING})

SUMMARY_ERRORS = 5
MESSAGE_ERRORS = 3
MAX_REPR_LENGTH = 200


class BatchSummary(TypedDict):
    """The small view of one batch that travels in trigger events and exceptions."""

    batchId: str
    status: str | None
    total: int
    processed: int
    failed: int
    errors: list[dict[str, Any]]


class BatchWaitResult(TypedDict):
    """The XCom value of a finished batch wait: the ids and the item counts summed over all batches."""

    batch_ids: list[str]
    total: int
    processed: int
    failed: int


class StateLists(TypedDict):
    """The three state sets as sorted lists, the keyword arguments of the batch trigger."""

    success_states: list[str]
    failure_states: list[str]
    running_states: list[str]


@dataclass(frozen=True)
class BatchStates:
    """The status names that mean success, failure and still running; any other name counts as running."""

    success: frozenset[str] = DEFAULT_SUCCESS_STATES
    failure: frozenset[str] = DEFAULT_FAILURE_STATES
    running: frozenset[str] = DEFAULT_RUNNING_STATES

    @classmethod
    def build(
        cls,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
        running_states: Iterable[str] | None = None,
    ) -> BatchStates:
        """Build the sets from user overrides (``None`` keeps a default) and reject overlapping sets."""
        states = cls(
            success=_state_set("success_states", success_states, DEFAULT_SUCCESS_STATES),
            failure=_state_set("failure_states", failure_states, DEFAULT_FAILURE_STATES),
            running=_state_set("running_states", running_states, DEFAULT_RUNNING_STATES),
        )
        overlap = (states.success & states.failure) | (states.success & states.running)
        overlap |= states.failure & states.running
        if overlap:
            raise MircateConfigError(
                f"The batch status name(s) {sorted(overlap)} appear in more than one of success_states, "
                "failure_states and running_states; give each name to one set only."
            )
        if not states.success:
            raise MircateConfigError("success_states is empty: give at least one status name, such as DONE.")
        return states

    def is_terminal(self, status: str | None) -> bool:
        return status in self.success or status in self.failure

    def as_lists(self) -> StateLists:
        """Return the sets as sorted lists, for serializing a trigger."""
        return {
            "success_states": sorted(self.success),
            "failure_states": sorted(self.failure),
            "running_states": sorted(self.running),
        }


@dataclass(frozen=True)
class BatchEvaluation:
    """
    The verdict over a list of batch status dicts.

    ``done`` is true when every batch reached a success or failure state. ``failed`` is true as soon as one
    batch reached a failure state, or, when item errors count, one finished batch reported failed items.
    ``unknown_states`` lists status names in none of the three sets; those batches count as running.
    """

    done: bool
    failed: bool
    message: str
    summaries: list[BatchSummary]
    unknown_states: frozenset[str] = field(default_factory=frozenset)
    failed_batch_ids: tuple[str, ...] = ()

    def result(self) -> BatchWaitResult:
        """Return the small XCom value: batch ids and item counts summed over every batch."""
        return {
            "batch_ids": [s["batchId"] for s in self.summaries],
            "total": sum(s["total"] for s in self.summaries),
            "processed": sum(s["processed"] for s in self.summaries),
            "failed": sum(s["failed"] for s in self.summaries),
        }


def summarize_batch(batch_id: str, status: Mapping[str, Any] | None) -> BatchSummary:
    """Return the small summary of one status dict; ``None`` stands for a batch not queried yet."""
    status = status or {}
    errors = status.get("errors")
    first = [dict(e) if isinstance(e, Mapping) else {"message": str(e)} for e in (errors or [])]
    return {
        "batchId": str(batch_id),
        "status": None if status.get("status") is None else str(status.get("status")),
        "total": _count(status.get("total")),
        "processed": _count(status.get("processed")),
        "failed": _count(status.get("failed")),
        "errors": first[:SUMMARY_ERRORS],
    }


def evaluate_batches(
    batch_ids: Sequence[str],
    statuses: Mapping[str, Mapping[str, Any] | None],
    *,
    states: BatchStates | None = None,
    fail_on_item_errors: bool = True,
) -> BatchEvaluation:
    """
    Decide whether a group of batches is finished and whether it failed, and describe it in one message.

    This function only reads its arguments, so the sensor, the trigger and the upsert operator reach the
    same verdict from the same status dicts.

    :param batch_ids: the batches, in the order the message lists them.
    :param statuses: the latest status dict of each batch id; a missing id counts as running.
    :param states: the status names of each group; the defaults when ``None``.
    :param fail_on_item_errors: count a finished batch with failed items as a failure.
    """
    states = states or BatchStates()
    summaries = [summarize_batch(b, statuses.get(b)) for b in batch_ids]
    unknown: set[str] = set()
    failed_ids: list[str] = []
    finished = 0
    for summary in summaries:
        status = summary["status"]
        if states.is_terminal(status):
            finished += 1
        elif status is not None and status not in states.running:
            unknown.add(status)
        if status in states.failure or (
            fail_on_item_errors and status in states.success and _has_item_errors(summary)
        ):
            failed_ids.append(summary["batchId"])
    done = finished == len(summaries)
    message = _describe(summaries, finished, failed_ids)
    return BatchEvaluation(
        done=done,
        failed=bool(failed_ids),
        message=message,
        summaries=summaries,
        unknown_states=frozenset(unknown),
        failed_batch_ids=tuple(failed_ids),
    )


def error_report_records(
    statuses: Iterable[Mapping[str, Any]], states: BatchStates
) -> Iterator[dict[str, Any]]:
    """
    Yield the error report lines of batch status dicts: one per item error, one per batch failed as a whole.

    A batch in a failure state whose errors name no item (no ``sku`` and no ``index``) failed as a whole,
    so it gets one line with its id, status and item count instead of item lines with ``sku: null``.
    """
    for status in statuses:
        batch_id = status.get("batchId")
        errors = [
            dict(e) if isinstance(e, Mapping) else {"message": str(e)} for e in status.get("errors") or []
        ]
        if status.get("status") in states.failure and not any(_names_item(e) for e in errors):
            yield _whole_batch_record(batch_id, status, errors)
            continue
        for error in errors:
            yield {"batchId": batch_id, **error}


def _whole_batch_record(
    batch_id: Any, status: Mapping[str, Any], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    total = _count(status.get("total"))
    reasons = "; ".join(str(e["message"]) for e in errors if e.get("message"))
    message = (
        f"Batch {batch_id} with {total} item(s) failed as a whole (status {status.get('status')}), "
        "and no item error was reported."
    )
    if reasons:
        message += f" Mircate reported: {reasons}"
    return {"batchId": batch_id, "status": status.get("status"), "items": total, "message": message}


def _names_item(error: Mapping[str, Any]) -> bool:
    return error.get("sku") is not None or error.get("index") is not None


def _error_subject(error: Mapping[str, Any]) -> str:
    """Return `` sku X`` or `` item N`` for an item error, and ``""`` for an error of the whole batch."""
    if error.get("sku") is not None:
        return f" sku {error['sku']}"
    if error.get("index") is not None:
        return f" item {error['index']}"
    return ""


def normalize_batch_ids(value: Any) -> list[str]:
    """
    Return a list of batch ids from one id, a list of ids, or an upsert or merchant operator's XCom value.

    Accepted: ``"b1"``, ``["b1", "b2"]``, ``{"batch_ids": ["b1", ...], ...}``, and any of those as a JSON
    or Python-literal string, which is how a template renders a list or dict unless the DAG sets
    ``render_template_as_native_obj``. Strings are parsed with ``json`` or ``ast.literal_eval``, never
    evaluated. Duplicates are dropped, keeping the first. An empty list is valid: nothing to wait for.

    :raises MircateConfigError: for any other value, naming it.
    """
    parsed = _parse_literal(value) if isinstance(value, str) else value
    if isinstance(parsed, Mapping):
        if "batch_ids" not in parsed:
            raise MircateConfigError(
                f"batch_ids got a dict without a 'batch_ids' key: {_truncated_repr(value)}. Pass one batch id, a list "
                "of ids, or the XCom value of an upsert or merchant operator."
            )
        parsed = parsed["batch_ids"]
    if isinstance(parsed, str):
        parsed = [parsed]
    if not isinstance(parsed, (list, tuple)) or not all(
        isinstance(i, (str, int)) and not isinstance(i, bool) and str(i).strip() for i in parsed
    ):
        raise MircateConfigError(
            f"batch_ids is invalid: {_truncated_repr(value)}. Pass one batch id, a list of non-empty ids, or the XCom "
            "value of an upsert or merchant operator ({'batch_ids': [...]})."
        )
    return list(dict.fromkeys(str(i).strip() for i in parsed))


def _parse_literal(text: str) -> Any:
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{(\"'":
        return stripped
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError) as exc:
        raise MircateConfigError(
            f"batch_ids is a string that looks like a list or dict but is neither JSON nor a Python "
            f"literal: {_truncated_repr(text)} ({type(exc).__name__})."
        ) from exc


def _state_set(name: str, value: Iterable[str] | None, default: frozenset[str]) -> frozenset[str]:
    if value is None:
        return default
    if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
        raise MircateConfigError(
            f"{name}={value!r} is invalid: give a list of status names such as ['DONE']."
        )
    return frozenset(value)


def _count(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, (int, float)):
        return int(value)
    try:
        return int(str(value))
    except ValueError:
        return 0


def _has_item_errors(summary: BatchSummary) -> bool:
    return summary["failed"] > 0 or bool(summary["errors"])


def _describe(summaries: list[BatchSummary], finished: int, failed_ids: list[str]) -> str:
    by_status: dict[str, int] = {}
    for summary in summaries:
        name = summary["status"] or "not queried"
        by_status[name] = by_status.get(name, 0) + 1
    statuses = ", ".join(f"{count} {name}" for name, count in sorted(by_status.items()))
    total = sum(s["total"] for s in summaries)
    processed = sum(s["processed"] for s in summaries)
    failed = sum(s["failed"] for s in summaries)
    message = (
        f"{finished} of {len(summaries)} batch(es) finished ({statuses}); {processed} of {total} item(s) "
        f"processed, {failed} failed."
    )
    if failed_ids:
        message += f" Failed batch(es): {', '.join(failed_ids[:10])}"
        message += f" and {len(failed_ids) - 10} more." if len(failed_ids) > 10 else "."
    errors = [(s["batchId"], e) for s in summaries for e in s["errors"]][:MESSAGE_ERRORS]
    if errors:
        shown = "; ".join(
            f"batch {batch_id}{_error_subject(error)}: {error.get('message', error)}"
            for batch_id, error in errors
        )
        message += f" First errors: {shown.rstrip('.')}."
    return message


def _truncated_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_REPR_LENGTH else text[:MAX_REPR_LENGTH] + "..."
