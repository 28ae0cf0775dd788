"""Payload and XCom shapes returned by the provider's operators."""

from __future__ import annotations

from typing import TypedDict

# -- product upsert ---------------------------------------------------------------------------------


class UpsertResult(TypedDict):
    """
    The XCom value of a product upsert.

    ``batch_ids`` lists the bulk batches in chunk order (empty for a single ``upsertProduct`` call and for
    a dry run). ``upserted`` counts the products sent, ``rejected`` the invalid records left out,
    ``valid`` the records that passed validation (sent, or to be sent in a dry run) and ``dry_run``
    whether nothing was sent.
    """

    batch_ids: list[str]
    upserted: int
    rejected: int
    valid: int
    dry_run: bool


# -- merchant feeds ---------------------------------------------------------------------------------


class MerchantFeedResult(TypedDict):
    """The XCom value of a stock or price feed: the ``bulkOperationId``, its batches and item counts."""

    bulk_operation_id: str
    batch_ids: list[str]
    sent: int
    rejected: int


class MerchantExportResult(TypedDict):
    """The XCom value of a stock and price export: the export id and the URIs of the downloaded files."""

    export_id: str
    paths: list[str]
    bytes: int


class MerchantHistoryResult(TypedDict):
    """The XCom value of a stock and price history dump: the JSON lines file and its record count."""

    path: str
    count: int


class ImageFetchResult(TypedDict):
    """
    The XCom value of an image fetch: image counts by status, bytes written and the manifest URI.

    ``bytes`` counts only the images fetched in this run; ``manifest_path`` is ``None`` when no manifest
    was written.
    """

    fetched: int
    skipped: int
    missing: int
    failed: int
    bytes: int
    manifest_path: str | None


# -- product export ---------------------------------------------------------------------------------


class ExportResult(TypedDict):
    """
    The XCom value of a product export.

    ``path`` is the JSON lines file and ``count`` its number of products. ``image_filenames_path`` is the
    file of distinct image filenames (``None`` when none was asked for) and ``image_count`` its lines.
    """

    path: str
    count: int
    image_filenames_path: str | None
    image_count: int
