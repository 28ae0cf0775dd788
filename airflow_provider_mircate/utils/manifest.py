"""
The JSON-lines manifest of an image fetch: one record per listed filename.

Records are spooled to a local temporary file while images complete, so a large set is never held in
memory, and the manifest is written to its final place in one all-or-nothing write at the end.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from typing import IO, TYPE_CHECKING, Literal, TypedDict

from airflow_provider_mircate.utils.storage import atomic_writer

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

ImageStatus = Literal["fetched", "skipped", "missing", "failed"]
STATUSES: tuple[ImageStatus, ...] = ("fetched", "skipped", "missing", "failed")


class ManifestRecord(TypedDict):
    """One line of the manifest; ``path`` and the byte fields are ``None`` when nothing was stored."""

    filename: str
    path: str | None
    bytes: int | None
    content_type: str | None
    sha256: str | None
    status: ImageStatus
    error: str | None


def make_record(
    filename: str,
    status: ImageStatus,
    *,
    path: str | None = None,
    size: int | None = None,
    content_type: str | None = None,
    sha256: str | None = None,
    error: str | None = None,
) -> ManifestRecord:
    """Build one manifest record."""
    return {
        "filename": filename,
        "path": path,
        "bytes": size,
        "content_type": content_type,
        "sha256": sha256,
        "status": status,
        "error": error,
    }


def read_manifest(path: ObjectStoragePath) -> dict[str, ManifestRecord]:
    """
    Return the records of an earlier manifest that name a stored object, keyed by filename.

    A missing manifest gives an empty dict. Lines that are not valid records are skipped and counted in
    one warning, because the manifest only refines the skip decision and must not block a rerun.
    """
    records: dict[str, ManifestRecord] = {}
    invalid = 0
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        return records
    with handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                invalid += 1
                continue
            if not isinstance(record, dict) or not isinstance(record.get("filename"), str):
                invalid += 1
                continue
            if record.get("status") in ("fetched", "skipped") and isinstance(record.get("bytes"), int):
                records[record["filename"]] = record  # type: ignore[assignment]
    if invalid:
        log.warning("Skipped %d invalid line(s) in the manifest %s", invalid, path)
    return records


class ManifestWriter:
    """Spool manifest records to a local temporary file, then write them to object storage at once."""

    def __init__(self) -> None:
        handle, self._spool_name = tempfile.mkstemp(prefix="mircate-manifest-", suffix=".jsonl")
        self._spool: IO[str] = os.fdopen(handle, "w", encoding="utf-8")
        self.count = 0

    def add(self, record: ManifestRecord) -> None:
        """Append one record."""
        self._spool.write(json.dumps(record, ensure_ascii=False, sort_keys=False) + "\n")
        self.count += 1

    def commit(self, path: ObjectStoragePath) -> None:
        """Write every record to ``path``, replacing an earlier manifest only when the write completes."""
        self._spool.flush()
        with open(self._spool_name, "rb") as source, atomic_writer(path, "wb") as target:
            shutil.copyfileobj(source, target, 1024 * 1024)

    def close(self) -> None:
        """Remove the local spool file."""
        self._spool.close()
        try:
            os.unlink(self._spool_name)
        except FileNotFoundError:
            pass

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
