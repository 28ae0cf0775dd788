"""
Fetch images from ``getImage`` into object storage: one image at a time per thread, streamed in chunks.

:class:`ImageFetcher` handles one filename from start to end and returns its manifest record;
:func:`run_fetch` drives it over a whole list from a thread pool and keeps the counts.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
import urllib3.exceptions

from airflow_provider_mircate.exceptions import (
    MircateAccountNotFoundError,
    MircateAuthError,
    MircateConfigError,
    MircateError,
    MircateNotFoundError,
)
from airflow_provider_mircate.utils.filenames import (
    UnsafeFilenameError,
    check_name_component,
    object_path_under,
    render_object_name,
    split_filename,
)
from airflow_provider_mircate.utils.image_params import extension_for_content_type
from airflow_provider_mircate.utils.manifest import ManifestRecord, ManifestWriter, make_record
from airflow_provider_mircate.utils.storage import atomic_writer

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mircate.hooks.mircate import MircateHook

CHUNK_SIZE = 64 * 1024
MAX_LISTED_FAILURES = 20
PROGRESS_INTERVAL = 10.0  # seconds between progress log lines

log = logging.getLogger(__name__)


class IncompleteImageError(Exception):
    """The image body ended before the ``Content-Length`` the server announced, or was empty."""


class ImageBodyError(MircateError):
    """Reading an image body failed on every attempt."""


class FetchAborted(Exception):
    """The run is stopping because another image hit an error that fails every image."""


# Failures while reading a body that has started: retried by the fetcher, because the hook's own retries
# end when the response headers arrive.
BODY_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
    IncompleteImageError,
)

# Per-image failures that are recorded in the manifest; any other exception stops the whole run.
IMAGE_ERRORS = (MircateError, OSError, requests.RequestException, urllib3.exceptions.HTTPError)


def uri_of(path: ObjectStoragePath) -> str:
    """Return ``protocol://path`` without the connection id, the form the manifest stores."""
    protocol = path.protocol or "file"
    location = path.path
    if protocol in ("file", "local") and not location.startswith("/"):
        location = "/" + location
    return f"{protocol}://{location}"


@dataclass
class FetchOptions:
    """What to fetch and where: the checked transforms, naming and overwrite rules."""

    destination: ObjectStoragePath
    transforms: dict[str, Any]
    name_template: str
    overwrite: bool
    max_retries: int
    chunk_size: int = CHUNK_SIZE
    reserved_uris: frozenset[str] = frozenset()


