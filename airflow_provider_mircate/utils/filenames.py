"""
Image filenames from untrusted sources: validation, object names under a destination, and lists.

A filename that the API or a file returns is used as part of an object path, so every name is
checked before it is joined to a destination. A name is rejected (never rewritten) when it is empty,
longer than 255 bytes in UTF-8, contains ``/`` or ``\\``, is ``.`` or ``..``, or contains a control,
format or line-separator character (NUL, newline, bidirectional overrides and the like).
"""

from __future__ import annotations

import os
import posixpath
import string
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.utils.storage import local_copy, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

# The maximum length of one path component on most file systems and object-store tools, in UTF-8 bytes.
MAX_NAME_BYTES = 255

# Unicode categories rejected in names: control (Cc, NUL and newlines among them), format (Cf, such as
# bidirectional overrides), surrogates (Cs) and the line and paragraph separators (Zl, Zp).
REJECTED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

NAME_TEMPLATE_FIELDS = ("stem", "ext", "filename", "width", "height", "format")
DEFAULT_NAME_TEMPLATE = "{stem}.{ext}"


class UnsafeFilenameError(ValueError):
    """A filename or a rendered object name could escape the destination or is not a valid name."""


def check_name_component(name: object, *, label: str = "filename") -> str:
    """
    Return ``name`` when it is safe as one component of an object path.

    :raises UnsafeFilenameError: naming the rule the value breaks.
    """
    if not isinstance(name, str):
        raise UnsafeFilenameError(f"{label} {name!r} is not a string")
    if not name:
        raise UnsafeFilenameError(f"{label} is empty")
    if "/" in name or "\\" in name:
        raise UnsafeFilenameError(f"{label} {name!r} contains a path separator")
    if name in (".", ".."):
        raise UnsafeFilenameError(f"{label} {name!r} is a relative path reference")
    if ":" in name:
        # fsspec reads "proto://" and "proto::" as a protocol or a chain of file systems, so a colon could
        # send the object to another store; Mircate image filenames never contain one.
        raise UnsafeFilenameError(f"{label} {name!r} contains ':', which object storage paths reserve")
    for char in name:
        if unicodedata.category(char) in REJECTED_CATEGORIES:
            raise UnsafeFilenameError(f"{label} {name!r} contains the control character {char!r}")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise UnsafeFilenameError(
            f"{label} {name[:40]!r}... is {size} bytes long in UTF-8; the limit is {MAX_NAME_BYTES}"
        )
    return name


def check_relative_path(relative: str) -> str:
    """
    Return ``relative`` when each of its ``/``-separated components is a safe name.

    A rendered name template may contain ``/`` to place objects in sub-folders, but every component must
    pass :func:`check_name_component`, so ``..``, empty components and absolute paths are rejected.
    """
    for component in relative.split("/"):
        check_name_component(component, label="object name component")
    return relative


def split_filename(filename: str) -> tuple[str, str]:
    """Split ``name.ext`` into ``(name, ext)``; ``ext`` is ``""`` when there is none or only a leading dot."""
    stem, dot, ext = filename.rpartition(".")
    if not dot or not stem:
        return filename, ""
    return stem, ext


def validate_name_template(template: str) -> str:
    """
    Check that a name template uses only the known fields and renders a safe relative path.

    :raises MircateConfigError: naming the unknown field or the unsafe result.
    """
    if not isinstance(template, str) or not template:
        raise MircateConfigError(
            f"name_template={template!r} is invalid: use a string such as '{{stem}}.{{ext}}'."
        )
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is not None and field not in NAME_TEMPLATE_FIELDS:
            raise MircateConfigError(
                f"name_template={template!r} uses the unknown field {{{field}}}; "
                f"the fields are {list(NAME_TEMPLATE_FIELDS)}."
            )
        if spec or conversion:
            raise MircateConfigError(
                f"name_template={template!r} uses a format spec or conversion; "
                "use plain fields such as {stem}."
            )
    sample = {"stem": "x", "ext": "jpg", "filename": "x.jpg", "width": "1", "height": "1", "format": "jpg"}
    try:
        check_relative_path(template.format(**sample))
    except UnsafeFilenameError as exc:
        raise MircateConfigError(
            f"name_template={template!r} renders an unsafe object name: {str(exc).rstrip('.')}."
        ) from exc
    return template


