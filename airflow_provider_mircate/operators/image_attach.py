"""Operators that upload image files from object storage into product attributes and categories."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_mircate.exceptions import MircateError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.utils.attach_checks import (
    AttachSource,
    check_attach_sources,
    check_attribute_constraints,
    read_base64,
)
from airflow_provider_mircate.utils.image_fetch import uri_of
from airflow_provider_mircate.utils.image_params import ATTRIBUTE_IMAGE_MAX_BYTES, CATEGORY_IMAGE_MAX_BYTES

if TYPE_CHECKING:
    from airflow.sdk import Context


class _MircateAttachImageOperator(BaseOperator):
    """Shared steps of the attach operators: check every file, then upload them one by one in order."""

    template_fields: Sequence[str] = ("mircate_conn_id", "source_conn_id", "images")
    item_keys: tuple[str, ...] = ()
    max_bytes: int = 0

    def __init__(
        self,
        *,
        images: list[dict[str, str]] | str,
        source_conn_id: str | None = None,
        mircate_conn_id: str = MircateHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.images = images
        self.source_conn_id = source_conn_id
        self.mircate_conn_id = mircate_conn_id

    @cached_property
    def hook(self) -> MircateHook:
        """The Mircate hook."""
        return MircateHook(self.mircate_conn_id)

    def check_remote(self, sources: list[AttachSource]) -> None:
        """Check the sources against settings fetched from the API; nothing by default."""

    def attach(self, source: AttachSource, image_base64: str) -> dict[str, Any]:
        raise NotImplementedError

    def execute(self, context: Context) -> list[str]:
        sources = check_attach_sources(
            self.images, keys=self.item_keys, max_bytes=self.max_bytes, conn_id=self.source_conn_id
        )
        self.check_remote(sources)

        # NOTE: Mircate has no call to remove an attached image, so a failure part-way leaves the earlier
        # images attached, and a rerun attaches them again. The error lists them.
        filenames: list[str] = []
        for source in sources:
            try:
                answer = self.attach(source, read_base64(source.path))
            except (MircateError, OSError) as exc:
                raise MircateError(
                    f"Attaching image {source.index} ({uri_of(source.path)}) failed: {str(exc).rstrip('.')}. "
                    f"Attached before the failure: {filenames}."
                ) from exc
            filename = answer.get("filename") if isinstance(answer, dict) else None
            if not isinstance(filename, str) or not filename:
                raise MircateError(
                    f"Attaching image {source.index} returned no filename (keys: {sorted(answer or {})}). "
                    f"Attached before it: {filenames}."
                )
            self.log.info("Attached %s as %s (%d bytes)", uri_of(source.path), filename, source.size)
            filenames.append(filename)
        return filenames


class MircateAttachProductAttributeImageOperator(_MircateAttachImageOperator):
    """
    Upload images into products' IMAGE or IMAGE_LIST attributes; return the new filenames in input order.

    Every file is checked before anything is uploaded: extension (jpeg, jpg, png, tiff, webp), image format
    by its first bytes, size (at most 5 MB), then the attribute's type, ``allowedExtensions`` and
    ``maxFileSizeInMB`` from ``getProductSettings``. Each upload creates a new image, so the hook retries it
    only when the request surely never arrived.

    :param images: dicts with ``path`` (a URI or local path), ``product_id`` and ``attribute_code``
        (templated).
    :param source_conn_id: the connection of the store that contains the files.
    :param mircate_conn_id: the ``mircate`` connection.
    :param check_product_settings: check each attribute in ``getProductSettings`` before uploading.
    """

    item_keys = ("product_id", "attribute_code")
    max_bytes = ATTRIBUTE_IMAGE_MAX_BYTES

    def __init__(self, *, check_product_settings: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check_product_settings = check_product_settings

    def check_remote(self, sources: list[AttachSource]) -> None:
        if self.check_product_settings and sources:
            attributes = self.hook.get_product_settings().get("attributes") or []
            check_attribute_constraints(sources, attributes)

    def attach(self, source: AttachSource, image_base64: str) -> dict[str, Any]:
        return self.hook.attach_product_attribute_image(
            product_id=source.fields["product_id"],
            attribute_code=source.fields["attribute_code"],
            image_base64=image_base64,
            extension=source.extension,
        )


class MircateAttachCategoryImageOperator(_MircateAttachImageOperator):
    """
    Upload category images and return the new filenames in input order.

    Every file is checked before anything is uploaded: extension (jpeg, jpg, png, tiff, webp), image format
    by its first bytes and size (at most 3 MB). Uploads are retried as for product attribute images.

    :param images: dicts with ``path`` (a URI or local path) and ``category_code`` (templated).
    :param source_conn_id: the connection of the store that contains the files.
    :param mircate_conn_id: the ``mircate`` connection.
    """

    item_keys = ("category_code",)
    max_bytes = CATEGORY_IMAGE_MAX_BYTES

    def attach(self, source: AttachSource, image_base64: str) -> dict[str, Any]:
        return self.hook.attach_category_image(
            category_code=source.fields["category_code"],
            image_base64=image_base64,
            extension=source.extension,
        )
