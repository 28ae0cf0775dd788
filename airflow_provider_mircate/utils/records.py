"""
Streaming readers for JSON lines, JSON arrays and CSV, and the product reader built on them.

Every reader yields ``(position, row)`` pairs and keeps about one row plus a 64 KiB read buffer in memory.
Positions are 1-based line numbers for JSON lines and CSV (the CSV header is line 1), 0-based array
indexes for JSON arrays and 0-based item indexes for in-memory input.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from airflow_provider_mircate.exceptions import MircateConfigError, MircateValidationError
from airflow_provider_mircate.utils.storage import local_copy, to_object_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_mircate.utils.attributes import AttributeCatalog

FORMATS = ("jsonl", "json", "csv")
SUFFIX_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
POSITION_NAMES = {"jsonl": "line", "csv": "line", "json": "index", "memory": "item"}
READ_CHUNK = 64 * 1024

Row = tuple[int, Any]


def detect_format(name: str, source_format: str | None = None) -> str:
    """
    Return ``jsonl``, ``json`` or ``csv``: ``source_format`` when given, else from the file suffix.

    :raises MircateConfigError: on an unknown format or suffix.
    """
    if source_format is not None:
        fmt = source_format.lower().lstrip(".")
        fmt = "jsonl" if fmt == "ndjson" else fmt
        if fmt not in FORMATS:
            raise MircateConfigError(
                f"source_format={source_format!r} is invalid: use one of {list(FORMATS)} (or 'ndjson')."
            )
        return fmt
    suffix = os.path.splitext(name.lower())[1]
    if suffix not in SUFFIX_FORMATS:
        raise MircateConfigError(
            f"Cannot tell the format of {name!r} from its suffix {suffix!r}. Rename it to .jsonl, .ndjson, "
            f".json or .csv, or pass source_format as one of {list(FORMATS)}."
        )
    return SUFFIX_FORMATS[suffix]


@dataclass(frozen=True)
class LocalSource:
    """A source file available on the local disk: the local ``path``, its ``fmt`` and the user's ``name``."""

    path: Path
    fmt: str
    name: str
    signature: tuple[int, int] = (0, 0)

    def check_unchanged(self) -> None:
        """
        Raise when the file was written to since it was opened, so that no unvalidated row is sent.

        Rows read before a call that passes came from the validated content: any write changes the
        size or the modification time. A spooled copy of a remote file never changes.
        """
        if _signature(self.path) != self.signature:
            raise MircateValidationError(
                f"The source file {self.name!r} changed while it was being validated and sent, so rows "
                "that were never validated could be sent. Nothing more was sent; rerun the task once the "
                "file is complete (a retry resumes after the batches already accepted)."
            )

    @property
    def position_name(self) -> str:
        """How positions in this file are named in messages: ``line`` or ``index``."""
        return POSITION_NAMES[self.fmt]


@contextlib.contextmanager
def open_source(
    source: str | os.PathLike[str] | ObjectStoragePath,
    *,
    conn_id: str | None = None,
    source_format: str | None = None,
) -> Iterator[LocalSource]:
    """
    Make ``source`` readable from the local disk for the duration of the block.

    A remote object (``s3://...``) is spooled to a temporary file, never held in memory, so it can be
    read twice (validate, then send) and is deleted when the block ends.

    :raises MircateConfigError: when the file does not exist or its format is unknown.
    """
    path = to_object_path(source, conn_id)
    fmt = detect_format(path.name, source_format)
    if not path.exists():
        raise MircateConfigError(f"The source file {str(path)!r} does not exist. Check the path and conn id.")
    with local_copy(path) as local:
        yield LocalSource(path=Path(local), fmt=fmt, name=str(path), signature=_signature(Path(local)))


