"""
Export every product past the search engine's result window by splitting the query into small slices.

``getProducts`` cannot page past ``pageFrom + pageSize = 10000``. The export therefore splits the query
by half-open ``updatedAt`` ranges ``[lo, hi)`` until each range contains no more than one window, and splits
a single millisecond that still contains more by family and then by sku prefix.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.exceptions import MircateResultWindowError, MircateValidationError
from airflow_provider_mircate.hooks.mircate import RESULT_WINDOW, unwrap_product

if TYPE_CHECKING:
    from airflow_provider_mircate.hooks.mircate import MircateHook

SORTS = {"updatedAt": "asc", "id": "asc"}
MAX_SKU_LENGTH = 255
_ISO = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?$")


def to_epoch_ms(value: datetime | str | int | float) -> int:
    """
    Return epoch milliseconds (UTC, rounded down) for a datetime, an ISO-8601 string or epoch milliseconds.

    A datetime or string without a time zone is read as UTC.
    """
    if isinstance(value, bool):
        raise MircateValidationError(f"Invalid timestamp {value!r}: expected a datetime or ISO-8601 string.")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        value = _parse_iso(value)
    if not isinstance(value, datetime):
        raise MircateValidationError(f"Invalid timestamp {value!r}: expected a datetime or ISO-8601 string.")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + (delta.microseconds // 1000)


def format_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds as ISO-8601 UTC with milliseconds and ``Z``: ``2024-05-01T12:00:00.000Z``."""
    moment = datetime.fromtimestamp(epoch_ms // 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def _parse_iso(text: str) -> datetime:
    match = _ISO.match(text.strip())
    if not match:
        raise MircateValidationError(
            f"Invalid timestamp {text!r}: expected ISO-8601 such as '2024-05-01T12:00:00.000Z'."
        )
    day, clock, fraction, zone = match.groups()
    clock = clock or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    micro = (fraction or "0")[:6].ljust(6, "0")
    if zone in (None, "Z"):
        offset = "+00:00"
    elif ":" in zone:
        offset = zone
    else:
        offset = f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
    except ValueError as exc:
        raise MircateValidationError(f"Invalid timestamp {text!r}: {str(exc).rstrip('.')}.") from exc


@dataclass(frozen=True)
class _Slice:
    """One query of the export: ``updatedAt`` in ``[lo, hi)`` (epoch ms), narrowed by family or sku prefix."""

    lo: int | None
    hi: int | None
    family: str | None = None
    prefix: str | None = None
    sku: str | None = None

    def describe(self) -> str:
        lo = "-inf" if self.lo is None else format_ms(self.lo)
        hi = "+inf" if self.hi is None else format_ms(self.hi)
        text = f"updatedAt [{lo}, {hi})"
        if self.family is not None:
            text += f" family {self.family!r}"
        if self.prefix is not None:
            text += f" sku prefix {self.prefix!r}"
        if self.sku is not None:
            text += f" sku {self.sku!r}"
        return text


class SlicedProductExport:
    """
    The state of one sliced export: the skus already yielded and what is known about the search.

    Use :func:`iter_products_sliced`; this class only keeps the steps apart.
    """

    def __init__(
        self,
        hook: MircateHook,
        *,
        filters: Mapping[str, Any] | None,
        page_size: int,
        result_window: int,
    ) -> None:
        if page_size < 1 or result_window < 1:
            raise MircateValidationError(
                f"page_size={page_size!r} and result_window={result_window!r} must both be at least 1."
            )
        self.filters = dict(filters or {})
        if "updatedAt" in self.filters:
            raise MircateValidationError(
                "filters must not contain 'updatedAt': pass updated_since and updated_until instead, "
                "because the export splits the query by updatedAt ranges."
            )
        self.hook = hook
        self.window = result_window
        self.page_size = min(page_size, result_window)
        # Paging with one page size reaches only whole pages inside the window.
        self.reachable = (result_window // self.page_size) * self.page_size
        self.seen: set[str] = set()
        self.requests = 0
        self._case_insensitive: bool | None = None

    # -- the plan ---------------------------------------------------------------------------------

    def run(self, since: int | None, until: int | None) -> Iterator[dict[str, Any]]:
        whole = _Slice(since, until)
        total = self.count(whole)
        if total == 0:
            return
        if total <= self.reachable:
            yield from self.fetch(whole)
            return
        lo = since if since is not None else self._edge_ms("asc")
        if until is not None:
            yield from self.split_range(lo, until)
            return
        # Without an upper bound the export ends at the newest product seen now, then reads the products
        # updated since then (the tail) until the tail fits one window.
        while True:
            hi = self._edge_ms("desc") + 1
            yield from self.split_range(lo, hi)
            lo = hi
            tail = _Slice(lo, None)
            if self.count(tail) <= self.reachable:
                yield from self.fetch(tail)
                return

    def split_range(self, lo: int, hi: int) -> Iterator[dict[str, Any]]:
        """Bisect ``[lo, hi)`` until each part fits the window, fetching each part that does."""
        if lo >= hi:
            return
        piece = _Slice(lo, hi)
        total = self.count(piece)
        if total == 0:
            return
        if total <= self.reachable:
            yield from self.fetch(piece)
        elif hi - lo > 1:
            middle = lo + (hi - lo) // 2
            yield from self.split_range(lo, middle)
            yield from self.split_range(middle, hi)
        else:
            self.hook.log.info(
                "%d products share updatedAt %s, more than the window of %d; splitting by family",
                total,
                format_ms(lo),
                self.reachable,
            )
            yield from self.split_instant(piece, total)

    def split_instant(self, piece: _Slice, total: int) -> Iterator[dict[str, Any]]:
        """Split one millisecond by family, then split each family that is still too large by sku prefix."""
        if "family" in self.filters or "sku" in self.filters:
            yield from self.split_prefix(piece)
            return
        families = [
            str(f["code"]) for f in self.hook.get_product_settings().get("families") or [] if "code" in f
        ]
        in_families = 0
        for family in families:
            part = replace(piece, family=family)
            count = self.count(part)
            in_families += count
            if count == 0:
                continue
            if count <= self.reachable:
                yield from self.fetch(part)
            else:
                yield from self.split_prefix(part)
        if in_families < total:
            # NOTE: getProducts has no "family not in" filter, so products outside the listed families
            # (or without one) are reached by splitting the whole millisecond by sku prefix. That reads
            # the family products of this millisecond a second time; they are not yielded twice.
            self.hook.log.info(
                "%d of %d products at %s belong to no listed family; splitting all by sku prefix",
                total - in_families,
                total,
                format_ms(piece.lo or 0),
            )
            yield from self.split_prefix(piece)

    def split_prefix(self, piece: _Slice) -> Iterator[dict[str, Any]]:
        """Split a slice by sku prefix (``searchText`` ``PREFIX*``), one character deeper at each level."""
        parent = piece.prefix or ""
        if len(parent) >= MAX_SKU_LENGTH:
            raise MircateResultWindowError(
                f"Cannot split {piece.describe()} below the result window of {self.window}: every "
                f"{MAX_SKU_LENGTH}-character sku prefix still matches more products."
            )
        for character in self._alphabet(piece):
            part = replace(piece, prefix=parent + character)
            count = self.count(part)
            if count == 0:
                continue
            if count <= self.reachable:
                yield from self.fetch(part)
                continue
            # ``PREFIX*`` also matches the sku equal to PREFIX, which no longer prefix matches.
            yield from self.fetch(replace(piece, prefix=None, sku=part.prefix))
            yield from self.split_prefix(part)

    # -- queries ----------------------------------------------------------------------------------

    def count(self, piece: _Slice) -> int:
        """Return ``totalProducts`` for a slice, from a query of one record."""
        page = self._request(piece, page_from=self._page_from(0, 1), page_size=1)
        total = page.get("totalProducts")
        if not isinstance(total, int):
            raise MircateValidationError(
                f"getProducts returned no integer totalProducts for {piece.describe()}: {total!r}."
            )
        return total

    def fetch(self, piece: _Slice) -> Iterator[dict[str, Any]]:
        """
        Yield the not yet seen products of a slice that fits the window.

        With offset paging each page starts at the ``updatedAt`` of the last record read (a keyset), so a
        product that is updated and leaves the slice during the read does not shift later records past
        a page boundary. With page-number paging the pages are plain offsets.
        """
        cursor = piece.lo
        skip = 0
        keyset = self.hook.settings.paging == "offset"
        while True:
            # Offsets may end anywhere below the window, but page numbers need one page size throughout.
            size = min(self.page_size, self.window - skip) if keyset else self.page_size
            if size < 1 or skip + size > self.window:
                return
            page = self._request(
                replace(piece, lo=cursor), page_from=self._page_from(skip, size), page_size=size
            )
            items = [unwrap_product(item) for item in page.get("products") or []]
            for record in items:
                moment = updated_ms(record)
                if piece.hi is not None and moment is not None and moment >= piece.hi:
                    # Sorted by updatedAt: every later record also lies past the slice.
                    return
                key = product_key(record)
                if key is None or key in self.seen or not self._in_prefix(piece, key):
                    continue
                self.seen.add(key)
                yield record
            if len(items) < size:
                return
            last = updated_ms(items[-1])
            if keyset and last is not None:
                run = sum(1 for record in items if updated_ms(record) == last)
                skip = skip + run if last == cursor else run
                cursor = last
            else:
                skip += len(items)

    def _request(self, piece: _Slice, *, page_from: int, page_size: int) -> dict[str, Any]:
        filters = dict(self.filters)
        bounds: dict[str, str] = {}
        if piece.lo is not None:
            bounds["gte"] = format_ms(piece.lo)
        if piece.hi is not None:
            # lte is inclusive: records at exactly hi come back and are dropped by fetch().
            bounds["lte"] = format_ms(piece.hi)
        if bounds:
            filters["updatedAt"] = bounds
        if piece.family is not None:
            filters["family"] = piece.family
        if piece.sku is not None:
            filters["sku"] = piece.sku
        search = None if piece.prefix is None else piece.prefix + "*"
        self.requests += 1
        return self.hook.get_products_page(
            page_from=page_from, page_size=page_size, filters=filters, sorts=SORTS, search_text=search
        )

    def _page_from(self, offset: int, size: int) -> int:
        if self.hook.settings.paging == "offset":
            return offset
        return offset // size + 1

    def _edge_ms(self, direction: str) -> int:
        """Return the oldest (``asc``) or newest (``desc``) ``updatedAt`` among the filtered products."""
        filters = dict(self.filters)
        page = self.hook.get_products_page(
            page_from=self._page_from(0, 1), page_size=1, filters=filters, sorts={"updatedAt": direction}
        )
        self.requests += 1
        items = page.get("products") or []
        moment = updated_ms(unwrap_product(items[0])) if items else None
        if moment is None:
            raise MircateValidationError(
                "getProducts returned no product with a readable updatedAt, so the export cannot be split "
                "by updatedAt ranges. Narrow the filters below the result window instead."
            )
        return moment

    # -- sku prefixes -----------------------------------------------------------------------------

    def _alphabet(self, piece: _Slice) -> str:
        """Return the characters of the next prefix level: ``[A-Za-z0-9_]``, one case if search ignores case."""
        if self._case_insensitive is None:
            self._case_insensitive = self._detect_case_insensitive(piece)
        if self._case_insensitive:
            return string.digits + string.ascii_lowercase + "_"
        return string.digits + string.ascii_uppercase + string.ascii_lowercase + "_"

    def _detect_case_insensitive(self, piece: _Slice) -> bool:
        """Tell whether ``searchText`` ignores case: search one known sku with its letters' case swapped."""
        page = self._request(replace(piece, prefix=None), page_from=self._page_from(0, 1), page_size=1)
        items = [unwrap_product(item) for item in page.get("products") or []]
        key = product_key(items[0]) if items else None
        if key is None or key.swapcase() == key:
            return False
        swapped = self._request(
            replace(piece, prefix=key.swapcase(), sku=key), page_from=self._page_from(0, 1), page_size=1
        )
        return bool(swapped.get("totalProducts"))

    def _in_prefix(self, piece: _Slice, key: str) -> bool:
        if piece.prefix is None:
            return True
        if self._case_insensitive:
            return key.lower().startswith(piece.prefix.lower())
        return key.startswith(piece.prefix)


def updated_ms(record: Mapping[str, Any]) -> int | None:
    """Return a record's ``updatedAt`` as epoch milliseconds, or ``None`` when it is missing or unreadable."""
    value = record.get("updatedAt")
    if value is None and isinstance(record.get("data"), Mapping):
        value = record["data"].get("updatedAt")
    if value is None:
        return None
    try:
        return to_epoch_ms(value)
    except (MircateValidationError, OverflowError, ValueError):
        return None


def product_key(record: Mapping[str, Any]) -> str | None:
    """Return the key an upsert uses: the sku, or the code of a product model."""
    data = record.get("data")
    if isinstance(data, Mapping):
        for name in ("sku", "code"):
            if isinstance(data.get(name), str) and data[name]:
                return str(data[name])
    value = record.get("id")
    return str(value) if value else None


def iter_products_sliced(
    hook: MircateHook,
    *,
    updated_since: datetime | str | None = None,
    updated_until: datetime | str | None = None,
    filters: Mapping[str, Any] | None = None,
    page_size: int = 500,
    result_window: int = RESULT_WINDOW,
) -> Iterator[dict[str, Any]]:
    """
    Yield every product that matches, as canonical records, however many there are.

    The query is split into half-open ``updatedAt`` ranges ``[lo, hi)``. Each range is counted with a
    one-record query and bisected while it contains more than ``result_window`` products. A single
    millisecond that still contains more is split by family (from ``getProductSettings``) and then by sku
    prefix (``searchText`` ``PREFIX*``, checked again on the client because the search also matches
    product codes). Each range is read sorted by ``updatedAt`` and then ``id``.

    Products updated during the export move to a later range. Each product is yielded once, in the
    version read first: the export keeps the set of keys (sku, or code for product models) it yielded,
    so memory grows with the product count: 13.4 MiB for 100,000 products with 8-character skus, about
    140 bytes a product (``benchmarks/export_products.py``). Without ``updated_until`` the export also reads the products updated while it ran.

    :param hook: the hook to call ``getProducts`` with.
    :param updated_since: the inclusive lower bound of ``updatedAt``: a datetime (naive means UTC) or
        an ISO-8601 string.
    :param updated_until: the exclusive upper bound of ``updatedAt``, in the same forms.
    :param filters: other ``getProducts`` filters (``family``, ``enabled``, ``dataType`` ...), not
        ``updatedAt``.
    :param page_size: products a page.
    :param result_window: the largest ``pageFrom + pageSize`` the search engine serves.
    """
    # NOTE: a slice is read page by page with offsets inside one millisecond. If a product of the same
    # millisecond as a page boundary is updated during the read, a neighbour can shift past the boundary.
    export = SlicedProductExport(hook, filters=filters, page_size=page_size, result_window=result_window)
    since = None if updated_since is None else to_epoch_ms(updated_since)
    until = None if updated_until is None else to_epoch_ms(updated_until)
    if since is not None and until is not None and since >= until:
        raise MircateValidationError(
            f"updated_since {format_ms(since)} is not before updated_until {format_ms(until)}: the range is empty."
        )
    yield from export.run(since, until)
