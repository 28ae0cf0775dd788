"""``MircateEmulator``: a local, in-process emulator of the Mircate API, in the spirit of moto's server mode."""

from __future__ import annotations

import json
import logging
import random
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from airflow_provider_mircate.testing.emulator.batches import BatchWorker
from airflow_provider_mircate.testing.emulator.dispatch import Dispatcher
from airflow_provider_mircate.testing.emulator.faults import FaultInjector, FaultSettings
from airflow_provider_mircate.testing.emulator.images import TransformCache
from airflow_provider_mircate.testing.emulator.persistence import SqliteStore
from airflow_provider_mircate.testing.emulator.pim_images import store_image
from airflow_provider_mircate.testing.emulator.protocol import ApiError, invalid
from airflow_provider_mircate.testing.emulator.query import ProductQuery
from airflow_provider_mircate.testing.emulator.requestlog import RequestLog
from airflow_provider_mircate.testing.emulator.routes import ITEM_HANDLERS
from airflow_provider_mircate.testing.emulator.server import EmulatorHTTPServer
from airflow_provider_mircate.testing.emulator.state import ACTIVE_STATUSES, EmulatorState

log = logging.getLogger(__name__)

DEFAULT_API_KEY = "0123456789abcdef0123456789abcdef"
DEFAULT_ACCOUNT_ID = "1j19r3y78mj"
DEFAULT_PROJECT_ID = "5p1hp1d2t"
BATCH_STATUS_FIELDS = ("batchId", "status", "total", "processed", "failed", "errors")


