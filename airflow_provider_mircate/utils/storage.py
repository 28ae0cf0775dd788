"""Object storage helpers: resolve user paths, spool remote files, and write objects all-or-nothing."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_mircate.exceptions import MircateConfigError

SPOOL_CHUNK = 1024 * 1024


def to_object_path(
    value: str | os.PathLike[str] | ObjectStoragePath, conn_id: str | None = None
) -> ObjectStoragePath:
    """
    Return an ``ObjectStoragePath`` for a URI, a local path or an existing path object.

    :param value: ``s3://bucket/key``, ``file:///tmp/x``, ``/tmp/x`` or an ``ObjectStoragePath``.
    :param conn_id: the connection for the store (an ``aws`` connection for ``s3://``, for example);
        ignored when ``value`` already is an ``ObjectStoragePath`` that names one.
    """
    if isinstance(value, ObjectStoragePath):
        if conn_id and not value.conn_id:
            return ObjectStoragePath(str(value), conn_id=conn_id)
        return value
    text = os.fspath(value).strip() if not isinstance(value, str) else value.strip()
    if not text:
        raise MircateConfigError(
            "An empty path was given; pass a URI such as 's3://bucket/key' or a local path."
        )
    if "://" not in text:
        text = "file://" + str(Path(text).expanduser().absolute())
    return ObjectStoragePath(text, conn_id=conn_id) if conn_id else ObjectStoragePath(text)


def is_local(path: ObjectStoragePath) -> bool:
    """Tell whether a path is on the local file system."""
    return path.protocol in ("file", "local", "")


@contextlib.contextmanager
def local_copy(path: ObjectStoragePath) -> Iterator[Path]:
    """
    Yield a local file with the content of ``path``.

    A local path is yielded as it is. A remote object is streamed into a temporary file first, so a
    large catalog is never held in memory and can be read twice (validate, then send).
    """
    if is_local(path):
        yield Path(path.path)
        return
    handle, name = tempfile.mkstemp(prefix="mircate-spool-", suffix=path.suffix)
    try:
        with os.fdopen(handle, "wb") as target, path.open("rb") as source:
            shutil.copyfileobj(source, target, SPOOL_CHUNK)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


@contextlib.contextmanager
def atomic_writer(path: ObjectStoragePath, mode: str = "wb") -> Iterator[IO[Any]]:
    """
    Open ``path`` for writing so that it appears only when the block completes without an error.

    On the local file system the data goes to a temporary name beside the target and is renamed into
    place. On object stores fsspec commits a file when its context closes, even after an exception, so
    the file is discarded instead (s3fs aborts the multipart upload) and no partial object is left.
    """
    if is_local(path):
        target = Path(path.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A fixed-length name, so a target name near the 255-byte limit still has a temporary twin.
        temporary = target.with_name(f".mircate-{uuid.uuid4().hex}.part")
        try:
            with open(temporary, mode) as handle:
                yield handle
            os.replace(temporary, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        return
    handle = path.open(mode)
    try:
        yield handle
    except BaseException:
        discard = getattr(handle, "discard", None)
        if callable(discard):
            discard()
            # s3fs's discard() drops the buffer but leaves the file open, and its __del__ would then
            # try to upload the dropped buffer and raise. Airflow wraps the file for lineage tracking,
            # so the flag is set on the wrapped file object.
            getattr(handle, "_obj", handle).closed = True
        else:
            # A file system without discard() keeps what it wrote; remove it so a rerun redoes it.
            handle.close()
            with contextlib.suppress(Exception):
                path.unlink()
        raise
    else:
        handle.close()
