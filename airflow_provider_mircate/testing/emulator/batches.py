"""The background worker that processes bulk batches and exports, one job at a time, in arrival order."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from airflow_provider_mircate.testing.emulator.protocol import ApiError
from airflow_provider_mircate.testing.emulator.state import EmulatorState

log = logging.getLogger(__name__)

# An item handler applies one item to the state, or raises ApiError with the reason it failed.
ItemHandler = Callable[[dict[str, Any]], None]


class BatchWorker:
    """
    A thread that runs queued jobs. ``pause`` and ``resume`` let tests hold a batch in a known state.

    :param state: the emulator state; batch statuses are changed under its lock.
    :param stop_event: set when the emulator stops; waits inside jobs end early.
    :param on_batch_done: called after each batch, for example to flush persistence.
    """

    def __init__(self, state: EmulatorState, stop_event: threading.Event, on_batch_done: Callable[[], None]):
        self.state = state
        self.stop_event = stop_event
        self.on_batch_done = on_batch_done
        self._jobs: deque[Callable[[], None]] = deque()
        self._cond = threading.Condition()
        self._pause_remaining: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="mircate-emulator-batches", daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait for the thread to end; call after setting the stop event."""
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def submit(self, job: Callable[[], None]) -> None:
        """Queue a job."""
        with self._cond:
            self._jobs.append(job)
            self._cond.notify_all()

    def clear(self) -> None:
        """Drop the queued jobs that have not started."""
        with self._cond:
            self._jobs.clear()

    def pause(self, after_items: int = 0) -> None:
        """
        Hold batches: with 0, queued batches stay PENDING; with n, the worker pauses after n more items,
        leaving the batch RUNNING.
        """
        with self._cond:
            self._pause_remaining = after_items
            self._cond.notify_all()

    def resume(self) -> None:
        """Let paused batches continue."""
        with self._cond:
            self._pause_remaining = None
            self._cond.notify_all()

    def _wait_unpaused(self, consume: bool) -> None:
        with self._cond:
            while self._pause_remaining == 0 and not self.stop_event.is_set():
                self._cond.wait()
            if consume and self._pause_remaining is not None:
                self._pause_remaining -= 1

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self.stop_event.is_set():
                    self._cond.wait()
                if self.stop_event.is_set():
                    return
                job = self._jobs.popleft()
            self._wait_unpaused(consume=False)
            if self.stop_event.is_set():
                return
            try:
                job()
            except Exception:
                log.exception("An emulator batch job failed")

    def run_batch(
        self,
        batch_id: str,
        items: list[Any],
        handle_item: ItemHandler,
        item_delay: Callable[[], float],
        fail_whole: bool = False,
    ) -> None:
        """
        Apply the items of one batch, recording per-item errors; an invalid item fails alone.

        The batch ends DONE, or FAILED when every item failed or ``fail_whole`` is set.
        """
        self.state.update_batch(batch_id, status="RUNNING", startedAt=self.state.now())
        if fail_whole:
            whole = [{"sku": None, "message": "The batch failed as a whole (injected fault)."}]
            self._finish(batch_id, "FAILED", processed=len(items), failed=len(items), errors=whole)
            return
        failed = 0
        errors: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            self._wait_unpaused(consume=True)
            delay = item_delay()
            if delay and self.stop_event.wait(delay):
                return
            if self.stop_event.is_set():
                return
            try:
                handle_item(item)
            except ApiError as exc:
                failed += 1
                sku = item.get("sku") if isinstance(item, dict) else None
                if sku is None and isinstance(item, dict) and isinstance(item.get("data"), dict):
                    sku = item["data"].get("sku")
                errors.append({"sku": sku, "index": index, "message": exc.message})
            self.state.update_batch(batch_id, processed=index + 1, failed=failed, errors=list(errors))
        status = "FAILED" if items and failed == len(items) else "DONE"
        self._finish(batch_id, status, processed=len(items), failed=failed, errors=errors)

    def _finish(self, batch_id: str, status: str, **fields: Any) -> None:
        with self.state.lock:
            self.state.update_batch(batch_id, status=status, finishedAt=self.state.now(), **fields)
            self.state.batch_payloads.pop(batch_id, None)
            self.state.mark("batch_payload", batch_id)
        self.on_batch_done()
