"""Operators that push a merchant's stock and price feeds to Mircate in resumable 500-item batches."""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_mircate.compat import conf
from airflow_provider_mircate.exceptions import (
    MircateBatchFailedError,
    MircateConfigError,
    MircateError,
)
from airflow_provider_mircate.hooks.mircate import MAX_BULK_ITEMS, MircateHook
from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger
from airflow_provider_mircate.types import MerchantFeedResult
from airflow_provider_mircate.utils.batch_wait import wait_for_batches
from airflow_provider_mircate.utils.batches import BatchStates
from airflow_provider_mircate.utils.chunks import ChunkCheckpoint, send_in_chunks, stable_operation_id
from airflow_provider_mircate.utils.merchant_items import (
    DEFAULT_MAX_DECIMALS,
    DEFAULT_SKU_PATTERN,
    CheckedItem,
    FeedKind,
    ItemRules,
    check_csv_header,
    check_frequency,
    check_items,
    duplicate_error,
    item_key,
    validation_error,
)
from airflow_provider_mircate.utils.product_scan import ON_DUPLICATE, DuplicateKeys
from airflow_provider_mircate.utils.progress import ProgressLog
from airflow_provider_mircate.utils.records import Row, csv_header, iter_memory, iter_rows, open_source
from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFAULT_MERCHANT_CONN_ID = "mircate_merchant_default"
MERCHANT_API_CLASS = "MerchantAPI"
ON_INVALID = ("fail", "skip")
# Problems kept in memory for the error message and the exception; the rejects file gets every one.
MAX_KEPT_ERRORS = 1000


