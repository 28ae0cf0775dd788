"""Chunked sending with checkpoints: resume after a failure, fingerprints, ids and progress lines."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.utils.chunks import (
    ChunkCheckpoint,
    FileChunkCheckpoint,
    StateStoreChunkCheckpoint,
    iter_chunks,
    send_in_chunks,
    stable_operation_id,
)
from airflow_provider_mircate.utils.progress import ProgressLog


def context(run_id: str = "manual__2024-05-01T10:00:00+00:00", map_index: int = -1, **extra: Any) -> dict:
    ti = SimpleNamespace(dag_id="catalog_sync", run_id=run_id, task_id="upsert", map_index=map_index)
    return {"ti": ti, "run_id": run_id, **extra}


class Sender:
    """Return batch ids ``b<index>`` and raise when a given chunk index is reached."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.fail_at = fail_at
        self.sent: list[tuple[int, list[int]]] = []

    def __call__(self, chunk: list[int], index: int) -> str:
        if index == self.fail_at:
            raise RuntimeError(f"chunk {index} failed")
        self.sent.append((index, list(chunk)))
        return f"b{index}"


class MemoryStore:
    """The get/set/delete interface of Airflow's task state store, kept in a dict."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.sets = 0

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.sets += 1
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def progress() -> ProgressLog:
    return ProgressLog(None, every_items=0, every_seconds=0)


# -- stable ids -----------------------------------------------------------------------------------


def test_stable_operation_id_same_on_every_try() -> None:
    assert stable_operation_id(context()) == stable_operation_id(context())


def test_stable_operation_id_safe_characters() -> None:
    value = stable_operation_id(context(run_id="scheduled__2024-05-01T10:00:00+00:00/x y"))
    assert all(c.isalnum() or c in "-_" for c in value)
    assert value.startswith("mircate-catalog_sync-")
    assert len(value) <= 110


def test_stable_operation_id_differs_by_map_index_and_run() -> None:
    ids = {
        stable_operation_id(context()),
        stable_operation_id(context(map_index=0)),
        stable_operation_id(context(map_index=1)),
        stable_operation_id(context(run_id="manual__2024-05-02")),
    }
    assert len(ids) == 4


def test_stable_operation_id_no_collision_after_cleaning() -> None:
    assert stable_operation_id(context(run_id="a:b")) != stable_operation_id(context(run_id="a+b"))


def test_stable_operation_id_empty_context() -> None:
    assert stable_operation_id({}, prefix="x y").startswith("x_y-no_dag-no_run-no_task--1-")


# -- chunking -------------------------------------------------------------------------------------


def test_iter_chunks_last_chunk_short() -> None:
    assert list(iter_chunks(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


def test_iter_chunks_is_lazy() -> None:
    consumed: list[int] = []

    def items():
        for i in range(10):
            consumed.append(i)
            yield i

    chunks = iter_chunks(items(), 4)
    next(chunks)
    assert consumed == [0, 1, 2, 3]


def test_send_in_chunks_rejects_bad_size(tmp_path: Path) -> None:
    checkpoint = ChunkCheckpoint.from_context(context(), checkpoint_path=str(tmp_path / "c.json"))
    with pytest.raises(MircateConfigError, match="chunk_size=0"):
        send_in_chunks(
            [1], chunk_size=0, send=Sender(), checkpoint=checkpoint, fingerprint="f", progress=progress()
        )


# -- resume through a file checkpoint -------------------------------------------------------------


def test_resume_skips_accepted_chunks(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/ckpt.json"
    first = Sender(fail_at=2)
    with pytest.raises(RuntimeError, match="chunk 2 failed"):
        send_in_chunks(
            range(10),
            chunk_size=3,
            send=first,
            checkpoint=ChunkCheckpoint.from_context(context(), checkpoint_path=uri),
            fingerprint="f1",
            progress=progress(),
        )
    assert [index for index, _ in first.sent] == [0, 1]

    second = Sender()
    result = send_in_chunks(
        range(10),
        chunk_size=3,
        send=second,
        checkpoint=ChunkCheckpoint.from_context(context(), checkpoint_path=uri),
        fingerprint="f1",
        progress=progress(),
    )
    assert second.sent == [(2, [6, 7, 8]), (3, [9])]
    assert result.batch_ids == ["b0", "b1", "b2", "b3"]
    assert result.resumed_chunks == 2
    assert result.resumed_items == 6
    assert result.sent_chunks == 2
    assert result.sent_items == 4


def test_changed_fingerprint_sends_everything(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/ckpt.json"
    send_in_chunks(
        range(4),
        chunk_size=2,
        send=Sender(),
        checkpoint=ChunkCheckpoint.from_context(context(), checkpoint_path=uri),
        fingerprint="old",
        progress=progress(),
    )
    again = Sender()
    result = send_in_chunks(
        range(4),
        chunk_size=2,
        send=again,
        checkpoint=ChunkCheckpoint.from_context(context(), checkpoint_path=uri),
        fingerprint="new",
        progress=progress(),
    )
    assert [index for index, _ in again.sent] == [0, 1]
    assert result.resumed_chunks == 0


def test_changed_chunk_size_sends_everything(tmp_path: Path) -> None:
    uri = f"file://{tmp_path}/ckpt.json"
    for size in (2, 3):
        sender = Sender()
        send_in_chunks(
            range(6),
            chunk_size=size,
            send=sender,
            checkpoint=ChunkCheckpoint.from_context(context(), checkpoint_path=uri),
            fingerprint="same",
            progress=progress(),
        )
        assert len(sender.sent) == 6 // size


def test_file_checkpoint_content(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.json"
    checkpoint = ChunkCheckpoint.from_context(context(), checkpoint_path=str(path))
    checkpoint.record("fp", 0, "b0")
    checkpoint.record("fp", 1, "b1")
    assert json.loads(path.read_text()) == {"fingerprint": "fp", "batches": {"0": "b0", "1": "b1"}}
    assert FileChunkCheckpoint(checkpoint.path).load("fp") == {0: "b0", 1: "b1"}  # type: ignore[attr-defined]
    assert FileChunkCheckpoint(checkpoint.path).load("other") == {}  # type: ignore[attr-defined]


def test_file_checkpoint_directory_gets_task_name(tmp_path: Path) -> None:
    checkpoint = ChunkCheckpoint.from_context(context(map_index=3), checkpoint_path=f"{tmp_path}/")
    checkpoint.record("fp", 0, "b0")
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == 1
    assert names[0].startswith("mircate-catalog_sync-manual__2024-05-01T10_00_00_00_00-upsert-3-")
    assert names[0].endswith(".json")


def test_file_checkpoint_clear(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.json"
    checkpoint = ChunkCheckpoint.from_context(context(), checkpoint_path=str(path))
    checkpoint.record("fp", 0, "b0")
    checkpoint.clear()
    assert not path.exists()
    assert checkpoint.load("fp") == {}


def test_unreadable_checkpoint_starts_over(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ckpt.json"
    path.write_text("{not json")
    checkpoint = ChunkCheckpoint.from_context(context(), checkpoint_path=str(path))
    with caplog.at_level(logging.WARNING):
        assert checkpoint.load("fp") == {}
    assert "unreadable checkpoint" in caplog.text


@pytest.mark.s3
def test_file_checkpoint_on_s3(s3_bucket: str) -> None:
    uri = f"s3://{s3_bucket}/checkpoints/"
    checkpoint = ChunkCheckpoint.from_context(
        context(), checkpoint_path=uri, checkpoint_conn_id="mircate_test_s3"
    )
    checkpoint.record("fp", 0, "b0")
    again = ChunkCheckpoint.from_context(context(), checkpoint_path=uri, checkpoint_conn_id="mircate_test_s3")
    assert again.load("fp") == {0: "b0"}


def test_no_store_no_path_uses_temp_file(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        checkpoint = ChunkCheckpoint.from_context(context(run_id="temp-test"))
    assert isinstance(checkpoint, FileChunkCheckpoint)
    assert "checkpoint_path" in caplog.text
    checkpoint.clear()


# -- resume through the task state store ----------------------------------------------------------


def test_state_store_used_when_in_context() -> None:
    store = MemoryStore()
    assert isinstance(
        ChunkCheckpoint.from_context(context(task_state_store=store)), StateStoreChunkCheckpoint
    )


def test_state_store_resume() -> None:
    store = MemoryStore()
    with pytest.raises(RuntimeError):
        send_in_chunks(
            range(5),
            chunk_size=2,
            send=Sender(fail_at=1),
            checkpoint=ChunkCheckpoint.from_context(context(task_state_store=store), namespace="ns"),
            fingerprint="fp",
            progress=progress(),
        )
    assert store.values == {"ns.chunk.0": "b0", "ns.chunks": {"fingerprint": "fp:2", "count": 1}}
    second = Sender()
    result = send_in_chunks(
        range(5),
        chunk_size=2,
        send=second,
        checkpoint=ChunkCheckpoint.from_context(context(task_state_store=store), namespace="ns"),
        fingerprint="fp",
        progress=progress(),
    )
    assert [index for index, _ in second.sent] == [1, 2]
    assert result.batch_ids == ["b0", "b1", "b2"]


def test_state_store_new_fingerprint_drops_old_chunks() -> None:
    store = MemoryStore()
    checkpoint = StateStoreChunkCheckpoint(store, "ns")
    checkpoint.record("a", 0, "b0")
    checkpoint.record("a", 1, "b1")
    fresh = StateStoreChunkCheckpoint(store, "ns")
    assert fresh.load("b") == {}
    fresh.record("b", 0, "c0")
    assert store.values == {"ns.chunk.0": "c0", "ns.chunks": {"fingerprint": "b", "count": 1}}


def test_state_store_clear() -> None:
    store = MemoryStore()
    checkpoint = StateStoreChunkCheckpoint(store, "ns")
    checkpoint.record("a", 0, "b0")
    checkpoint.clear()
    assert store.values == {}


# -- progress -------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_every_items(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = logging.getLogger("test.progress")
    line = ProgressLog(1000, every_items=400, every_seconds=0, log=log, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.progress"):
        for _ in range(10):
            clock.now += 1
            line.advance(100)
        line.finish()
    assert [r.getMessage() for r in caplog.records] == [
        "Sent 400/1000 products (100/s)",
        "Sent 800/1000 products (100/s)",
        "Sent 1000/1000 products (100/s)",
    ]


def test_progress_every_seconds() -> None:
    clock = Clock()
    line = ProgressLog(None, every_items=0, every_seconds=30, clock=clock)
    for _ in range(10):
        clock.now += 10
        line.advance(1)
    assert line.lines == 3


def test_send_in_chunks_logs_progress(tmp_path: Path) -> None:
    line = ProgressLog(10, every_items=4, every_seconds=0)
    send_in_chunks(
        range(10),
        chunk_size=2,
        send=Sender(),
        checkpoint=ChunkCheckpoint.from_context(context(), checkpoint_path=str(tmp_path / "c.json")),
        fingerprint="fp",
        progress=line,
    )
    assert line.done == 10
    assert line.lines == 3