def render_object_name(
    template: str,
    filename: str,
    *,
    ext: str,
    width: int | None = None,
    height: int | None = None,
    image_format: str | None = None,
) -> str:
    """
    Render the object name of one image, relative to the destination.

    ``width``, ``height`` and ``format`` render as ``""`` when not requested. The filename is checked
    first and the rendered result again, so no field value can add a path component.

    :raises UnsafeFilenameError: when the filename or the result is unsafe.
    """
    check_name_component(filename)
    stem, _ = split_filename(filename)
    fields = {
        "stem": stem,
        "ext": ext,
        "filename": filename,
        "width": "" if width is None else str(width),
        "height": "" if height is None else str(height),
        "format": image_format or "",
    }
    return check_relative_path(template.format(**fields))


def object_path_under(destination: ObjectStoragePath, relative: str) -> ObjectStoragePath:
    """
    Join a checked relative name to ``destination`` and confirm the result lies under it.

    :raises UnsafeFilenameError: when the joined path normalises to somewhere outside ``destination``.
    """
    check_relative_path(relative)
    target = destination.joinpath(*relative.split("/"))
    base = posixpath.normpath(destination.path).rstrip("/")
    joined = posixpath.normpath(target.path)
    if joined != posixpath.normpath(f"{base}/{relative}") or not joined.startswith(base + "/"):
        raise UnsafeFilenameError(f"object name {relative!r} resolves outside the destination {base!r}")
    return target


def iter_filename_lines(lines: Iterable[str]) -> Iterator[str]:
    """Yield the filenames of a text file, one a line, with whitespace stripped and blank lines skipped."""
    for line in lines:
        name = line.strip()
        if name:
            yield name


def iter_filenames_file(path: ObjectStoragePath) -> Iterator[str]:
    """Yield the filenames in a text file, one a line; a remote file is first copied to local disk."""
    with local_copy(path) as local, open(local, encoding="utf-8") as handle:
        yield from iter_filename_lines(handle)


def check_filename_list(value: Any, *, name: str = "filenames") -> list[Any]:
    """
    Return ``value`` as a list of filenames; each entry is checked later, image by image.

    :raises MircateConfigError: when ``value`` is a string or not a sequence.
    """
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise MircateConfigError(
            f"{name} must be a list of image filenames, got {type(value).__name__}. "
            "To read a file with one filename a line, pass filenames_path instead."
        )
    return list(value)


def chunk_filenames(
    path_or_list: str | os.PathLike[str] | ObjectStoragePath | Sequence[str],
    size: int,
    *,
    conn_id: str | None = None,
) -> list[list[str]]:
    """
    Split filenames into lists of at most ``size``, for ``.expand(filenames=...)``.

    :param path_or_list: a list of filenames, or the path or URI of a text file with one filename a line.
    :param size: the maximum number of filenames in one list.
    :param conn_id: the connection of the store that holds the file (an ``aws`` connection for ``s3://``).
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise MircateConfigError(f"size={size!r} is invalid: use an integer of at least 1.")
    if isinstance(path_or_list, (str, os.PathLike)) or hasattr(path_or_list, "protocol"):
        source = to_object_path(path_or_list, conn_id)  # type: ignore[arg-type]
        names: Iterable[str] = iter_filenames_file(source)
    else:
        names = check_filename_list(path_or_list, name="path_or_list")
    chunks: list[list[str]] = []
    for name in names:
        if not chunks or len(chunks[-1]) >= size:
            chunks.append([])
        chunks[-1].append(name)
    return chunks