class MircateMerchantFeedOperator(BaseOperator):
    """
    Validate stock or price items, send them in batches of at most 500, and optionally wait for them.

    Items come from ``items`` (a list of dicts) or are streamed from ``source``, a JSON lines or CSV file
    on any object store. Every item is validated before the first request. By default one invalid item
    fails the task and nothing is sent. With ``on_invalid="skip"`` the invalid items are written to
    ``rejects_path`` and the valid ones are sent.

    All batches of one task run share one ``bulkOperationId``, derived from the dag, run, task and map
    index, so it is the same on every try. The batch id of each accepted chunk is checkpointed, so a
    retried task resumes after the last accepted chunk instead of sending the feed again. Mircate has no
    endpoint to cancel a batch, so ``on_kill`` cannot stop batches already sent.

    Use :class:`MircateReceiveStockOperator` or :class:`MircateReceivePriceOperator`.

    .. seealso:: ``docs/merchant.md`` for the CSV columns, the connection and the assumed API names.

    :param mircate_conn_id: a ``mircate`` connection with extra ``api=merchant``, the merchant's project id
        as login and the stock and price key as password.
    :param items: the items as a list of dicts, or its JSON text. (templated)
    :param source: a JSON lines (``.jsonl``, ``.ndjson``), JSON array (``.json``) or CSV file, as a URI such
        as ``s3://bucket/feed.csv`` or a local path. (templated)
    :param source_conn_id: the object store connection of ``source``. (templated)
    :param source_format: ``jsonl``, ``json`` or ``csv``; taken from the suffix of ``source`` when ``None``.
    :param on_invalid: ``fail`` (send nothing when one item is invalid) or ``skip`` (send the valid items).
    :param on_duplicate: ``fail`` treats a repeated key (stock: ``sku`` and ``warehouse``; price: ``sku``,
        ``currency`` and ``channel``) as a problem of the later row, naming both lines; ``last_wins``
        sends only the last row of each key.
    :param rejects_path: where invalid items are written as JSON lines (``{"line" or "index", "errors",
        "row"}``); required with ``on_invalid="skip"``. (templated)
    :param rejects_conn_id: the object store connection of ``rejects_path``.
    :param batch_size: items per request, from 1 to 500.
    :param frequency: seconds (0 to 10) that Mircate waits between the items of a batch; ``None`` leaves
        it to the API.
    :param sku_pattern: a regular expression that every sku must match in full.
    :param max_decimals: the maximum number of decimal places of a price.
    :param currencies: the accepted currency codes; any three uppercase letters when ``None``.
    :param method: the API method that receives the items.
    :param items_field: the name of the item list in the request body.
    :param item_fields: renames item fields in the request body, from this operator's names (``sku``,
        ``quantity``, ``warehouse``, ``price``, ``currency``, ``channel``, ``listPrice``) to the live API's,
        for example ``{"quantity": "stock"}``. The item shapes are not published, so they may differ.
    :param wait_for_completion: wait until every batch finished, and fail when one failed.
    :param deferrable: wait in the triggerer instead of a worker slot; defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds between two batch status checks while waiting.
    :param timeout: seconds to wait for the batches before failing; ``None`` waits without a limit.
    :param fail_on_item_errors: fail when a finished batch reports failed items.
    :param status_method: the API method that returns a batch status.
    :param batch_id_field: the name of the batch id in the status request.
    :param status_fields: the live names of the status answer's fields, keyed by the names read here
        (``batchId``, ``status``, ``total``, ``processed``, ``failed``, ``errors``), for example
        ``{"status": "state"}``; those names are assumed.
    :param success_states: batch status names that mean success (default ``["DONE"]``).
    :param failure_states: batch status names that mean failure (default ``["FAILED"]``).
    :param running_states: batch status names that mean still running (default ``["PENDING", "RUNNING"]``).
    :param checkpoint_path: where the chunk checkpoint is kept, such as ``s3://bucket/checkpoints/``;
        the task state store (Airflow 3.3+) or a local temporary file when ``None``. (templated)
    :param checkpoint_conn_id: the object store connection of ``checkpoint_path``.
    :param progress_every: items between two progress lines while sending.
    """

    feed_kind: ClassVar[FeedKind]
    default_method: ClassVar[str]

    template_fields: Sequence[str] = (
        "checkpoint_conn_id",
        "mircate_conn_id",
        "rejects_conn_id",
        "items",
        "source",
        "source_conn_id",
        "rejects_path",
        "checkpoint_path",
    )
    template_fields_renderers = {"items": "json"}
    ui_color = "#fdf2e3"

    def __init__(
        self,
        *,
        mircate_conn_id: str = DEFAULT_MERCHANT_CONN_ID,
        items: Any = None,
        source: str | ObjectStoragePath | None = None,
        source_conn_id: str | None = None,
        source_format: str | None = None,
        on_invalid: str = "fail",
        on_duplicate: str = "fail",
        rejects_path: str | ObjectStoragePath | None = None,
        rejects_conn_id: str | None = None,
        batch_size: int = MAX_BULK_ITEMS,
        frequency: int | None = None,
        sku_pattern: str = DEFAULT_SKU_PATTERN,
        max_decimals: int = DEFAULT_MAX_DECIMALS,
        currencies: Iterable[str] | None = None,
        method: str | None = None,
        items_field: str = "items",
        item_fields: Mapping[str, str] | None = None,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        timeout: float | None = None,
        fail_on_item_errors: bool = True,
        status_method: str = "checkBatchStatus",
        batch_id_field: str = "batchId",
        status_fields: Mapping[str, str] | None = None,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
        running_states: Iterable[str] | None = None,
        checkpoint_path: str | ObjectStoragePath | None = None,
        checkpoint_conn_id: str | None = None,
        progress_every: int = 5000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_arguments(
            self.task_id, items, source, on_invalid, rejects_path, batch_size, poll_interval, timeout
        )
        if on_duplicate not in ON_DUPLICATE:
            raise MircateConfigError(f"on_duplicate={on_duplicate!r} is invalid: use 'fail' or 'last_wins'.")
        check_frequency(frequency)
        self.mircate_conn_id = mircate_conn_id
        self.items = items
        self.source = source
        self.source_conn_id = source_conn_id
        self.source_format = source_format
        self.on_invalid = on_invalid
        self.on_duplicate = on_duplicate
        self.rejects_path = rejects_path
        self.rejects_conn_id = rejects_conn_id
        self.batch_size = batch_size
        self.frequency = frequency
        self.rules = ItemRules.build(
            sku_pattern=sku_pattern, max_decimals=max_decimals, currencies=currencies
        )
        self.method = method or self.default_method
        self.items_field = items_field
        self.item_fields = _check_item_fields(item_fields, self.task_id)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.fail_on_item_errors = fail_on_item_errors
        self.status_method = status_method
        self.batch_id_field = batch_id_field
        self.status_fields = dict(status_fields or {})
        self.states = BatchStates.build(success_states, failure_states, running_states)
        self.checkpoint_path = checkpoint_path
        self.checkpoint_conn_id = checkpoint_conn_id
        self.progress_every = progress_every

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    # -- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> MerchantFeedResult:
        self._check_connection()
        operation_id = stable_operation_id(context, prefix=f"mircate-{self.feed_kind}")
        checkpoint = self._checkpoint(context)

        with self._open_rows() as (read_rows, label, fmt, check_unchanged):
            fingerprint, valid, rejected, skip = self._validate(read_rows, label, fmt)
            if valid == 0:
                self.log.warning("No valid %s items in %s; nothing was sent", self.feed_kind, label)
                return self._result(operation_id, [], 0, rejected)

            self.log.info(
                "Sending %d %s item(s) from %s in batches of %d under bulkOperationId %s",
                valid,
                self.feed_kind,
                label,
                self.batch_size,
                operation_id,
            )
            progress = ProgressLog(
                valid,
                every_items=self.progress_every,
                noun=f"{self.feed_kind} items",
                log=self.log,
            )
            outcome = send_in_chunks(
                self._valid_items(read_rows(), fmt, skip),
                chunk_size=self.batch_size,
                send=lambda chunk, index: self._send_chunk(chunk, operation_id, check_unchanged),
                checkpoint=checkpoint,
                fingerprint=fingerprint,
                progress=progress,
            )

        self.log.info(
            "Sent %d item(s) in %d new batch(es); %d batch(es) with %d item(s) were accepted by an earlier try",
            outcome.sent_items,
            outcome.sent_chunks,
            outcome.resumed_chunks,
            outcome.resumed_items,
        )
        result = self._result(operation_id, outcome.batch_ids, valid, rejected)
        if self.wait_for_completion:
            if self.deferrable:
                self._defer_wait(result)
            self._wait(result["batch_ids"], context)
        checkpoint.clear()
        return result

    def execute_complete(
        self, context: Context, event: dict[str, Any], result: MerchantFeedResult
    ) -> MerchantFeedResult:
        """Turn the batch trigger's event into the feed result or the matching exception."""
        status = event.get("status")
        message = str(event.get("message", ""))
        summaries = list(event.get("batches") or [])
        if status == "success":
            self.log.info("Mircate %s batches finished: %s", self.feed_kind, message)
            self._checkpoint(context).clear()
            return result
        if status == "failed":
            self._forget_failed_batches(context, summaries)
            raise MircateBatchFailedError(message, batches=summaries)
        if status == "timeout":
            raise MircateError(
                f"Timed out after {self.timeout} s waiting for the {self.feed_kind} batches. {message}"
            )
        raise MircateError(f"Waiting for the {self.feed_kind} batches failed: {message or event!r}")

    def _check_connection(self) -> None:
        """Raise unless the connection is a merchant one: the PIM key is rejected by the merchant API."""
        if self.hook.settings.api != "merchant":
            raise MircateConfigError(
                f"Connection {self.mircate_conn_id!r} has api={self.hook.settings.api!r}. Stock and price "
                "feeds need a connection with extra api=merchant, the merchant's project id as login and the "
                "stock and price key as password."
            )

    # -- reading and validating -------------------------------------------------------------------

    @contextlib.contextmanager
    def _open_rows(self) -> Iterator[tuple[Callable[[], Iterator[Row]], str, str, Callable[[], None]]]:
        """
        Yield a function that reads the ``(position, row)`` pairs again on each call, a label for messages,
        the format (``memory``, ``jsonl``, ``json`` or ``csv``), and a check that the file is unchanged.
        """
        if self.source is None:
            items = _parse_items(self.items, self.task_id)
            yield (lambda: iter_memory(items)), "items", "memory", lambda: None
            return
        with open_source(self.source, conn_id=self.source_conn_id, source_format=self.source_format) as local:
            if local.fmt == "csv":
                check_csv_header(self.feed_kind, csv_header(local.path, name=local.name), source=local.name)
            yield (
                (lambda: iter_rows(local.path, local.fmt, name=local.name)),
                local.name,
                local.fmt,
                local.check_unchanged,
            )

    def _checked(self, rows: Iterable[Row], fmt: str) -> Iterator[CheckedItem]:
        # Files are numbered by line; a JSON array and a list of items by 0-based index.
        position_field = "line" if fmt in ("jsonl", "csv") else "index"
        return check_items(
            self.feed_kind, rows, self.rules, position_field=position_field, from_csv=fmt == "csv"
        )

    def _validate(
        self, read_rows: Callable[[], Iterator[Row]], label: str, fmt: str
    ) -> tuple[str, int, int, set[int]]:
        """
        Check every row once and find repeated keys.

        Returns the fingerprint of the items to send, the valid and invalid counts, and the positions the
        sending pass leaves out: duplicates rejected with ``on_invalid="skip"`` and rows superseded by a
        later row of the same key with ``on_duplicate="last_wins"``.
        """
        digest = hashlib.sha256(f"{self.feed_kind}:{self.method}:{self.on_duplicate}".encode())
        valid = rejected = 0
        errors: list[dict[str, Any]] = []
        skip: set[int] = set()
        duplicates = DuplicateKeys(self.on_duplicate)
        position_field = "line" if fmt in ("jsonl", "csv") else "index"
        with self._rejects_writer() as rejects:
            for checked in self._checked(read_rows(), fmt):
                problems = checked.errors
                if checked.item is not None:
                    earlier = duplicates.add(item_key(self.feed_kind, checked.item), checked.position)
                    if earlier is None or duplicates.last_wins:
                        valid += 1
                        digest.update(json.dumps(checked.item, sort_keys=True).encode())
                        digest.update(b"\n")
                        continue
                    problems = [
                        duplicate_error(
                            self.feed_kind, checked.item, checked.position, earlier, position_field
                        )
                    ]
                    skip.add(checked.position)
                rejected += 1
                if len(errors) < MAX_KEPT_ERRORS:
                    errors.extend(problems[: MAX_KEPT_ERRORS - len(errors)])
                if rejects is not None:
                    record = {position_field: checked.position, "errors": problems, "row": checked.raw}
                    rejects.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            if rejected and self.on_invalid == "fail":
                raise validation_error(self.feed_kind, label, errors, rejected)
        skip |= duplicates.superseded
        valid -= len(duplicates.superseded)
        digest.update(json.dumps(sorted(skip)).encode())
        if duplicates.superseded:
            self.log.info(
                "Leaving out %d %s item(s) replaced by a later row with the same key",
                len(duplicates.superseded),
                self.feed_kind,
            )
        if rejected:
            where = f"written to {self.rejects_path}"
            self.log.warning(
                "Skipping %d invalid %s item(s), %s. First problems: %s",
                rejected,
                self.feed_kind,
                where,
                "; ".join(e["message"] for e in errors[:5]),
            )
        return digest.hexdigest(), valid, rejected, skip

    @contextlib.contextmanager
    def _rejects_writer(self) -> Iterator[Any]:
        if self.rejects_path is None:
            yield None
            return
        path = to_object_path(self.rejects_path, self.rejects_conn_id)
        with atomic_writer(path, "w") as handle:
            yield handle

    def _valid_items(self, rows: Iterable[Row], fmt: str, skip: set[int]) -> Iterator[dict[str, Any]]:
        for checked in self._checked(rows, fmt):
            if checked.item is not None and checked.position not in skip:
                yield checked.item

    # -- sending and waiting ----------------------------------------------------------------------

    def _send_chunk(
        self, chunk: list[dict[str, Any]], operation_id: str, check_unchanged: Callable[[], None]
    ) -> str:
        check_unchanged()
        if self.item_fields:
            chunk = [{self.item_fields.get(key, key): value for key, value in item.items()} for item in chunk]
        receive = self.hook.receive_stock if self.feed_kind == "stock" else self.hook.receive_price
        return receive(
            chunk,
            bulk_operation_id=operation_id,
            frequency=self.frequency,
            method=self.method,
            api_class=MERCHANT_API_CLASS,
            items_field=self.items_field,
        )

    def _checkpoint(self, context: Context) -> ChunkCheckpoint:
        return ChunkCheckpoint.from_context(
            context,
            checkpoint_path=self.checkpoint_path,
            checkpoint_conn_id=self.checkpoint_conn_id,
            namespace=f"mircate-{self.feed_kind}",
        )

    def _defer_wait(self, result: MerchantFeedResult) -> None:
        trigger = MircateBatchStatusTrigger(
            batch_ids=result["batch_ids"],
            mircate_conn_id=self.mircate_conn_id,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.timeout if self.timeout is not None else None,
            fail_on_item_errors=self.fail_on_item_errors,
            status_method=self.status_method,
            batch_id_field=self.batch_id_field,
            status_fields=self.status_fields,
            api_class=MERCHANT_API_CLASS,
            http_method="GET",
            **self.states.as_lists(),
        )
        self.defer(trigger=trigger, method_name="execute_complete", kwargs={"result": dict(result)})

    def _wait(self, batch_ids: list[str], context: Context) -> None:
        try:
            wait_for_batches(
                self.hook,
                batch_ids,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
                fail_on_item_errors=self.fail_on_item_errors,
                status_method=self.status_method,
                batch_id_field=self.batch_id_field,
                status_fields=self.status_fields,
                states=self.states,
                api_class=MERCHANT_API_CLASS,
                http_method="GET",
                log=self.log,
            )
        except MircateBatchFailedError as exc:
            self._forget_failed_batches(context, exc.batches)
            raise

    def _forget_failed_batches(self, context: Context, summaries: list[dict[str, Any]]) -> None:
        """Clear the checkpoint when a batch failed as a whole, so that a retry sends every chunk again."""
        failed = [s for s in summaries if s.get("status") in self.states.failure]
        if failed:
            self.log.warning(
                "%d %s batch(es) failed as a whole; clearing the checkpoint so that a retry sends every "
                "item again",
                len(failed),
                self.feed_kind,
            )
            self._checkpoint(context).clear()

    def _result(
        self, operation_id: str, batch_ids: list[str], sent: int, rejected: int
    ) -> MerchantFeedResult:
        return {
            "bulk_operation_id": operation_id,
            "batch_ids": list(batch_ids),
            "sent": sent,
            "rejected": rejected,
        }


class MircateReceiveStockOperator(MircateMerchantFeedOperator):
    """
    Send stock levels (``{sku, quantity, warehouse?}``) to Mircate; CSV columns ``sku,quantity,warehouse``.

    ``quantity`` is an absolute, non-negative integer. See :class:`MircateMerchantFeedOperator` for every
    parameter. Returns ``{"bulk_operation_id", "batch_ids", "sent", "rejected"}``.
    """

    feed_kind = "stock"
    default_method = "receiveStock"


class MircateReceivePriceOperator(MircateMerchantFeedOperator):
    """
    Send prices (``{sku, price, currency, channel?, listPrice?}``) to Mircate.

    CSV columns: ``sku,price,currency,channel,listPrice``. Prices are decimal strings or numbers, converted
    exactly with ``Decimal(str(value))``, sent as strings and never as floats, with at most
    ``max_decimals`` places. See :class:`MircateMerchantFeedOperator` for every parameter. Returns
    ``{"bulk_operation_id", "batch_ids", "sent", "rejected"}``.
    """

    feed_kind = "price"
    default_method = "receivePrice"


def _check_arguments(
    task_id: str,
    items: Any,
    source: Any,
    on_invalid: str,
    rejects_path: Any,
    batch_size: Any,
    poll_interval: Any,
    timeout: Any,
) -> None:
    """Raise ``MircateConfigError`` on arguments that are wrong before any rendering."""
    if (items is None) == (source is None):
        raise MircateConfigError(
            f"{task_id}: give exactly one of items (a list of dicts) and source (a file URI)."
        )
    if on_invalid not in ON_INVALID:
        raise MircateConfigError(f"on_invalid={on_invalid!r} is invalid: use 'fail' or 'skip'.")
    if on_invalid == "skip" and rejects_path is None:
        raise MircateConfigError(
            "on_invalid='skip' needs rejects_path, where the rejected items and their problems are written."
        )
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BULK_ITEMS
    ):
        raise MircateConfigError(
            f"batch_size={batch_size!r} is invalid: the API takes 1 to {MAX_BULK_ITEMS} items a request."
        )
    for name, value in (("poll_interval", poll_interval), ("timeout", timeout)):
        if name == "timeout" and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise MircateConfigError(f"{name}={value!r} is invalid: give a number of seconds above 0.")


def _parse_items(value: Any, task_id: str) -> list[Any]:
    """Return the rendered ``items`` as a list; a JSON string (a template rendered as text) is parsed."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise MircateConfigError(
                f"{task_id}: items is a string that is not JSON ({exc}). Pass a list of dicts, or set "
                "render_template_as_native_obj=True on the DAG when items comes from a template."
            ) from exc
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise MircateConfigError(f"{task_id}: items must be a list of dicts, got {type(value).__name__}.")
    return list(value)


def _check_item_fields(item_fields: Mapping[str, str] | None, task_id: str) -> dict[str, str]:
    if item_fields is None:
        return {}
    if not isinstance(item_fields, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) and value for key, value in item_fields.items()
    ):
        raise MircateConfigError(
            f"Task {task_id!r}: item_fields={item_fields!r} is invalid. Give a dict from field names to "
            'live field names, such as {"quantity": "stock"}.'
        )
    return dict(item_fields)
