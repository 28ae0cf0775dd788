"""The thread-safe log of API requests that the emulator received."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any


class RequestLog:
    """
    A list-like, thread-safe log with one dict per API request.

    Each entry has ``seq``, ``time`` (epoch seconds), ``http_method``, ``api_class``, ``method``,
    ``account_id``, ``status`` (None when no response was sent), ``fault`` (None or the fault kind),
    ``applied`` (whether the call changed state), ``batch_id``, ``bulk_operation_id``, ``items`` (the
    item count of a bulk call) and ``body_sha256``. Reading returns copies of the list, never a live view.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._seq = 0

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Add an entry, numbering it with ``seq``; return it."""
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)
            return entry

    def clear(self) -> None:
        """Drop every entry; ``seq`` keeps counting."""
        with self._lock:
            self._entries.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """Return a copy of the entries."""
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def calls(self, method: str | None = None, applied: bool | None = None) -> list[dict[str, Any]]:
        """Return the entries for ``method`` (any when None) whose ``applied`` flag matches (any when None)."""
        return [
            entry
            for entry in self.snapshot()
            if (method is None or entry["method"] == method)
            and (applied is None or entry["applied"] is applied)
        ]

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.snapshot())

    def __getitem__(self, index: int | slice) -> Any:
        with self._lock:
            item = self._entries[index]
            return [dict(e) for e in item] if isinstance(item, list) else dict(item)

    def __repr__(self) -> str:
        return f"RequestLog({len(self)} entries)"
