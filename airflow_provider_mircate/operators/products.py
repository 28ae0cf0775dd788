"""The product upsert operator: validate a whole catalog first, then send it in resumable chunks."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mircate.compat import conf
from airflow_provider_mircate.exceptions import (
    MircateBatchFailedError,
    MircateConfigError,
    MircateError,
    MircateValidationError,
)
from airflow_provider_mircate.hooks.mircate import MAX_BULK_ITEMS, MircateHook
from airflow_provider_mircate.utils.attributes import AttributeCatalog
from airflow_provider_mircate.utils.batch_wait import wait_for_batches
from airflow_provider_mircate.utils.batches import BatchStates
from airflow_provider_mircate.utils.chunks import ChunkCheckpoint, send_in_chunks, stable_operation_id
from airflow_provider_mircate.utils.product_scan import ProductScanner, ScanResult, describe_problems
from airflow_provider_mircate.utils.progress import ProgressLog
from airflow_provider_mircate.utils.records import Row, iter_memory, iter_product_records, open_source
from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

    from airflow_provider_mircate.types import UpsertResult

CHECKPOINT_NAMESPACE = "mircate_products"
_NOT_LOADED = object()


@dataclass(frozen=True)
class _ProductInput:
    """One readable input: ``rows()`` starts a new pass over ``(position, record)`` pairs."""

    rows: Callable[[], Iterator[Row]]
    position_name: str
    name: str
    check_unchanged: Callable[[], None] = lambda: None


class MircateUpsertProductOperator(BaseOperator):
    """
    Validate products, then create or update them in Mircate: one ``upsertProduct`` or bulk batches.

    The first pass reads the whole input and validates every record; by default one invalid record fails
    the task before anything is sent. The second pass reads the input again and sends it, one product
    with ``upsertProduct`` and more in bulk batches of ``batch_size``. Each accepted batch is recorded in
    a checkpoint, so a retried task resumes after the last accepted batch.

    Duplicate detection keeps one entry per distinct sku (or model code) in memory: about 200 bytes a
    product on CPython 3.11 (20 MB measured for 100,000 products), so about 200 MB for a million.

    Mircate has no endpoint that cancels a batch, so killing the task leaves sent batches running.

    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param products: one product record or a list of them, in the upsertProduct body shape
        ``{dataType, parent?, data: {...}}``. (templated)
    :param source: a file of product records instead of ``products``: a URI such as
        ``s3://bucket/products.jsonl``, a local path or an ``ObjectStoragePath``. (templated)
    :param source_conn_id: the connection of the object store that contains ``source`` (an ``aws`` connection for
        ``s3://``); also used for ``rejects_path`` when ``rejects_conn_id`` is not set.
    :param source_format: ``jsonl``, ``json`` or ``csv``; taken from the file suffix when ``None``.
    :param batch_size: products per bulk request, 1 to 500.
    :param on_invalid: ``fail`` fails the task on the first pass when any record is invalid; ``skip``
        sends the valid records and writes the others to ``rejects_path``.
    :param rejects_path: where rejected records and their problems are written as JSON lines; required
        when ``on_invalid="skip"``. (templated)
    :param rejects_conn_id: the connection of the object store that contains ``rejects_path``.
    :param on_duplicate: ``fail`` treats a repeated sku (or model code) as invalid; ``last_wins`` sends
        only the last record of each key.
    :param dry_run: validate and return the counts without sending anything.
    :param wait_for_completion: wait until every batch is finished, and fail when one fails.
    :param deferrable: wait in the triggerer instead of the worker.
    :param poll_interval: seconds between two batch status queries while waiting.
    :param timeout: seconds to wait for the batches before failing; ``None`` waits without a limit.
    :param fail_on_item_errors: when waiting, fail if a finished batch reports failed items.
    :param checkpoint_path: where the checkpoint of sent batches is kept (a file, or a directory ending in
        ``/``); when ``None``, Airflow's task state store (3.3+) or a local temporary file. (templated)
    :param checkpoint_conn_id: the connection of the object store that contains ``checkpoint_path``.
    :param attribute_types: attribute types as ``{code: TYPE}`` or ``{code: attribute dict}``, used to
        convert CSV cells and check values; when ``None`` they are read once from ``getProductSettings``
        if the input has attributes.
    :param bulk_method: the API method of a bulk upsert.
    :param batch_id_field: the name of the batch id in bulk answers and status requests.
    :param status_fields: the live names of the status answer's fields, keyed by the names read here
        (``batchId``, ``status``, ``total``, ``processed``, ``failed``, ``errors``), for example
        ``{"status": "state"}``; those names are assumed.
    :param status_method: the API method that returns a batch status.
    :param progress_every: products between two progress lines while sending.
    """

    template_fields: Sequence[str] = (
        "checkpoint_conn_id",
        "mircate_conn_id",
        "rejects_conn_id",
        "source_conn_id",
        "products",
        "source",
        "rejects_path",
        "checkpoint_path",
    )
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        mircate_conn_id: str = "mircate_default",
        products: dict[str, Any] | list[dict[str, Any]] | None = None,
        source: str | ObjectStoragePath | None = None,
        source_conn_id: str | None = None,
        source_format: str | None = None,
        batch_size: int = 500,
        on_invalid: str = "fail",
        rejects_path: str | ObjectStoragePath | None = None,
        rejects_conn_id: str | None = None,
        on_duplicate: str = "fail",
        dry_run: bool = False,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        timeout: float | None = None,
        fail_on_item_errors: bool = True,
        checkpoint_path: str | ObjectStoragePath | None = None,
        checkpoint_conn_id: str | None = None,
        attribute_types: dict[str, Any] | None = None,
        bulk_method: str = "bulkProductUpsert",
        batch_id_field: str = "batchId",
        status_fields: Mapping[str, str] | None = None,
        status_method: str = "checkBatchStatus",
        progress_every: int = 5000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        _check_arguments(products, source, batch_size, on_invalid, on_duplicate, rejects_path, poll_interval)
        self.mircate_conn_id = mircate_conn_id
        self.products = products
        self.source = source
        self.source_conn_id = source_conn_id
        self.source_format = source_format
        self.batch_size = batch_size
        self.on_invalid = on_invalid
        self.rejects_path = rejects_path
        self.rejects_conn_id = rejects_conn_id
        self.on_duplicate = on_duplicate
        self.is_dry_run = dry_run
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.fail_on_item_errors = fail_on_item_errors
        self.checkpoint_path = checkpoint_path
        self.checkpoint_conn_id = checkpoint_conn_id
        self.attribute_types = attribute_types
        self.bulk_method = bulk_method
        self.batch_id_field = batch_id_field
        self.status_fields = dict(status_fields or {})
        self.status_method = status_method
        self.progress_every = progress_every
        self._catalog: Any = _NOT_LOADED

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    # -- execute ----------------------------------------------------------------------------------

    def execute(self, context: Context) -> UpsertResult:
        with self._open_input() as product_input:
            scan = self._validate(product_input)
            result: UpsertResult = {
                "batch_ids": [],
                "upserted": 0,
                "rejected": scan.rejected,
                "valid": scan.valid,
                "dry_run": self.is_dry_run,
            }
            if self.is_dry_run:
                self.log.info(
                    "Dry run: %d valid product(s) would be sent, %d rejected", scan.valid, scan.rejected
                )
                return result
            if scan.valid == 0:
                self.log.warning("No valid products to send: all %d record(s) were rejected", scan.total)
                return result
            result["batch_ids"] = self._send(context, product_input, scan)
            result["upserted"] = scan.valid
        if self.wait_for_completion and result["batch_ids"]:
            if self.deferrable:
                self._defer_wait(result)
            self._wait(result["batch_ids"], context)
        self._checkpoint(context).clear()
        return result

    def execute_complete(self, context: Context, event: dict[str, Any], result: UpsertResult) -> UpsertResult:
        """Turn the batch trigger's event into the result or the matching exception."""
        status = event.get("status")
        message = str(event.get("message", ""))
        summaries = list(event.get("batches") or [])
        if status == "success":
            self.log.info("Mircate batches finished: %s", message)
            self._checkpoint(context).clear()
            return result
        if status == "failed":
            self._forget_failed_batches(context, summaries)
            raise MircateBatchFailedError(message, batches=summaries)
        if status == "timeout":
            raise MircateError(f"Timed out after {self.timeout} s waiting for the Mircate batches. {message}")
        raise MircateError(f"Waiting for the Mircate batches failed: {message or event!r}")

    # -- input ------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open_input(self) -> Iterator[_ProductInput]:
        if self.source is not None:
            with open_source(
                self.source, conn_id=self.source_conn_id, source_format=self.source_format
            ) as local:
                yield _ProductInput(
                    rows=lambda: iter_product_records(local, attributes=self._attribute_catalog),
                    position_name=local.position_name,
                    name=local.name,
                    check_unchanged=local.check_unchanged,
                )
            return
        products = _native_products(self.products)
        yield _ProductInput(
            rows=lambda: iter_memory(products), position_name="item", name="the products argument"
        )

    def _attribute_catalog(self) -> AttributeCatalog | None:
        """Return the attribute catalog, read from ``getProductSettings`` at most once."""
        if self._catalog is _NOT_LOADED:
            if self.attribute_types is not None:
                self._catalog = AttributeCatalog.from_mapping(self.attribute_types)
            else:
                self.log.info("Reading attribute types from getProductSettings")
                self._catalog = AttributeCatalog.from_product_settings(self.hook.get_product_settings())
        return self._catalog

    # -- validation pass --------------------------------------------------------------------------

    def _validate(self, product_input: _ProductInput) -> ScanResult:
        with self._rejects_file() as rejects:
            scanner = ProductScanner(
                on_invalid=self.on_invalid,
                on_duplicate=self.on_duplicate,
                catalog=self._attribute_catalog,
                position_name=product_input.position_name,
                rejects=rejects,
            )
            scan = scanner.scan(product_input.rows())
        if scan.total == 0:
            raise MircateValidationError(
                f"{product_input.name} contains no product records; give at least one product."
            )
        self.log.info(
            "Validated %d product record(s) from %s: %d valid, %d rejected, %d replaced by a later duplicate",
            scan.total,
            product_input.name,
            scan.valid,
            scan.rejected,
            scan.superseded,
        )
        if scan.rejected and self.on_invalid == "fail":
            raise MircateValidationError(
                describe_problems(scan, product_input.position_name, product_input.name),
                errors=[dict(p) for p in scan.problems],
            )
        if scan.rejected:
            self.log.warning("Skipping %d invalid record(s); see %s", scan.rejected, self.rejects_path)
        return scan

    @contextlib.contextmanager
    def _rejects_file(self) -> Iterator[Any]:
        if self.rejects_path is None:
            yield None
            return
        path = to_object_path(self.rejects_path, self.rejects_conn_id or self.source_conn_id)
        with atomic_writer(path, "w") as handle:
            yield handle

    # -- sending pass -----------------------------------------------------------------------------

    def _checkpoint(self, context: Context) -> ChunkCheckpoint:
        return ChunkCheckpoint.from_context(
            context,
            checkpoint_path=self.checkpoint_path,
            checkpoint_conn_id=self.checkpoint_conn_id,
            namespace=CHECKPOINT_NAMESPACE,
        )

    def _send(self, context: Context, product_input: _ProductInput, scan: ScanResult) -> list[str]:
        records = (record for position, record in product_input.rows() if position not in scan.skip)
        if scan.valid == 1:
            product = next(records)
            product_input.check_unchanged()
            self.log.info("Sending one product with upsertProduct")
            self.hook.upsert_product(product)
            return []
        operation_id = stable_operation_id(context, prefix="mircate-products")
        self.log.info(
            "Sending %d products in batches of %d (bulkOperationId %s)",
            scan.valid,
            self.batch_size,
            operation_id,
        )

        def send(chunk: list[dict[str, Any]], index: int) -> str:
            product_input.check_unchanged()
            return self.hook.bulk_upsert_products(
                chunk, bulk_operation_id=operation_id, method=self.bulk_method, id_field=self.batch_id_field
            )

        sent = send_in_chunks(
            records,
            chunk_size=self.batch_size,
            send=send,
            checkpoint=self._checkpoint(context),
            fingerprint=scan.fingerprint,
            progress=ProgressLog(scan.valid, every_items=self.progress_every, log=self.log),
        )
        self.log.info(
            "Sent %d batch(es) with %d products; %d batch(es) with %d products were accepted by an earlier try",
            sent.sent_chunks,
            sent.sent_items,
            sent.resumed_chunks,
            sent.resumed_items,
        )
        return sent.batch_ids

    # -- waiting ----------------------------------------------------------------------------------

    def _defer_wait(self, result: UpsertResult) -> None:
        from airflow_provider_mircate.triggers.batch import MircateBatchStatusTrigger

        trigger = MircateBatchStatusTrigger(
            batch_ids=result["batch_ids"],
            mircate_conn_id=self.mircate_conn_id,
            poll_interval=self.poll_interval,
            deadline=time.time() + self.timeout if self.timeout is not None else None,
            fail_on_item_errors=self.fail_on_item_errors,
            status_method=self.status_method,
            batch_id_field=self.batch_id_field,
            status_fields=self.status_fields,
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
                log=self.log,
            )
        except MircateBatchFailedError as exc:
            self._forget_failed_batches(context, exc.batches)
            raise

    def _forget_failed_batches(self, context: Context, summaries: list[dict[str, Any]]) -> None:
        """Clear the checkpoint when a batch failed as a whole, so that a retry sends every chunk again."""
        failed = [s for s in summaries if s.get("status") in BatchStates().failure]
        if failed:
            self.log.warning(
                "%d batch(es) failed as a whole; clearing the checkpoint so that a retry sends every "
                "product again",
                len(failed),
            )
            self._checkpoint(context).clear()

    # -- lineage ----------------------------------------------------------------------------------

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Report the source file as input and ``mircate://<account>/products`` as output."""
        try:
            from airflow.providers.openlineage.extractors import OperatorLineage
            from openlineage.client.event_v2 import Dataset
        except ImportError:
            return None
        inputs = []
        if self.source is not None:
            path = to_object_path(self.source, self.source_conn_id)
            if path.protocol in ("file", "local", ""):
                inputs.append(Dataset(namespace="file", name=path.path))
            else:
                bucket, _, key = path.path.partition("/")
                inputs.append(Dataset(namespace=f"{path.protocol}://{bucket}", name=key))
        output = Dataset(namespace=f"mircate://{self.hook.settings.account_id}", name="products")
        return OperatorLineage(inputs=inputs, outputs=[output])


def _check_arguments(
    products: Any,
    source: Any,
    batch_size: Any,
    on_invalid: str,
    on_duplicate: str,
    rejects_path: Any,
    poll_interval: Any,
) -> None:
    """Raise ``MircateConfigError`` on arguments that are wrong before any rendering."""
    if (products is None) == (source is None):
        raise MircateConfigError("Give exactly one of products (records) and source (a file URI).")
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int)
        or not 1 <= batch_size <= MAX_BULK_ITEMS
    ):
        raise MircateConfigError(
            f"batch_size={batch_size!r} is invalid: use an integer from 1 to {MAX_BULK_ITEMS}."
        )
    if on_invalid not in ("fail", "skip"):
        raise MircateConfigError(f"on_invalid={on_invalid!r} is invalid: use 'fail' or 'skip'.")
    if on_duplicate not in ("fail", "last_wins"):
        raise MircateConfigError(f"on_duplicate={on_duplicate!r} is invalid: use 'fail' or 'last_wins'.")
    if on_invalid == "skip" and rejects_path is None:
        raise MircateConfigError(
            "on_invalid='skip' needs rejects_path, where the rejected records and their problems are written."
        )
    if not isinstance(poll_interval, (int, float)) or poll_interval <= 0:
        raise MircateConfigError(
            f"poll_interval={poll_interval!r} is invalid: give a number of seconds above 0."
        )


def _native_products(products: Any) -> list[Any]:
    """Return rendered ``products`` as a list; a JSON string (rendered from an XCom) is parsed."""
    if isinstance(products, str):
        try:
            products = json.loads(products)
        except ValueError as exc:
            raise MircateConfigError(
                f"products rendered to text that is not JSON ({exc}); set render_template_as_native_obj=True "
                "on the DAG, or pass a list of dicts."
            ) from exc
    if isinstance(products, dict):
        return [products]
    if isinstance(products, (list, tuple)):
        return list(products)
    raise MircateConfigError(
        f"products is a {type(products).__name__}; pass one product dict or a list of them."
    )
