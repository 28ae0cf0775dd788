"""Fetch catalog images into object storage; the attach operators are re-exported from here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_provider_mircate.exceptions import MircateConfigError, MircateError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.image_attach import (
    MircateAttachCategoryImageOperator,
    MircateAttachProductAttributeImageOperator,
)
from airflow_provider_mircate.utils.filenames import (
    DEFAULT_NAME_TEMPLATE,
    check_filename_list,
    chunk_filenames,
    iter_filename_lines,
    validate_name_template,
)
from airflow_provider_mircate.utils.image_fetch import (
    MAX_LISTED_FAILURES,
    FetchOptions,
    FetchSummary,
    ImageFetcher,
    run_fetch,
    uri_of,
)
from airflow_provider_mircate.utils.image_params import is_templated, validate_transforms
from airflow_provider_mircate.utils.manifest import ManifestWriter, read_manifest
from airflow_provider_mircate.utils.storage import local_copy, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_mircate.types import ImageFetchResult

__all__ = [
    "MircateAttachCategoryImageOperator",
    "MircateAttachProductAttributeImageOperator",
    "MircateImageFetchError",
    "MircateImageFetchOperator",
    "chunk_filenames",
]

TRANSFORM_FIELDS = ("width", "height", "fit", "format", "quality", "background", "compression_level")
ON_MISSING = ("fail", "skip")


class MircateImageFetchError(MircateError):
    """
    Some images failed, or were missing with ``on_missing="fail"``, after every image was tried.

    :param message: the summary shown to the user.
    :param result: the counts of the run, as the operator would have returned them.
    """

    def __init__(self, message: str, result: ImageFetchResult) -> None:
        super().__init__(message)
        self.result = result


class MircateImageFetchOperator(BaseOperator):
    """
    Fetch images from ``getImage`` into object storage, optionally resized and converted.

    Each image is streamed in 64 KB chunks to a temporary name (``file://``) or a multipart upload that is
    discarded on failure (object stores), so an object exists only once it is complete. With
    ``overwrite=False`` an existing object is skipped, and refetched when an earlier manifest recorded a
    different size, so a rerun fetches only what is missing.

    Filenames are untrusted. A name that is empty, longer than 255 bytes in UTF-8, contains ``/``, ``\\``
    or a control character, or is ``.`` or ``..`` is not fetched and gets status ``failed`` with the reason.

    .. seealso:: ``docs/images.md`` for naming, the manifest format, mapping and S3 examples.

    :param destination: the folder to write into: an ``ObjectStoragePath`` or a URI such as
        ``s3://bucket/images/`` or ``file:///data/images`` (templated).
    :param filenames: image filenames as the attach calls return them (templated). Give this or
        ``filenames_path``.
    :param filenames_path: a text file with one filename a line; blank lines are skipped (templated).
    :param filenames_conn_id: the connection of the store that contains ``filenames_path``.
    :param dest_conn_id: the connection of the destination store (an ``aws`` connection for ``s3://``).
    :param mircate_conn_id: the ``mircate`` connection.
    :param width: the output width in pixels, an integer from 1 to 10000 (templated).
    :param height: the output height in pixels, an integer from 1 to 10000 (templated).
    :param fit: ``cover``, ``contain``, ``fill``, ``inside`` or ``outside``, as sharp applies them
        (templated).
    :param format: ``jpeg``, ``jpg``, ``png``, ``webp``, ``avif``, ``tiff``, ``tif`` or ``gif`` (templated).
    :param quality: the encoder quality, 1 to 100 (templated).
    :param background: the padding colour for ``fit="contain"``, such as ``#ffffff`` (templated).
    :param compression_level: the PNG compression level, 0 to 9 (templated).
    :param name_template: the object name relative to ``destination`` with the fields ``stem``, ``ext``,
        ``filename``, ``width``, ``height`` and ``format``; ``/`` makes sub-folders (templated).
    :param overwrite: fetch every image again even when its object exists.
    :param on_missing: ``fail`` to fail the task when an image is not found (HTTP 404) after every
        image was tried, ``skip`` to record it as ``missing`` and go on.
    :param max_concurrency: the number of images fetched at once; the hook keeps as many connections.
    :param max_retries: retries after a failure while reading an image body; the connection's
        ``max_retries`` when ``None``.
    :param manifest_path: where to write the JSON-lines manifest (templated). ``None`` writes
        ``manifest.jsonl`` (``manifest-{map_index}.jsonl`` in a mapped task) under ``destination``.
    :param manifest_conn_id: the connection of the manifest's store; ``dest_conn_id`` when ``None``.
    :param write_manifest: write the manifest; with ``False`` reruns skip by existence only.
    """

    template_fields: Sequence[str] = (
        "dest_conn_id",
        "filenames_conn_id",
        "manifest_conn_id",
        "mircate_conn_id",
        "destination",
        "filenames",
        "filenames_path",
        "manifest_path",
        "name_template",
        *TRANSFORM_FIELDS,
    )
    ui_color = "#f4d9c6"

    def __init__(
        self,
        *,
        destination: str | ObjectStoragePath,
        filenames: list[str] | None = None,
        filenames_path: str | ObjectStoragePath | None = None,
        filenames_conn_id: str | None = None,
        dest_conn_id: str | None = None,
        mircate_conn_id: str = MircateHook.default_conn_name,
        width: int | str | None = None,
        height: int | str | None = None,
        fit: str | None = None,
        format: str | None = None,
        quality: int | str | None = None,
        background: str | None = None,
        compression_level: int | str | None = None,
        name_template: str = DEFAULT_NAME_TEMPLATE,
        overwrite: bool = False,
        on_missing: str = "fail",
        max_concurrency: int = 8,
        max_retries: int | None = None,
        manifest_path: str | ObjectStoragePath | None = None,
        manifest_conn_id: str | None = None,
        write_manifest: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (filenames is None) == (filenames_path is None):
            raise MircateConfigError(
                "Give exactly one of filenames (a list) or filenames_path (a text file)."
            )
        if on_missing not in ON_MISSING:
            raise MircateConfigError(f"on_missing={on_missing!r} is invalid: use one of {list(ON_MISSING)}.")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise MircateConfigError(
                f"max_concurrency={max_concurrency!r} is invalid: use an integer of at least 1."
            )
        if max_retries is not None and (
            isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0
        ):
            raise MircateConfigError(
                f"max_retries={max_retries!r} is invalid: use an integer of at least 0, or None."
            )
        self.destination = destination
        self.filenames = filenames
        self.filenames_path = filenames_path
        self.filenames_conn_id = filenames_conn_id
        self.dest_conn_id = dest_conn_id
        self.mircate_conn_id = mircate_conn_id
        self.width = width
        self.height = height
        self.fit = fit
        self.format = format
        self.quality = quality
        self.background = background
        self.compression_level = compression_level
        self.name_template = name_template
        self.overwrite = overwrite
        self.on_missing = on_missing
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.manifest_path = manifest_path
        self.manifest_conn_id = manifest_conn_id
        self.write_manifest = write_manifest

        # Values that hold no Jinja are checked now, so a typo fails at DAG parse time; the rest at execute.
        self._transforms(skip_templated=True)
        if not is_templated(name_template):
            validate_name_template(name_template)

    @cached_property
    def hook(self) -> MircateHook:
        """The hook shared by every fetch thread, with one pooled connection per thread."""
        return MircateHook(self.mircate_conn_id, pool_size=self.max_concurrency)

    def _transforms(self, *, skip_templated: bool = False) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in TRANSFORM_FIELDS}
        if skip_templated:
            values = {name: value for name, value in values.items() if not is_templated(value)}
        return validate_transforms(**values)

    def _manifest_location(
        self, destination: ObjectStoragePath, context: Context
    ) -> ObjectStoragePath | None:
        if not self.write_manifest:
            return None
        if self.manifest_path:
            return to_object_path(self.manifest_path, self.manifest_conn_id or self.dest_conn_id)
        ti = context.get("ti")
        map_index = getattr(ti, "map_index", -1)
        map_index = map_index if isinstance(map_index, int) else -1
        return destination / ("manifest.jsonl" if map_index < 0 else f"manifest-{map_index}.jsonl")

    @contextlib.contextmanager
    def _filenames(self) -> Iterator[tuple[Iterable[Any], int]]:
        """Yield the filenames and their count; a file is spooled locally once and read twice."""
        if self.filenames is not None:
            names = check_filename_list(self.filenames)
            yield names, len(names)
            return
        source = to_object_path(self.filenames_path, self.filenames_conn_id)  # type: ignore[arg-type]
        with local_copy(source) as local:
            with open(local, encoding="utf-8") as handle:
                total = sum(1 for _ in iter_filename_lines(handle))
            with open(local, encoding="utf-8") as handle:
                yield iter_filename_lines(handle), total

    def execute(self, context: Context) -> ImageFetchResult:
        transforms = self._transforms()
        template = validate_name_template(self.name_template)
        destination = to_object_path(self.destination, self.dest_conn_id)
        manifest = self._manifest_location(destination, context)

        # Build the settings, retry policy and session once here, before the threads share them.
        hook = self.hook
        policy = hook.retry_policy
        hook.get_conn()
        max_retries = policy.max_retries if self.max_retries is None else self.max_retries

        # An object store may cache listings from an earlier run in this process, and the existence
        # checks must see the store as it is now.
        destination.fs.invalidate_cache()
        previous = read_manifest(manifest) if manifest is not None and not self.overwrite else {}
        options = FetchOptions(
            destination=destination,
            transforms=transforms,
            name_template=template,
            overwrite=self.overwrite,
            max_retries=max_retries,
            reserved_uris=frozenset({uri_of(manifest)}) if manifest is not None else frozenset(),
        )
        fetcher = ImageFetcher(hook, options, previous)

        with self._filenames() as (names, total), ManifestWriter() as writer:
            self.log.info(
                "Fetching %d image(s) into %s with %d thread(s)",
                total,
                uri_of(destination),
                self.max_concurrency,
            )
            summary = run_fetch(fetcher, names, total, writer, self.max_concurrency)
            if manifest is not None:
                writer.commit(manifest)
                self.log.info("Wrote the manifest of %d image(s) to %s", writer.count, uri_of(manifest))

        result: ImageFetchResult = {
            "fetched": summary.counts["fetched"],
            "skipped": summary.counts["skipped"],
            "missing": summary.counts["missing"],
            "failed": summary.counts["failed"],
            "bytes": summary.bytes,
            "manifest_path": uri_of(manifest) if manifest is not None else None,
        }
        self._raise_on_failures(summary, result)
        return result

    def _raise_on_failures(self, summary: FetchSummary, result: ImageFetchResult) -> None:
        parts: list[str] = []
        failed = summary.counts["failed"]
        if failed:
            listed = "; ".join(f"{name!r}: {error}" for name, error in summary.failures)
            more = f"; and {failed - len(summary.failures)} more" if failed > MAX_LISTED_FAILURES else ""
            parts.append(f"{failed} image(s) failed: {listed}{more}.")
        missing = summary.counts["missing"]
        if missing and self.on_missing == "fail":
            listed = ", ".join(repr(name) for name in summary.missing)
            more = f" and {missing - len(summary.missing)} more" if missing > MAX_LISTED_FAILURES else ""
            parts.append(
                f"{missing} image(s) were not found (HTTP 404): {listed}{more}. "
                "Set on_missing='skip' to record missing images without failing."
            )
        if parts:
            where = (
                f" The manifest {result['manifest_path']} lists every image."
                if result["manifest_path"]
                else ""
            )
            raise MircateImageFetchError(" ".join(parts) + where, result)
