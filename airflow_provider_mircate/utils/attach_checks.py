"""Check image files for the attach calls before anything is sent: keys, extension, format and size."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_mircate.exceptions import MircateConfigError, MircateValidationError
from airflow_provider_mircate.utils.image_params import (
    ATTACH_EXTENSIONS,
    MEGABYTE,
    same_format,
    sniff_image_format,
)
from airflow_provider_mircate.utils.storage import to_object_path

IMAGE_ATTRIBUTE_TYPES = ("IMAGE", "IMAGE_LIST")


@dataclass(frozen=True)
class AttachSource:
    """One image file to attach, after the local checks: its path, extension, size and target fields."""

    index: int
    path: ObjectStoragePath
    extension: str
    size: int
    fields: dict[str, str]


def _problem(index: int, field: str, message: str) -> dict[str, Any]:
    return {"index": index, "field": field, "message": message}


def _check_item(
    index: int, item: Any, keys: Sequence[str], max_bytes: int, conn_id: str | None
) -> tuple[AttachSource | None, list[dict[str, Any]]]:
    if not isinstance(item, Mapping):
        return None, [_problem(index, "item", f"expected a dict with keys {['path', *keys]}, got {item!r}")]
    problems = [
        _problem(index, key, f"{key} is missing or empty")
        for key in ("path", *keys)
        if not isinstance(item.get(key), str) or not item[key].strip()
    ]
    unknown = sorted(set(item) - {"path", *keys})
    if unknown:
        problems.append(_problem(index, "item", f"unknown key(s) {unknown}; the keys are {['path', *keys]}"))
    if problems:
        return None, problems

    path = to_object_path(item["path"], conn_id)
    extension = path.suffix.lstrip(".").lower()
    if extension not in ATTACH_EXTENSIONS:
        return None, [
            _problem(
                index,
                "path",
                f"{item['path']!r} has extension {extension!r}; use one of {list(ATTACH_EXTENSIONS)}",
            )
        ]
    try:
        size = path.fs.info(path.path)["size"]
    except FileNotFoundError:
        return None, [_problem(index, "path", f"{item['path']!r} does not exist")]
    if size > max_bytes:
        return None, [
            _problem(
                index,
                "path",
                f"{item['path']!r} is {size} bytes; "
                f"the limit is {max_bytes} bytes ({max_bytes / MEGABYTE:g} MB)",
            )
        ]
    with path.open("rb") as handle:
        sniffed = sniff_image_format(handle.read(12))
    if not same_format(extension, sniffed):
        return None, [
            _problem(
                index,
                "path",
                f"{item['path']!r} has extension {extension!r} "
                f"but its bytes are {sniffed or 'not a known image format'}",
            )
        ]
    fields = {key: item[key].strip() for key in keys}
    return AttachSource(index=index, path=path, extension=extension, size=size, fields=fields), []


def check_attach_sources(
    items: Any, *, keys: Sequence[str], max_bytes: int, conn_id: str | None
) -> list[AttachSource]:
    """
    Check every item's keys, file extension, image format and size, reading only each file's first bytes.

    :param items: a list of dicts with ``path`` and each of ``keys``.
    :param keys: the other required keys (``product_id`` and ``attribute_code``, or ``category_code``).
    :param max_bytes: the largest file accepted, in bytes.
    :param conn_id: the connection of the store that holds the files.
    :raises MircateValidationError: listing every problem; nothing has been sent.
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Sequence):
        raise MircateConfigError(
            f"images must be a list of dicts with keys {['path', *keys]}, got {type(items).__name__}."
        )
    sources: list[AttachSource] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        source, found = _check_item(index, item, keys, max_bytes, conn_id)
        problems.extend(found)
        if source is not None:
            sources.append(source)
    if problems:
        raise_problems(problems, len(items))
    return sources


def check_attribute_constraints(
    sources: Sequence[AttachSource], attributes: Sequence[Mapping[str, Any]]
) -> None:
    """
    Check each image against its attribute in ``productSettings``.

    The checks are the attribute type, ``allowedExtensions`` and ``maxFileSizeInMB``.

    Constraints the settings do not give are not checked here; the fixed limits were checked before.

    :raises MircateValidationError: listing every problem; nothing has been sent.
    """
    by_code = {a.get("code"): a for a in attributes if isinstance(a, Mapping)}
    problems: list[dict[str, Any]] = []
    for source in sources:
        code = source.fields["attribute_code"]
        attribute = by_code.get(code)
        if attribute is None:
            problems.append(
                _problem(source.index, "attribute_code", f"attribute {code!r} is not in productSettings")
            )
            continue
        kind = attribute.get("type")
        if kind is not None and kind not in IMAGE_ATTRIBUTE_TYPES:
            problems.append(
                _problem(
                    source.index,
                    "attribute_code",
                    f"attribute {code!r} has type {kind!r}, not IMAGE or IMAGE_LIST",
                )
            )
        allowed = attribute.get("allowedExtensions")
        if (
            isinstance(allowed, list)
            and allowed
            and source.extension not in {str(e).lower() for e in allowed}
        ):
            problems.append(
                _problem(
                    source.index,
                    "path",
                    f"extension {source.extension!r} is not allowed by attribute {code!r} ({allowed})",
                )
            )
        limit = attribute.get("maxFileSizeInMB")
        if isinstance(limit, (int, float)) and not isinstance(limit, bool) and source.size > limit * MEGABYTE:
            problems.append(
                _problem(
                    source.index,
                    "path",
                    f"{source.size} bytes exceeds maxFileSizeInMB={limit:g} of attribute {code!r}",
                )
            )
    if problems:
        raise_problems(problems, len(sources))


def raise_problems(problems: list[dict[str, Any]], total: int) -> None:
    """Raise one ``MircateValidationError`` that lists the first problems and carries all of them."""
    shown = "; ".join(f"item {p['index']}: {p['message']}" for p in problems[:20])
    more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
    raise MircateValidationError(
        f"{len(problems)} problem(s) in {total} image(s), so nothing was sent: {shown}{more}.",
        errors=problems,
    )


def read_base64(path: ObjectStoragePath) -> str:
    """Read a whole image file and return it base64-encoded; the size was checked before."""
    with path.open("rb") as handle:
        return base64.b64encode(handle.read()).decode("ascii")
