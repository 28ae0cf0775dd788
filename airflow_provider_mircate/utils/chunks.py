"""
Send items in fixed-size chunks and remember which chunks the API accepted, so a retried task resumes.

Each chunk's batch id is recorded in a :class:`ChunkCheckpoint` before the next chunk is sent. On a
retry, :func:`send_in_chunks` skips the chunks whose batch id is recorded under the same fingerprint
(a hash over the input and the chunk size), so a changed input never resumes a stale checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mircate.utils.progress import ProgressLog

T = TypeVar("T")

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
# Long enough to keep dag and task ids readable, short enough for an id field or an object key.
_MAX_SLUG = 80


@dataclass
class ChunkedSendResult:
    """The outcome of :func:`send_in_chunks`; ``batch_ids`` are in chunk order, resumed ones included."""

    batch_ids: list[str] = field(default_factory=list)
    sent_items: int = 0
    sent_chunks: int = 0
    resumed_items: int = 0
    resumed_chunks: int = 0


def _task_identity(context: Mapping[str, Any]) -> tuple[str, str, str, int]:
    """Return ``(dag_id, run_id, task_id, map_index)`` from a context, with placeholders for missing keys."""
    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    dag = context.get("dag")
    task = context.get("task")
    dag_id = getattr(ti, "dag_id", None) or getattr(dag_run, "dag_id", None) or getattr(dag, "dag_id", None)
    run_id = context.get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    task_id = getattr(ti, "task_id", None) or getattr(task, "task_id", None)
    map_index = getattr(ti, "map_index", None)
    return (
        str(dag_id or "no_dag"),
        str(run_id or "no_run"),
        str(task_id or "no_task"),
        int(map_index) if isinstance(map_index, int) else -1,
    )


def _slug(parts: Iterable[object]) -> str:
    """Join parts into a string of ``[A-Za-z0-9_-]`` with a hash suffix, so distinct parts never collide."""
    raw = "\x1f".join(str(part) for part in parts)
    readable = "-".join(_UNSAFE.sub("_", str(part)).strip("_") for part in parts)
    digest = hashlib.sha256(raw.encode()).hexdigest()[:12]
    return f"{readable[:_MAX_SLUG]}-{digest}"


def stable_operation_id(context: Mapping[str, Any], prefix: str = "mircate") -> str:
    """
    Return an id derived from dag_id, run_id, task_id and map_index: the same on every try of a task.

    Only ``[A-Za-z0-9_-]`` are used, at most about 100 characters. Used as ``bulkOperationId``, so the
    batches of all tries of one task instance are grouped together.
    """
    return f"{_UNSAFE.sub('_', prefix)}-{_slug(_task_identity(context))}"


class ChunkCheckpoint:
    """Where progress of a chunked send survives task retries."""

    @classmethod
    def from_context(
        cls,
        context: Mapping[str, Any],
        *,
        checkpoint_path: str | os.PathLike[str] | ObjectStoragePath | None = None,
        checkpoint_conn_id: str | None = None,
        namespace: str = "mircate",
    ) -> ChunkCheckpoint:
        """
        Pick where the checkpoint of this task instance lives.

        With ``checkpoint_path``: a small JSON object there; a path ending in ``/`` (or an existing
        directory) gets a file name built from namespace, dag_id, run_id, task_id and map_index.
        Else on Airflow 3.3+, the task state store of the context, which keeps values across tries of
        one task instance (XComs are cleared at each new try, so they cannot be used). Else a file in
        the local temporary directory, which only a retry on the same machine finds.
        """
        name = f"{_slug((namespace, *_task_identity(context)))}.json"
        if checkpoint_path is not None:
            path = to_object_path(checkpoint_path, checkpoint_conn_id)
            if str(checkpoint_path).endswith("/") or path.is_dir():
                path = path / name
            return FileChunkCheckpoint(path)
        store = context.get("task_state_store")
        if store is not None:
            return StateStoreChunkCheckpoint(store, namespace)
        local = os.path.join(tempfile.gettempdir(), "mircate-checkpoints", name)
        log.warning(
            "This Airflow version has no task state store and no checkpoint_path was given, so the "
            "checkpoint is kept at %s; a retry on another worker sends every chunk again. Set "
            "checkpoint_path to shared storage (s3://bucket/checkpoints/) to resume anywhere.",
            local,
        )
        return FileChunkCheckpoint(to_object_path(local))

    def load(self, fingerprint: str) -> dict[int, str]:
        """Return chunk index -> batch id of accepted chunks, or ``{}`` when the fingerprint differs."""
        raise NotImplementedError

    def record(self, fingerprint: str, chunk_index: int, batch_id: str) -> None:
        """Store the batch id of an accepted chunk; it is persisted when this returns."""
        raise NotImplementedError

    def clear(self) -> None:
        """Forget every recorded chunk."""
        raise NotImplementedError


class FileChunkCheckpoint(ChunkCheckpoint):
    """
    A checkpoint kept as one JSON object ``{"fingerprint": ..., "batches": {"0": "<batch id>", ...}}``.

    The object is rewritten in full after each chunk (about 50 bytes a chunk) with an all-or-nothing
    write, so a crash leaves either the old or the new version.
    """

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        self._document: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"FileChunkCheckpoint({str(self.path)!r})"

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            with self.path.open("r", encoding="utf-8") as handle:
                document = json.load(handle)
        except (ValueError, UnicodeDecodeError) as exc:
            # Resending is safe because upserts are keyed by sku; a broken checkpoint only costs time.
            log.warning(
                "Ignoring the unreadable checkpoint %s (%s); every chunk will be sent.", self.path, exc
            )
            return {}
        return document if isinstance(document, dict) else {}

    def load(self, fingerprint: str) -> dict[int, str]:
        document = self._read()
        if document.get("fingerprint") != fingerprint:
            self._document = {"fingerprint": fingerprint, "batches": {}}
            return {}
        batches = document.get("batches") or {}
        self._document = {"fingerprint": fingerprint, "batches": dict(batches)}
        return {int(index): str(batch_id) for index, batch_id in batches.items()}

    def record(self, fingerprint: str, chunk_index: int, batch_id: str) -> None:
        if self._document is None or self._document.get("fingerprint") != fingerprint:
            self._document = {"fingerprint": fingerprint, "batches": {}}
        self._document["batches"][str(chunk_index)] = batch_id
        with atomic_writer(self.path, "w") as handle:
            json.dump(self._document, handle, separators=(",", ":"))

    def clear(self) -> None:
        self._document = None
        if self.path.exists():
            self.path.unlink()


class StateStoreChunkCheckpoint(ChunkCheckpoint):
    """
    A checkpoint in Airflow's task state store (Airflow 3.3+), one key per chunk.

    ``<namespace>.chunks`` contains ``{"fingerprint", "count"}`` and ``<namespace>.chunk.<i>`` the batch id
    of chunk ``i``. One key per chunk keeps each write small, where one growing value would be rewritten
    in full after every chunk and pass the store's default 64 KiB value limit after about 1,500 chunks.
    """

    def __init__(self, store: Any, namespace: str) -> None:
        self.store = store
        self.header_key = f"{namespace}.chunks"
        self.chunk_prefix = f"{namespace}.chunk."
        self._header: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"StateStoreChunkCheckpoint({self.header_key!r})"

    def _read_header(self) -> dict[str, Any]:
        header = self.store.get(self.header_key)
        return header if isinstance(header, dict) else {}

    def load(self, fingerprint: str) -> dict[int, str]:
        header = self._read_header()
        if header.get("fingerprint") != fingerprint:
            self._header = header
            return {}
        self._header = header
        accepted: dict[int, str] = {}
        for index in range(int(header.get("count") or 0)):
            batch_id = self.store.get(f"{self.chunk_prefix}{index}")
            if batch_id is not None:
                accepted[index] = str(batch_id)
        return accepted

    def record(self, fingerprint: str, chunk_index: int, batch_id: str) -> None:
        header = self._header if self._header is not None else self._read_header()
        count = int(header.get("count") or 0)
        if header.get("fingerprint") != fingerprint:
            self._delete_chunks(header)
            count = 0
        # The chunk key is written before the header that makes it visible, so a crash in between only
        # causes that chunk to be sent again.
        self.store.set(f"{self.chunk_prefix}{chunk_index}", batch_id)
        updated = {"fingerprint": fingerprint, "count": max(count, chunk_index + 1)}
        if updated != header:
            self.store.set(self.header_key, updated)
        self._header = updated

    def clear(self) -> None:
        self._delete_chunks(self._read_header())
        self.store.delete(self.header_key)
        self._header = None

    def _delete_chunks(self, header: Mapping[str, Any]) -> None:
        for index in range(int(header.get("count") or 0)):
            self.store.delete(f"{self.chunk_prefix}{index}")


def iter_chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of at most ``size`` items, reading ``items`` lazily."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def send_in_chunks(
    items: Iterable[T],
    *,
    chunk_size: int,
    send: Callable[[list[T], int], str],
    checkpoint: ChunkCheckpoint,
    fingerprint: str,
    progress: ProgressLog,
) -> ChunkedSendResult:
    """
    Send ``items`` in chunks of ``chunk_size`` through ``send(chunk, chunk_index) -> batch id``.

    Chunks recorded in ``checkpoint`` under the same fingerprint and chunk size are skipped, and their
    recorded batch ids are returned in place. Each new batch id is recorded before the next chunk is
    sent. ``items`` must come in the same order on every try, or resumed chunk indexes mean other items.

    :param fingerprint: a hash over the input; the chunk size is added to it here.
    :raises MircateConfigError: when ``chunk_size`` is below 1.
    """
    if chunk_size < 1:
        raise MircateConfigError(f"chunk_size={chunk_size!r} is invalid: use an integer of at least 1.")
    key = f"{fingerprint}:{chunk_size}"
    accepted = checkpoint.load(key)
    if accepted:
        progress.log.info(
            "Resuming: %d chunk(s) were accepted by an earlier try and are skipped (checkpoint %r).",
            len(accepted),
            checkpoint,
        )
    result = ChunkedSendResult()
    for index, chunk in enumerate(iter_chunks(items, chunk_size)):
        if index in accepted:
            result.batch_ids.append(accepted[index])
            result.resumed_chunks += 1
            result.resumed_items += len(chunk)
        else:
            batch_id = send(chunk, index)
            checkpoint.record(key, index, batch_id)
            result.batch_ids.append(batch_id)
            result.sent_chunks += 1
            result.sent_items += len(chunk)
        progress.advance(len(chunk))
    progress.finish()
    return result