class ImageFetcher:
    """
    Fetch one image into the destination and describe the outcome as a manifest record.

    Thread-safe: the threads of one run share the hook, the previous manifest and the name claims.

    :param hook: the hook, shared by every thread; its pool should hold one connection per thread.
    :param options: the fetch options.
    :param previous: records of an earlier manifest keyed by filename, for the skip decision.
    """

    def __init__(
        self, hook: MircateHook, options: FetchOptions, previous: dict[str, ManifestRecord] | None = None
    ) -> None:
        self.hook = hook
        self.options = options
        self.previous = previous or {}
        self._claims: dict[str, str] = {uri: "(the manifest)" for uri in options.reserved_uris}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Make running and queued fetches end early; used when the run is aborting."""
        self._stop.set()

    def fetch(self, filename: Any) -> ManifestRecord:
        """
        Fetch one image and return its record; per-image failures become ``failed`` or ``missing`` records.

        :raises MircateAuthError: on HTTP 403, which would fail every other image too.
        """
        name = filename if isinstance(filename, str) else repr(filename)
        if self._stop.is_set():
            return make_record(name, "failed", error="not tried: the run stopped early")
        try:
            check_name_component(filename)
            return self._fetch_checked(filename)
        except UnsafeFilenameError as exc:
            return make_record(name, "failed", error=f"rejected: {exc}")
        except MircateAccountNotFoundError:
            # An unknown account or project fails every image alike: raise it like an HTTP 403.
            raise
        except MircateNotFoundError:
            return make_record(name, "missing", error="not found (HTTP 404)")
        except (MircateAuthError, MircateConfigError):
            raise
        except FetchAborted:
            return make_record(name, "failed", error="interrupted: the run stopped early")
        except IMAGE_ERRORS as exc:
            return make_record(name, "failed", error=f"{type(exc).__name__}: {exc}")

    # -- naming and the skip decision ------------------------------------------------------------

    def _extension_before_request(self, filename: str) -> str | None:
        """Return the extension when it is known before the request: the format, else the filename's own."""
        image_format = self.options.transforms.get("format")
        if image_format:
            return str(image_format)
        return split_filename(filename)[1] or None

    def _target(self, filename: str, ext: str) -> ObjectStoragePath:
        t = self.options.transforms
        relative = render_object_name(
            self.options.name_template,
            filename,
            ext=ext,
            width=t.get("width"),
            height=t.get("height"),
            image_format=t.get("format"),
        )
        return object_path_under(self.options.destination, relative)

    def _claim(self, filename: str, target: ObjectStoragePath) -> None:
        uri = uri_of(target)
        with self._lock:
            owner = self._claims.setdefault(uri, filename)
        if owner != filename:
            raise UnsafeFilenameError(f"object name {uri!r} is already used by {owner!r}")

    def _existing(self, filename: str, target: ObjectStoragePath) -> ManifestRecord | None:
        """Return a ``skipped`` record when the object is already stored, else ``None``."""
        if self.options.overwrite:
            return None
        try:
            info = target.fs.info(target.path)
        except FileNotFoundError:
            return None
        size = info.get("size")
        uri = uri_of(target)
        prior = self.previous.get(filename)
        if prior is not None and prior.get("path") == uri:
            if prior.get("bytes") != size:
                log.info(
                    "Refetching %s: %s has %s bytes, the manifest recorded %s",
                    filename,
                    uri,
                    size,
                    prior["bytes"],
                )
                return None
            return make_record(
                filename,
                "skipped",
                path=uri,
                size=size,
                content_type=prior.get("content_type"),
                sha256=prior.get("sha256"),
            )
        return make_record(filename, "skipped", path=uri, size=size)

    # -- download --------------------------------------------------------------------------------

    def _fetch_checked(self, filename: str) -> ManifestRecord:
        target: ObjectStoragePath | None = None
        ext = self._extension_before_request(filename)
        if ext is not None:
            target = self._target(filename, ext)
        else:
            target = self._target_from_manifest(filename)
        if target is not None:
            self._claim(filename, target)
            skipped = self._existing(filename, target)
            if skipped is not None:
                return skipped
        return self._download(filename, target)

    def _target_from_manifest(self, filename: str) -> ObjectStoragePath | None:
        """For a name that depends on the response, reuse the path an earlier manifest recorded."""
        prior = self.previous.get(filename)
        recorded = prior.get("path") if prior is not None else None
        base = uri_of(self.options.destination).rstrip("/") + "/"
        if not isinstance(recorded, str) or not recorded.startswith(base):
            return None
        return object_path_under(self.options.destination, recorded[len(base) :])

    def _download(self, filename: str, target: ObjectStoragePath | None) -> ManifestRecord:
        policy = self.hook.retry_policy
        attempt = 0
        while True:
            response = self.hook.get_image(filename, **self.options.transforms)
            try:
                if target is None:
                    target = self._target_from_response(filename, response)
                    self._claim(filename, target)
                    skipped = self._existing(filename, target)
                    if skipped is not None:
                        return skipped
                return self._store(filename, target, response)
            except BODY_ERRORS as exc:
                if attempt >= self.options.max_retries:
                    raise ImageBodyError(
                        f"reading the image body failed after {attempt + 1} attempt(s): "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                wait_seconds = policy.backoff(attempt)
                attempt += 1
                log.warning(
                    "Reading image %s failed with %s; retry %d of %d in %.2f s",
                    filename,
                    type(exc).__name__,
                    attempt,
                    self.options.max_retries,
                    wait_seconds,
                )
                if self._stop.wait(wait_seconds):
                    raise FetchAborted() from exc
            finally:
                response.close()

    def _target_from_response(self, filename: str, response: requests.Response) -> ObjectStoragePath:
        ext = extension_for_content_type(response.headers.get("Content-Type")) or "bin"
        return self._target(filename, ext)

    def _store(self, filename: str, target: ObjectStoragePath, response: requests.Response) -> ManifestRecord:
        """Stream the body into ``target`` all-or-nothing and check its length."""
        # A compressed transfer is decoded while read, so Content-Length would count other bytes.
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        announced = response.headers.get("Content-Length") if encoding == "identity" else None
        expected = int(announced) if announced is not None and announced.strip().isdigit() else None
        digest = hashlib.sha256()
        size = 0
        with atomic_writer(target, "wb") as handle:
            for chunk in response.iter_content(self.options.chunk_size):
                if self._stop.is_set():
                    raise FetchAborted()
                handle.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            if expected is not None and size != expected:
                raise IncompleteImageError(f"received {size} of the {expected} bytes announced")
            if size == 0:
                raise IncompleteImageError("the response body is empty")
        return make_record(
            filename,
            "fetched",
            path=uri_of(target),
            size=size,
            content_type=response.headers.get("Content-Type"),
            sha256=digest.hexdigest(),
        )


@dataclass
class FetchSummary:
    """Counts of one run, the first failures, and progress logging."""

    total: int
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("fetched", "skipped", "missing", "failed"), 0)
    )
    bytes: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _last_log: float = 0.0

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def add(self, record: ManifestRecord, writer: ManifestWriter) -> None:
        """Count one record, append it to the manifest and log failures and progress."""
        writer.add(record)
        status = record["status"]
        self.counts[status] += 1
        if status == "fetched":
            self.bytes += record["bytes"] or 0
        elif status == "failed":
            if len(self.failures) < MAX_LISTED_FAILURES:
                self.failures.append((record["filename"], record["error"] or ""))
                log.warning("Image %r failed: %s", record["filename"], record["error"])
        elif status == "missing" and len(self.missing) < MAX_LISTED_FAILURES:
            self.missing.append(record["filename"])
        self._log_progress()

    def _log_progress(self) -> None:
        now = time.monotonic()
        if self.done < self.total and now - self._last_log < PROGRESS_INTERVAL:
            return
        self._last_log = now
        elapsed = max(now - self.started, 1e-9)
        log.info(
            "Images done %d/%d (fetched %d, skipped %d, missing %d, failed %d): "
            "%.1f images/s, %d bytes, %.2f MB/s",
            self.done,
            self.total,
            self.counts["fetched"],
            self.counts["skipped"],
            self.counts["missing"],
            self.counts["failed"],
            self.done / elapsed,
            self.bytes,
            self.bytes / elapsed / 1e6,
        )


def run_fetch(
    fetcher: ImageFetcher, filenames: Iterable[Any], total: int, writer: ManifestWriter, max_concurrency: int
) -> FetchSummary:
    """
    Fetch every filename with ``max_concurrency`` threads, keeping at most twice that many queued.

    A filename listed again is recorded as ``skipped`` and fetched once.

    :raises MircateAuthError: at the first HTTP 403; queued images are not tried.
    """
    summary = FetchSummary(total=total)
    seen: set[str] = set()
    pending: set[Future[ManifestRecord]] = set()

    def collect(done: Iterable[Future[ManifestRecord]]) -> None:
        for future in done:
            summary.add(future.result(), writer)

    with ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="mircate-image") as pool:
        try:
            for filename in filenames:
                if isinstance(filename, str) and filename in seen:
                    summary.add(
                        make_record(filename, "skipped", error="listed more than once; fetched once"), writer
                    )
                    continue
                if isinstance(filename, str):
                    seen.add(filename)
                if len(pending) >= 2 * max_concurrency:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    collect(done)
                pending.add(pool.submit(fetcher.fetch, filename))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                collect(done)
        except BaseException:
            fetcher.stop()
            for future in pending:
                future.cancel()
            raise
    return summary