def _signature(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def iter_memory(items: Mapping[str, Any] | Iterable[Any]) -> Iterator[Row]:
    """Yield ``(index, item)`` for one dict (index 0) or for each item of a list."""
    if isinstance(items, Mapping):
        yield 0, items
        return
    yield from enumerate(items)


def iter_rows(path: str | os.PathLike[str], fmt: str, *, name: str | None = None) -> Iterator[Row]:
    """
    Yield ``(position, row)`` for each row of a local file.

    ``jsonl`` rows and ``json`` array items are dicts, and anything else is an error. ``csv`` rows are
    dicts from column name to cell text, with missing trailing cells as ``""``. Blank lines are skipped.

    :param name: the name used in error messages, such as the URI the file was copied from.
    :raises MircateValidationError: on an empty file, malformed JSON, a row that is not an object, or
        bytes that are not UTF-8. For CSV also on a row with more cells than the header, and on a quoted
        field that is never closed or is followed by text.
    """
    label = name or str(path)
    if fmt == "jsonl":
        return _iter_jsonl(Path(path), label)
    if fmt == "json":
        return _iter_json_array(Path(path), label)
    if fmt == "csv":
        return _iter_csv(Path(path), label)
    raise MircateConfigError(f"Unknown format {fmt!r}: use one of {list(FORMATS)}.")


def csv_header(path: str | os.PathLike[str], *, name: str | None = None) -> list[str]:
    """Return the column names of a CSV file (its first record)."""
    label = name or str(path)
    with open(path, "rb") as handle:
        for _, header in _csv_records(handle, Path(path), label):
            if any(cell.strip() for cell in header):
                return [cell.strip() for cell in header]
    raise _empty(label)


def _empty(name: str) -> MircateValidationError:
    return MircateValidationError(f"The source file {name!r} is empty. Check that the export wrote it.")


def _not_utf8(name: str, where: str, offset: int, exc: UnicodeDecodeError) -> MircateValidationError:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return MircateValidationError(
        f"The source file {name!r} is not valid UTF-8: {where}byte offset {offset} (byte 0x{byte}). "
        "Save it as UTF-8, for example with 'iconv -f latin1 -t utf-8 IN > OUT'."
    )


def _decoded_lines(handle: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, text)``; a UTF-8 byte order mark on line 1 is dropped."""
    offset = 0
    for number, raw in enumerate(handle, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _not_utf8(name, f"line {number}, ", offset + exc.start, exc) from None
        if number == 1 and text.startswith("\ufeff"):
            text = text[1:]
        offset += len(raw)
        yield number, text


def _not_an_object(name: str, where: str, value: Any) -> MircateValidationError:
    preview = json.dumps(value)[:60]
    return MircateValidationError(
        f"{where} of {name!r} is a JSON {type(value).__name__} ({preview}), not an object. Write one record "
        'object per item, such as {"dataType": "PRODUCT", "data": {"sku": "A1", ...}}.'
    )


def _iter_jsonl(path: Path, name: str) -> Iterator[Row]:
    seen_text = False
    with open(path, "rb") as handle:
        for number, text in _decoded_lines(handle, name):
            if not text.strip():
                continue
            seen_text = True
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise MircateValidationError(
                    f"Line {number} of {name!r} is not valid JSON ({exc.msg} at column {exc.colno}). "
                    "Each line must hold one complete JSON object; fix or remove that line."
                ) from None
            if not isinstance(value, dict):
                raise _not_an_object(name, f"Line {number}", value)
            yield number, value
    if not seen_text:
        raise _empty(name)


def _csv_records(handle: BinaryIO, path: Path, name: str) -> Iterator[tuple[int, list[str]]]:
    """
    Yield ``(start line, cells)`` for each CSV record, blank lines included as empty records.

    The reader is strict, so an unterminated quoted field or text after a closing quote raises instead of
    being read leniently. Without ``strict``, a quote that is never closed makes every later line part of
    one cell.

    :raises MircateValidationError: naming the line where the malformed record or quoted field starts.
    """
    reader = csv.reader((line for _, line in _decoded_lines(handle, name)), strict=True)
    last_line = 0
    while True:
        start = last_line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _malformed_csv(path, name, start, reader.line_num, exc) from None
        last_line = reader.line_num
        yield start, cells


def _malformed_csv(path: Path, name: str, start: int, line: int, exc: csv.Error) -> MircateValidationError:
    # The csv module (CPython 3.11) reports an unterminated quoted field as "unexpected end of data".
    if "unexpected end of data" in str(exc):
        opened = _unclosed_quote_line(path, start) or start
        return MircateValidationError(
            f"Line {opened} of {name!r} opens a quoted field that is never closed, so the file ends inside "
            f"it. Close the quote on line {opened}, and write a quote inside a quoted field as two quotes "
            '("").'
        )
    spans = (
        f" The record starts on line {start}, so a quoted field there may be missing its closing quote."
        if line > start
        else ""
    )
    return MircateValidationError(
        f"Line {line} of {name!r} is not valid CSV ({exc}).{spans} Quote cells that contain commas, quotes "
        'or line breaks, and write a quote inside a quoted field as two quotes ("").'
    )


def _unclosed_quote_line(path: Path, start: int) -> int | None:
    """Return the line of the last quote that opens a field and is never closed, reading from ``start``."""
    opened: int | None = None
    in_quotes = False
    at_field_start = True
    # Lines are split on b"\n" only, as in _decoded_lines, so the numbers match the reader's.
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number < start:
                continue
            text = raw.decode("utf-8", errors="replace")
            index = 0
            while index < len(text):
                char = text[index]
                if in_quotes:
                    if char == '"' and text[index + 1 : index + 2] == '"':
                        index += 1
                    elif char == '"':
                        in_quotes, opened = False, None
                elif char == '"' and at_field_start:
                    in_quotes, opened = True, number
                at_field_start = not in_quotes and char in ",\r\n"
                index += 1
    return opened


def _iter_csv(path: Path, name: str) -> Iterator[Row]:
    with open(path, "rb") as handle:
        header: list[str] | None = None
        for start, cells in _csv_records(handle, path, name):
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip() for cell in cells]
                continue
            if len(cells) > len(header):
                raise MircateValidationError(
                    f"Line {start} of {name!r} has {len(cells)} cells but the header has {len(header)} "
                    "columns. Quote cells that contain commas, or add the missing header columns."
                )
            cells = cells + [""] * (len(header) - len(cells))
            yield start, dict(zip(header, cells, strict=True))
    if header is None:
        raise _empty(name)


def _iter_json_array(path: Path, name: str) -> Iterator[Row]:
    with open(path, "rb") as handle:
        yield from _JsonArrayReader(handle, name)


class _JsonArrayReader:
    """
    Parse a JSON array item by item with ``json.JSONDecoder.raw_decode`` over a sliding text buffer.

    Memory stays at about one item plus one read chunk. A top-level object is read as one record.
    """

    def __init__(self, handle: BinaryIO, name: str) -> None:
        self.handle = handle
        self.name = name
        self.decoder = json.JSONDecoder()
        self.utf8 = codecs.getincrementaldecoder("utf-8")("strict")
        self.buffer = ""
        self.pos = 0
        self.dropped = 0  # characters dropped from the front of the buffer
        self.bytes_read = 0
        self.eof = False

    def _fill(self) -> bool:
        """Read more text into the buffer; return False at the end of the file."""
        if self.eof:
            return False
        size = max(READ_CHUNK, len(self.buffer) - self.pos)
        data = self.handle.read(size)
        pending = len(self.utf8.getstate()[0])
        try:
            text = self.utf8.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            raise _not_utf8(self.name, "", self.bytes_read - pending + exc.start, exc) from None
        if self.bytes_read == 0 and text.startswith("\ufeff"):
            text = text[1:]
        self.bytes_read += len(data)
        self.eof = not data
        if self.pos > READ_CHUNK:
            self.buffer, self.dropped = self.buffer[self.pos :], self.dropped + self.pos
            self.pos = 0
        self.buffer += text
        return bool(data)

    def _peek(self) -> str:
        """Skip whitespace and return the next character, or ``""`` at the end of the file."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill():
                return ""

    def _error(self, what: str) -> MircateValidationError:
        return MircateValidationError(
            f"The source file {self.name!r} is not a valid JSON array: {what} at character "
            f"{self.dropped + self.pos}. Fix the file, or write JSON lines (.jsonl) instead."
        )

    def _decode(self, index: int) -> Any:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                self.pos = exc.pos
                raise self._error(f"item {index} is malformed ({exc.msg})") from None
            # A number at the end of the buffer may continue in the next chunk.
            if end == len(self.buffer) and self._fill():
                continue
            self.pos = end
            return value

    def __iter__(self) -> Iterator[Row]:
        first = self._peek()
        if first == "":
            raise _empty(self.name)
        if first == "{":
            value = self._decode(0)
            if self._peek() != "":
                raise self._error("unexpected data after the object")
            yield 0, value
            return
        if first != "[":
            raise self._error(f"expected '[' but found {first!r}")
        self.pos += 1
        if self._peek() == "]":
            self.pos += 1
            if self._peek() != "":
                raise self._error("unexpected data after the array")
            return
        yield from self._items()

    def _items(self) -> Iterator[Row]:
        index = 0
        while True:
            value = self._decode(index)
            if not isinstance(value, dict):
                raise _not_an_object(self.name, f"Item {index}", value)
            yield index, value
            index += 1
            separator = self._peek()
            self.pos += 1
            if separator == "]":
                if self._peek() != "":
                    raise self._error("unexpected data after the array")
                return
            if separator != ",":
                self.pos -= 1
                raise self._error(f"expected ',' or ']' after item {index - 1}")
            if self._peek() in ("]", ""):
                raise self._error(f"a trailing comma or a missing item after item {index - 1}")


def iter_product_records(
    source: LocalSource,
    *,
    attributes: AttributeCatalog | Callable[[], AttributeCatalog | None] | None = None,
) -> Iterator[Row]:
    """
    Yield ``(position, record)`` for each product of a source file, in the upsertProduct body shape.

    JSON rows are yielded as they are; CSV rows are mapped by the CSV grammar of
    :mod:`airflow_provider_mircate.utils.product_csv`.

    :param attributes: the attribute catalog used to convert typed CSV cells, or a function returning
        it, called once and only when the CSV has attribute columns.
    """
    if source.fmt == "csv":
        from airflow_provider_mircate.utils.product_csv import iter_csv_products

        return iter_csv_products(source.path, name=source.name, attributes=attributes)
    return iter_rows(source.path, source.fmt, name=source.name)