class MircateEmulator:
    """
    Serve the Mircate PIM and merchant APIs from memory on 127.0.0.1, for tests, demos and benchmarks.

    :param api_key: the PIM API key the emulator accepts in ``x-api-key``.
    :param account_id: the PIM account id, the last URL segment.
    :param project_id: the first URL segment.
    :param seed: seeds the ids and the fault draws, so a run can be repeated.
    :param state_file: a SQLite file to keep the state in across restarts; None keeps it in memory only.
    :param merchant_account_id: the merchant project id; the ``MerchantAPI`` class is served only when this
        and ``merchant_api_key`` are set.
    :param merchant_api_key: the stock and price key.
    :param host: the address to listen on; keep the loopback default unless a test needs another.
    :param port: the port; 0 picks a free one.
    :param latency_ms: a fixed delay for every API request, milliseconds (a fault knob).
    :param batch_rate: bulk items processed per second; None processes as fast as possible.
    :param paging: ``offset`` (getProducts' ``pageFrom`` is a record offset) or ``page`` (a 1-based page).
    :param frequency_scale: multiplies the merchant ``frequency`` (seconds per item) to give the real delay.
    :param clock: returns the time in epoch seconds for createdAt and updatedAt; tests can freeze it.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        account_id: str = DEFAULT_ACCOUNT_ID,
        project_id: str = DEFAULT_PROJECT_ID,
        seed: int = 0,
        state_file: str | Path | None = None,
        merchant_account_id: str | None = None,
        merchant_api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        batch_rate: float | None = None,
        paging: str = "offset",
        frequency_scale: float = 0.001,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if (merchant_account_id is None) != (merchant_api_key is None):
            raise ValueError("Set both merchant_account_id and merchant_api_key, or neither.")
        if batch_rate is not None and batch_rate <= 0:
            raise ValueError(
                f"Invalid batch_rate {batch_rate!r}; use a positive number of items per second or None."
            )
        self.api_key = api_key
        self.account_id = account_id
        self.project_id = project_id
        self.seed = seed
        self.state_file = Path(state_file) if state_file is not None else None
        self.merchant_account_id = merchant_account_id
        self.merchant_api_key = merchant_api_key
        self.host = host
        self.batch_rate = batch_rate
        self.frequency_scale = frequency_scale
        self._port = port
        self.state = EmulatorState(clock=clock)
        self.query = ProductQuery(self.state, paging=paging)
        self.image_cache = TransformCache()
        self.requests = RequestLog()
        self._faults = FaultInjector(seed)
        if latency_ms:
            self._faults.set(latency_ms=latency_ms)
        self._id_rng = random.Random(seed)
        self._id_lock = threading.Lock()
        self._dispatcher = Dispatcher(self)
        self._lifecycle_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._server: EmulatorHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._store: SqliteStore | None = None
        self.worker = BatchWorker(self.state, self._stop_event, self.request_flush)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> MircateEmulator:
        """Load the state file if any, start the batch worker and listen; a started emulator is left as is."""
        with self._lifecycle_lock:
            if self._server is not None:
                return self
            self._stop_event = threading.Event()
            self.worker = BatchWorker(self.state, self._stop_event, self.request_flush)
            if self.state_file is not None:
                self._store = SqliteStore(self.state_file, self.state)
                self._store.load()
                self._store.start()
            self.worker.start()
            self._resume_unfinished_batches()
            self._server = EmulatorHTTPServer(
                (self.host, self._port), self._dispatcher.handle, self._stop_event
            )
            self._port = self._server.server_address[1]
            self._server_thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="mircate-emulator-http",
                daemon=True,
            )
            self._server_thread.start()
            log.info("Mircate emulator listening on %s", self.url)
            return self

    def stop(self) -> None:
        """Stop serving, end open connections, join every thread and write the state file; safe to repeat."""
        with self._lifecycle_lock:
            server, self._server = self._server, None
            if server is None:
                return
            self._stop_event.set()
            server.shutdown()
            server.close_all()
            server.server_close()
            if self._server_thread is not None:
                self._server_thread.join()
                self._server_thread = None
            self.worker.join()
            if self._store is not None:
                self._store.stop()
                self._store = None
            log.info("Mircate emulator on port %s stopped", self._port)

    def __enter__(self) -> MircateEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between ``start`` and ``stop``."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The port listened on (known after ``start`` when 0 was given)."""
        return self._port

    @property
    def url(self) -> str:
        """The base URL, such as ``http://127.0.0.1:8099``."""
        return f"http://{self.host}:{self._port}"

    # -- connections ------------------------------------------------------------------------------

    def conn_json(self, **extra: Any) -> str:
        """Return a JSON value for ``AIRFLOW_CONN_<ID>`` that reaches the PIM API; ``extra`` goes into extras."""
        return self._conn_json(self.account_id, self.api_key, extra)

    def conn_uri(self, **extra: Any) -> str:
        """Return the URI form of ``conn_json``; in this form every extra arrives as a string."""
        return self._conn_uri(self.account_id, self.api_key, extra)

    def merchant_conn_json(self, **extra: Any) -> str:
        """Return a JSON connection value for the merchant API (extra ``api`` is ``merchant``)."""
        login, password = self._merchant_credentials()
        return self._conn_json(login, password, {"api": "merchant", **extra})

    def merchant_conn_uri(self, **extra: Any) -> str:
        """Return the URI form of ``merchant_conn_json``."""
        login, password = self._merchant_credentials()
        return self._conn_uri(login, password, {"api": "merchant", **extra})

    def _merchant_credentials(self) -> tuple[str, str]:
        if self.merchant_account_id is None or self.merchant_api_key is None:
            raise RuntimeError(
                "The emulator has no merchant account: pass merchant_account_id and merchant_api_key."
            )
        return self.merchant_account_id, self.merchant_api_key

    def _conn_json(self, login: str, password: str, extra: dict[str, Any]) -> str:
        value = {
            "conn_type": "mircate",
            "host": f"http://{self.host}",
            "port": self._port,
            "login": login,
            "password": password,
            "extra": {"project_id": self.project_id, **extra},
        }
        return json.dumps(value)

    def _conn_uri(self, login: str, password: str, extra: dict[str, Any]) -> str:
        # Airflow 3.3 parses mircate://http://LOGIN:PASSWORD@HOST:PORT/ as host "http://HOST" with the port.
        query = {"project_id": self.project_id}
        for key, value in extra.items():
            query[key] = json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
        credentials = f"{quote(login, safe='')}:{quote(password, safe='')}"
        return f"mircate://http://{credentials}@{self.host}:{self._port}/?{urlencode(query)}"

    # -- faults and request log -------------------------------------------------------------------

    @property
    def faults(self) -> FaultSettings:
        """The current fault settings (an immutable snapshot)."""
        return self._faults.settings

    def set_faults(self, **knobs: Any) -> FaultSettings:
        """Change fault knobs while running; raise ``ValueError`` naming an unknown or invalid knob."""
        return self._faults.set(**knobs)

    def clear_faults(self) -> FaultSettings:
        """Restore every fault knob to its default."""
        with self._faults._lock:
            self._faults.settings = FaultSettings()
        self._faults.reset_counters()
        return self._faults.settings

    @property
    def fault_injector(self) -> FaultInjector:
        """The object that draws faults for requests."""
        return self._faults

    def calls(self, method: str | None = None, applied: bool | None = None) -> list[dict[str, Any]]:
        """Return the logged requests for ``method`` (any when None) with that ``applied`` flag (any when None)."""
        return self.requests.calls(method=method, applied=applied)

    def clear_requests(self) -> None:
        """Empty the request log."""
        self.requests.clear()

    # -- state ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop every record, queued batch, cached image, request log entry and ``fail_after`` count."""
        self.worker.clear()
        self.state.clear()
        self.query.clear_cache()
        self.image_cache.clear()
        self.requests.clear()
        self._faults.reset_counters()
        if self._store is not None:
            self._store.clear()

    def wait_for_batches(self, timeout: float = 30.0) -> bool:
        """
        Block until no batch or export is PENDING or RUNNING; return True.

        Raises ``TimeoutError`` after ``timeout`` seconds, for example while batches are paused.
        """
        if not self.state.wait_for(lambda: not self.state.is_busy(), timeout):
            raise TimeoutError(
                f"Batches were still PENDING or RUNNING after {timeout} s: {self.state.summary()}"
            )
        return True

    def pause_batches(self, after_items: int = 0) -> None:
        """Hold batch processing: queued batches stay PENDING, or with ``after_items`` RUNNING after that many items."""
        self.worker.pause(after_items)

    def resume_batches(self) -> None:
        """Let held batches continue."""
        self.worker.resume()

    def add_image(self, data: bytes, extension: str = "png", owner: dict[str, Any] | None = None) -> str:
        """Store image bytes directly and return the filename that getImage takes."""
        filename = store_image(self.state, self.account_id, data, extension.lower().lstrip("."), owner or {})
        self.request_flush()
        return filename

    def request_flush(self) -> None:
        """Ask the state file writer, if any, to write the recent changes."""
        store = self._store
        if store is not None:
            store.request_flush()

    def new_id(self, prefix: str) -> str:
        """Return a new id such as ``b-<uuid>``, drawn from the seeded generator and unused so far."""
        with self._id_lock:
            while True:
                value = f"{prefix}{uuid.UUID(int=self._id_rng.getrandbits(128), version=4)}"
                if value not in self.state.batches and value not in self.state.exports:
                    return value

    # -- batches ----------------------------------------------------------------------------------

    def start_batch(
        self, api_class: str, kind: str, items: list[Any], operation: str | None, item_delay: float = 0.0
    ) -> str:
        """Create a PENDING batch of ``items`` of ``kind`` and queue it for the worker; return its id."""
        batch_id = self.new_id("b-")
        with self.state.lock:
            self.state.batches[batch_id] = {
                "batchId": batch_id,
                "status": "PENDING",
                "total": len(items),
                "processed": 0,
                "failed": 0,
                "errors": [],
                "bulkOperationId": operation,
                "api": api_class,
                "kind": kind,
                "createdAt": self.state.now(),
                # Seconds the worker waits between items. The payload is dropped when the batch ends,
                # but this field stays until reset, so tests can read it after the batch finished.
                "itemDelay": item_delay,
            }
            self.state.batch_payloads[batch_id] = {"items": items, "itemDelay": item_delay}
            self.state.mark("batch", batch_id)
            self.state.mark("batch_payload", batch_id)
            self.state.changed.notify_all()
        self._queue_batch(batch_id, kind, items, item_delay)
        self.request_flush()
        return batch_id

    def _queue_batch(self, batch_id: str, kind: str, items: list[Any], item_delay: float) -> None:
        handler = ITEM_HANDLERS[kind]
        fail_whole = kind == "products" and self._faults.draw_batch_failure()

        def delay() -> float:
            rate_delay = 1.0 / self.batch_rate if self.batch_rate else 0.0
            return rate_delay + item_delay

        def job() -> None:
            self.worker.run_batch(batch_id, items, lambda item: handler(self, item), delay, fail_whole)

        self.worker.submit(job)

    def _resume_unfinished_batches(self) -> None:
        with self.state.lock:
            unfinished = [b for b in self.state.batches.values() if b["status"] in ACTIVE_STATUSES]
            for batch in unfinished:
                payload = self.state.batch_payloads.get(batch["batchId"])
                if payload is None:
                    batch.update(
                        status="FAILED", errors=[{"sku": None, "message": "The batch was lost in a restart."}]
                    )
                    continue
                batch.update(status="PENDING", processed=0, failed=0, errors=[])
                self._queue_batch(batch["batchId"], batch["kind"], payload["items"], payload["itemDelay"])

    def batch_status(self, api_class: str, batch_id: Any) -> dict[str, Any]:
        """Return the status of a batch of ``api_class``; raise ``ApiError`` 400 or 404."""
        if batch_id is None or batch_id == "":
            raise invalid("'batchId' required!", "batchId")
        if not isinstance(batch_id, str):
            raise invalid("'batchId' must be a string.", "batchId", batch_id)
        with self.state.lock:
            batch = self.state.batches.get(batch_id)
            if batch is None or batch["api"] != api_class:
                raise ApiError(404, f"Batch {batch_id!r} not found.")
            answer = {name: batch[name] for name in BATCH_STATUS_FIELDS}
            answer["errors"] = [dict(e) for e in batch["errors"]]
            if batch.get("bulkOperationId") is not None:
                answer["bulkOperationId"] = batch["bulkOperationId"]
            return answer
