"""In-memory state of the Mircate emulator, shared by the request threads and the batch worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

DEFAULT_LOCALES = ("en_US", "tr_TR")
DEFAULT_CURRENCIES = ("EUR", "USD", "TRY")
DEFAULT_CHANNELS = ({"code": "default", "label": [{"locale": "en_US", "value": "Default"}]},)

# Batch and export statuses that mean "still working".
ACTIVE_STATUSES = frozenset({"PENDING", "RUNNING"})

# The persisted record kinds and the attribute of EmulatorState that stores each.
KINDS = {
    "product": "products",
    "batch": "batches",
    "batch_payload": "batch_payloads",
    "category": "categories",
    "attribute": "attributes",
    "options": "attribute_options",
    "family": "families",
    "group": "groups",
    "stock": "stock",
    "price": "prices",
    "history": "history",
    "export": "exports",
    "image": "images",
}


def format_timestamp(epoch_ms: int) -> str:
    """Format epoch milliseconds as ISO-8601 in UTC with milliseconds and a ``Z`` suffix."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def parse_timestamp(value: str) -> str:
    """Normalise an ISO-8601 string to the stored timestamp format; raise ``ValueError`` when invalid."""
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    epoch_ms = int(round(moment.timestamp() * 1000))
    return format_timestamp(epoch_ms)


class EmulatorState:
    """
    All records of one emulated account, guarded by ``lock``.

    Stored product records are never changed in place: every write stores a new dict, so a reader
    may serialise a record after releasing the lock. Batch and export status dicts do change in
    place and are copied under the lock before they are returned. ``changed`` is notified on every
    batch or export status change.

    :param clock: returns the current time in epoch seconds; timestamps never go backwards, and writes
        within one millisecond share a timestamp.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.clock = clock or time.time
        self._last_ms = 0
        self._dirty: set[tuple[str, str]] = set()
        self.version = 0
        self.clear()

    def clear(self) -> None:
        """Drop every record and restore the default locales, currencies and channels."""
        with self.lock:
            self.products: dict[str, dict[str, Any]] = {}
            self.batches: dict[str, dict[str, Any]] = {}
            self.batch_payloads: dict[str, dict[str, Any]] = {}
            self.images: dict[str, dict[str, Any]] = {}
            self.categories: dict[str, dict[str, Any]] = {}
            self.attributes: dict[str, dict[str, Any]] = {}
            self.attribute_options: dict[str, dict[str, dict[str, Any]]] = {}
            self.families: dict[str, dict[str, Any]] = {}
            self.groups: dict[str, dict[str, Any]] = {}
            self.stock: dict[str, dict[str, Any]] = {}
            self.prices: dict[str, dict[str, Any]] = {}
            self.history: dict[str, dict[str, Any]] = {}
            self.exports: dict[str, dict[str, Any]] = {}
            self.enabled_locales = list(DEFAULT_LOCALES)
            self.enabled_currencies = list(DEFAULT_CURRENCIES)
            self.channels = [dict(channel) for channel in DEFAULT_CHANNELS]
            self._dirty.clear()
            self.version += 1
            self.changed.notify_all()

    # -- time -------------------------------------------------------------------------------------

    def now(self) -> str:
        """Return the timestamp of a write: the clock in milliseconds, never earlier than the last one."""
        with self.lock:
            epoch_ms = max(int(self.clock() * 1000), self._last_ms)
            self._last_ms = epoch_ms
            return format_timestamp(epoch_ms)

    # -- dirty tracking for persistence -----------------------------------------------------------

    def mark(self, kind: str, key: str) -> None:
        """Record that ``kind``/``key`` changed, so that the next flush writes or deletes it."""
        self._dirty.add((kind, key))
        if kind == "product":
            self.version += 1

    def take_dirty(self) -> list[tuple[str, str, Any]]:
        """Return and forget the changed records as (kind, key, value or None when deleted)."""
        with self.lock:
            dirty, self._dirty = self._dirty, set()
            return [(kind, key, getattr(self, KINDS[kind]).get(key)) for kind, key in dirty]

    # -- products ---------------------------------------------------------------------------------

    def put_product(self, key: str, record: dict[str, Any]) -> None:
        """Store a product record under its sku (or code, for a product model)."""
        with self.lock:
            self.products[key] = record
            family = record["data"].get("family")
            if isinstance(family, str) and family not in self.families:
                self.families[family] = {"code": family}
                self.mark("family", family)
            for group in record["data"].get("groups") or []:
                if group not in self.groups:
                    self.groups[group] = {"code": group}
                    self.mark("group", group)
            self.mark("product", key)

    def delete_product(self, key: str) -> bool:
        """Delete a product; return False when it did not exist."""
        with self.lock:
            if self.products.pop(key, None) is None:
                return False
            self.mark("product", key)
            return True

    # -- batches and exports ----------------------------------------------------------------------

    def update_batch(self, batch_id: str, **fields: Any) -> None:
        """Change fields of a batch status and wake the threads waiting on ``changed``."""
        with self.lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return
            batch.update(fields)
            self.mark("batch", batch_id)
            self.changed.notify_all()

    def is_busy(self) -> bool:
        """Return True while a batch or an export is PENDING or RUNNING."""
        with self.lock:
            return any(b["status"] in ACTIVE_STATUSES for b in self.batches.values()) or any(
                e["status"] in ACTIVE_STATUSES for e in self.exports.values()
            )

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Block until ``predicate()`` is true (checked on every state change); False on timeout."""
        with self.changed:
            return self.changed.wait_for(predicate, timeout=timeout)

    def summary(self) -> dict[str, Any]:
        """Return record counts per kind and the batch counts per status."""
        with self.lock:
            statuses: dict[str, int] = {}
            for batch in self.batches.values():
                statuses[batch["status"]] = statuses.get(batch["status"], 0) + 1
            return {
                "products": len(self.products),
                "batches": len(self.batches),
                "batchStatuses": statuses,
                "images": len(self.images),
                "categories": len(self.categories),
                "attributes": len(self.attributes),
                "attributeOptions": sum(len(o) for o in self.attribute_options.values()),
                "families": len(self.families),
                "stock": len(self.stock),
                "prices": len(self.prices),
                "history": len(self.history),
                "exports": len(self.exports),
            }
