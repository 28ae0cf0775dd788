"""Optional SQLite persistence of the emulator state, written in the background in batched transactions."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

from airflow_provider_mircate.testing.emulator.state import KINDS, EmulatorState

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
                                    PRIMARY KEY (kind, key));
CREATE TABLE IF NOT EXISTS images (filename TEXT PRIMARY KEY, extension TEXT NOT NULL, sha256 TEXT NOT NULL,
                                   owner TEXT NOT NULL, data BLOB NOT NULL);
"""


class SqliteStore:
    """
    Keeps a SQLite file in step with the state.

    Request threads and the batch worker only mark records as changed; a writer thread wakes on
    ``request_flush`` and writes all changed records in one transaction. A 100,000-product bulk load
    therefore costs a few hundred transactions, not one per item. ``stop`` writes what is left.

    :param path: the SQLite file; created when missing.
    :param state: the state to load into and to save from.
    """

    def __init__(self, path: str | Path, state: EmulatorState) -> None:
        self.path = Path(path)
        self.state = state
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._wake = threading.Event()
        self._stopping = False
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def load(self) -> None:
        """Read every stored record into the state."""
        with self.state.lock:
            for kind, key, value in self._conn.execute("SELECT kind, key, value FROM records"):
                if kind in KINDS and kind != "image":
                    getattr(self.state, KINDS[kind])[key] = json.loads(value)
            rows = self._conn.execute("SELECT filename, extension, sha256, owner, data FROM images")
            for filename, extension, sha256, owner, data in rows:
                self.state.images[filename] = {
                    "bytes": bytes(data),
                    "extension": extension,
                    "sha256": sha256,
                    "owner": json.loads(owner),
                }
            self.state.version += 1

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="mircate-emulator-sqlite", daemon=True)
        self._thread.start()

    def request_flush(self) -> None:
        """Ask the writer thread to write the changed records soon."""
        self._wake.set()

    def stop(self) -> None:
        """Write the remaining changes, end the writer thread and close the file."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
        self._conn.close()

    def clear(self) -> None:
        """Delete every stored record."""
        with self._write_lock, self._conn:
            self._conn.execute("DELETE FROM records")
            self._conn.execute("DELETE FROM images")

    def flush(self) -> None:
        """Write all changed records in one transaction."""
        with self._write_lock:
            changes = self.state.take_dirty()
            if not changes:
                return
            records_upsert: list[tuple[str, str, str]] = []
            records_delete: list[tuple[str, str]] = []
            images_upsert: list[tuple[Any, ...]] = []
            images_delete: list[tuple[str]] = []
            with self.state.lock:
                # Batch statuses change in place, so values are serialised under the state lock.
                for kind, key, value in changes:
                    if kind == "image":
                        if value is None:
                            images_delete.append((key,))
                        else:
                            owner = json.dumps(value["owner"])
                            images_upsert.append(
                                (key, value["extension"], value["sha256"], owner, value["bytes"])
                            )
                    elif value is None:
                        records_delete.append((kind, key))
                    else:
                        records_upsert.append((kind, key, json.dumps(value, separators=(",", ":"))))
            with self._conn:
                self._conn.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", records_upsert)
                self._conn.executemany("DELETE FROM records WHERE kind = ? AND key = ?", records_delete)
                self._conn.executemany("INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?)", images_upsert)
                self._conn.executemany("DELETE FROM images WHERE filename = ?", images_delete)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                self.flush()
            except sqlite3.Error:
                log.exception("Writing the emulator state to %s failed", self.path)
