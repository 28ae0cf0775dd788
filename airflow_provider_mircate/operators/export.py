"""Export Mircate products to object storage as JSON lines."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_mircate.exceptions import MircateConfigError, MircateValidationError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.hooks.slicing import format_ms, to_epoch_ms
from airflow_provider_mircate.types import ExportResult
from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import Context

IMAGE_TYPES = ("IMAGE", "IMAGE_LIST")
PROGRESS_EVERY = 10_000


def normalize_timestamp(value: datetime | str | None, name: str) -> str | None:
    """Return ISO-8601 UTC with milliseconds and ``Z`` for a datetime or ISO string; ``None`` and "" stay ``None``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return format_ms(to_epoch_ms(value))
    except MircateValidationError as exc:
        raise MircateConfigError(f"{name} is invalid: {exc}") from exc


def image_filenames(record: Mapping[str, Any], image_attributes: frozenset[str]) -> Iterator[str]:
    """Yield the image filenames stored in a record's IMAGE and IMAGE_LIST attribute values."""
    data = record.get("data")
    if not isinstance(data, Mapping):
        return
    for attribute in data.get("attributes") or []:
        if not isinstance(attribute, Mapping) or attribute.get("code") not in image_attributes:
            continue
        for item in attribute.get("data") or []:
            value = item.get("value") if isinstance(item, Mapping) else None
            values = value if isinstance(value, list) else [value]
            for filename in values:
                if isinstance(filename, str) and filename:
                    yield filename


class MircateGetProductsOperator(BaseOperator):
    """
    Export products to one JSON lines file, one canonical record (the ``upsertProduct`` body) a line.

    The products are read through :meth:`MircateHook.iter_products_sliced`, so an export may exceed the
    10,000-record result window of ``getProducts``. The file appears only when the export completes. The
    export keeps the key of each product it wrote (about 140 bytes a product, measured) to write each product once.

    Returns ``{"path", "count", "image_filenames_path", "image_count"}``.

    :param destination: the JSON lines file, an ``ObjectStoragePath`` or a URI such as
        ``s3://bucket/products/{{ ds }}.jsonl``. (templated)
    :param dest_conn_id: the connection of the destination's object store.
    :param mircate_conn_id: the id of a connection of type ``mircate``.
    :param updated_since: export products with ``updatedAt`` at or after this time, a datetime or an
        ISO-8601 string such as ``{{ data_interval_start }}``; naive values are UTC. (templated)
    :param updated_until: export products with ``updatedAt`` before this time. (templated)
    :param filters: other ``getProducts`` filters, such as ``{"family": "shoes", "enabled": "true"}``;
        ``updatedAt`` is set through the two parameters above. (templated)
    :param page_size: products requested a page.
    :param image_filenames_path: where to write the image filenames found in IMAGE and IMAGE_LIST
        attribute values, one a line, each once. (templated)
    :param image_filenames_conn_id: the connection of that file's object store.
    :param result_window: the largest ``pageFrom + pageSize`` that ``getProducts`` serves.
    """

    template_fields: Sequence[str] = (
        "dest_conn_id",
        "image_filenames_conn_id",
        "mircate_conn_id",
        "destination",
        "updated_since",
        "updated_until",
        "filters",
        "image_filenames_path",
    )
    template_fields_renderers = {"filters": "json"}

    def __init__(
        self,
        *,
        destination: str | ObjectStoragePath,
        dest_conn_id: str | None = None,
        mircate_conn_id: str = "mircate_default",
        updated_since: datetime | str | None = None,
        updated_until: datetime | str | None = None,
        filters: dict[str, Any] | None = None,
        page_size: int = 500,
        image_filenames_path: str | ObjectStoragePath | None = None,
        image_filenames_conn_id: str | None = None,
        result_window: int = 10_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.destination = destination
        self.dest_conn_id = dest_conn_id
        self.mircate_conn_id = mircate_conn_id
        self.updated_since = updated_since
        self.updated_until = updated_until
        self.filters = filters
        self.page_size = page_size
        self.image_filenames_path = image_filenames_path
        self.image_filenames_conn_id = image_filenames_conn_id
        self.result_window = result_window
        self._written_path: ObjectStoragePath | None = None

    @cached_property
    def hook(self) -> MircateHook:
        return MircateHook(self.mircate_conn_id)

    def execute(self, context: Context) -> ExportResult:
        since = normalize_timestamp(self.updated_since, "updated_since")
        until = normalize_timestamp(self.updated_until, "updated_until")
        if self.filters is not None and not isinstance(self.filters, Mapping):
            raise MircateConfigError(f"filters must be a dict of getProducts filters, not {self.filters!r}.")
        destination = to_object_path(self.destination, self.dest_conn_id)
        images_path = (
            None
            if self.image_filenames_path is None
            else to_object_path(self.image_filenames_path, self.image_filenames_conn_id)
        )
        self.log.info(
            "Exporting Mircate products updated in [%s, %s) to %s",
            since or "-inf",
            until or "+inf",
            destination,
        )
        products = self.hook.iter_products_sliced(
            updated_since=since,
            updated_until=until,
            filters=self.filters,
            page_size=self.page_size,
            result_window=self.result_window,
        )
        with atomic_writer(destination, "w") as out:
            if images_path is None:
                count, image_count = self._write(products, out, None)
            else:
                with atomic_writer(images_path, "w") as images_out:
                    count, image_count = self._write(products, out, images_out)
        self._written_path = destination
        self.log.info("Exported %d product(s) to %s", count, destination)
        if images_path is not None:
            self.log.info("Wrote %d image filename(s) to %s", image_count, images_path)
        return {
            "path": str(destination),
            "count": count,
            "image_filenames_path": None if images_path is None else str(images_path),
            "image_count": image_count,
        }

    def _write(
        self, products: Iterator[dict[str, Any]], out: IO[Any], images_out: IO[Any] | None
    ) -> tuple[int, int]:
        """Write each record, and each new image filename; return both counts."""
        image_attributes = self._image_attributes() if images_out is not None else frozenset()
        filenames: set[str] = set()
        count = 0
        started = time.monotonic()
        for record in products:
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
            if images_out is not None:
                for filename in image_filenames(record, image_attributes):
                    if filename not in filenames:
                        filenames.add(filename)
                        images_out.write(filename + "\n")
            if count % PROGRESS_EVERY == 0:
                self.log.info(
                    "Exported %d product(s) so far (%.0f a second)",
                    count,
                    count / max(time.monotonic() - started, 1e-9),
                )
        return count, len(filenames)

    def _image_attributes(self) -> frozenset[str]:
        attributes = self.hook.get_product_settings().get("attributes") or []
        return frozenset(
            str(a["code"]) for a in attributes if isinstance(a, Mapping) and a.get("type") in IMAGE_TYPES
        )

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Return the lineage of the export: Mircate products in, the JSON lines file out."""
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:
            return None
        path = self._written_path or to_object_path(self.destination, self.dest_conn_id)
        name = path.path if path.protocol in ("file", "local", "") else path.key
        return OperatorLineage(
            inputs=[Dataset(namespace=f"mircate://{self.hook.settings.account_id}", name="products")],
            outputs=[Dataset(namespace=path.namespace, name=name)],
        )
