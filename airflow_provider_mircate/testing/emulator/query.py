"""getProducts: filters, sorts and paging over the stored products, with a cache of sorted results."""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from typing import Any

from airflow_provider_mircate.testing.emulator.protocol import invalid
from airflow_provider_mircate.testing.emulator.state import EmulatorState, parse_timestamp

SORT_FIELDS = ("family", "enabled", "id", "createdAt", "updatedAt", "label")
STRING_FILTERS = ("sku", "family", "parent", "variant", "group")
RESULT_WINDOW = 10_000
DEFAULT_PAGE_SIZE = 50


class ProductQuery:
    """
    Run getProducts requests against one state.

    Filtering and sorting 100,000 records takes a few hundred milliseconds, and an export reads the
    same query page after page. The sorted key list of each query is therefore cached, keyed by the
    filters, sorts, search text and the product version of the state. Any product write bumps the
    version, so it retires every cached list.
    """

    def __init__(self, state: EmulatorState, paging: str = "offset", cache_size: int = 16) -> None:
        if paging not in ("offset", "page"):
            raise ValueError(f"Invalid paging {paging!r}; use 'offset' or 'page'.")
        self.state = state
        self.paging = paging
        self._cache: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def clear_cache(self) -> None:
        """Forget every cached result."""
        with self._lock:
            self._cache.clear()

    def run(self, body: dict[str, Any]) -> dict[str, Any]:
        """Return the getProducts response for a request body."""
        page_from, page_size = self._paging(body)
        offset = (page_from - 1) * page_size if self.paging == "page" else page_from
        if offset + page_size > RESULT_WINDOW:
            raise invalid(
                f"Result window is too large: the page ends at record {offset + page_size}, past the limit "
                f"of {RESULT_WINDOW}. Narrow the query, for example by updatedAt ranges.",
                "pageFrom",
                body.get("pageFrom"),
            )
        filters = _validated_filters(body.get("filters"))
        sorts = _validated_sorts(body.get("sorts"))
        search = body.get("searchText")
        if search is not None and not isinstance(search, str):
            raise invalid("'searchText' must be a string.", "searchText", search)

        with self.state.lock:
            keys = self._sorted_keys(filters, sorts, search or None)
            records = [self.state.products[key] for key in keys[offset : offset + page_size]]
            total = len(keys)
        return {
            "pageFrom": page_from,
            "pageSize": page_size,
            "totalProducts": total,
            "products": [{"score": 1.0, "source": record} for record in records],
        }

    def _paging(self, body: dict[str, Any]) -> tuple[int, int]:
        default_from = 1 if self.paging == "page" else 0
        page_from = body.get("pageFrom", default_from)
        page_size = body.get("pageSize", DEFAULT_PAGE_SIZE)
        for name, value in (("pageFrom", page_from), ("pageSize", page_size)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(f"'{name}' must be an integer.", name, value)
        if page_size < 1:
            raise invalid(f"Invalid pageSize {page_size}; expected an integer >= 1.", "pageSize", page_size)
        if page_from < default_from:
            raise invalid(
                f"Invalid pageFrom {page_from}; expected an integer >= {default_from}.", "pageFrom", page_from
            )
        return page_from, page_size

    def _sorted_keys(
        self, filters: dict[str, Any], sorts: list[tuple[str, str]], search: str | None
    ) -> list[str]:
        cache_key = (json.dumps(filters, sort_keys=True), tuple(sorts), search, self.state.version)
        with self._lock:
            cached = self._cache.get(cache_key)
            if cached is not None:
                self._cache.move_to_end(cache_key)
                return cached
        matcher = _search_matcher(search)
        keys = [key for key, record in self.state.products.items() if _matches(key, record, filters, matcher)]
        keys.sort(key=lambda key: self.state.products[key]["data"].get("sku", key))
        # Python's sort is stable, also with reverse=True, so sorting by the last field first leaves
        # the first field as the primary order and the sku as the final tie-breaker.
        for field_name, direction in reversed(sorts):
            keys.sort(
                key=lambda key: _sort_value(key, self.state.products[key], field_name),
                reverse=direction == "desc",
            )
        with self._lock:
            self._cache[cache_key] = keys
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return keys


def _validated_filters(filters: Any) -> dict[str, Any]:
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise invalid("'filters' must be an object.", "filters", filters)
    result: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name == "idList":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise invalid("'filters.idList' must be a list of strings.", "filters.idList", value)
            result[name] = sorted(set(value))
        elif name in STRING_FILTERS:
            if not isinstance(value, str):
                raise invalid(f"'filters.{name}' must be a string.", f"filters.{name}", value)
            result[name] = value
        elif name == "dataType":
            types = [t.strip() for t in str(value).split(",") if t.strip()]
            if not types or any(t not in ("PRODUCT", "PRODUCT_MODEL") for t in types):
                raise invalid(
                    f"Invalid filters.dataType {value!r}; use PRODUCT, PRODUCT_MODEL or both comma-joined.",
                    "filters.dataType", value,
                )  # fmt: skip
            result[name] = sorted(types)
        elif name == "enabled":
            if value not in ("true", "false"):
                raise invalid(
                    f"Invalid filters.enabled {value!r}; use the string 'true' or 'false'.",
                    "filters.enabled",
                    value,
                )
            result[name] = value == "true"
        elif name in ("createdAt", "updatedAt"):
            result[name] = _validated_range(name, value)
        elif name == "forceGroupFilter":
            result[name] = bool(value)
        else:
            raise invalid(f"Unknown filter {name!r}.", f"filters.{name}", value)
    return result


def _validated_range(name: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not set(value) <= {"gte", "lte"}:
        raise invalid(
            f"'filters.{name}' must be an object with 'gte' and/or 'lte'.", f"filters.{name}", value
        )
    bounds = {}
    for bound, text in value.items():
        try:
            bounds[bound] = parse_timestamp(text)
        except (TypeError, ValueError, AttributeError):
            raise invalid(
                f"Invalid filters.{name}.{bound} {text!r}; expected an ISO-8601 timestamp.",
                f"filters.{name}.{bound}",
                text,
            ) from None
    return bounds


def _validated_sorts(sorts: Any) -> list[tuple[str, str]]:
    if sorts is None:
        return []
    if not isinstance(sorts, dict):
        raise invalid("'sorts' must be an object mapping a field to 'asc' or 'desc'.", "sorts", sorts)
    result = []
    for field_name, direction in sorts.items():
        if field_name not in SORT_FIELDS:
            raise invalid(
                f"Invalid sort field {field_name!r}; use one of {list(SORT_FIELDS)}.",
                f"sorts.{field_name}",
                direction,
            )
        if direction not in ("asc", "desc"):
            raise invalid(
                f"Invalid sort direction {direction!r} for {field_name!r}; use 'asc' or 'desc'.",
                f"sorts.{field_name}",
                direction,
            )
        result.append((field_name, direction))
    return result


def _search_matcher(search: str | None) -> re.Pattern[str] | None:
    if not search:
        return None
    if "*" not in search:
        return re.compile(re.escape(search), re.IGNORECASE)
    pattern = ".*".join(re.escape(part) for part in search.split("*"))
    return re.compile(f"^{pattern}$", re.IGNORECASE)


def _matches(
    key: str, record: dict[str, Any], filters: dict[str, Any], matcher: re.Pattern[str] | None
) -> bool:
    data = record["data"]
    if "idList" in filters and key not in filters["idList"]:
        return False
    if "sku" in filters and data.get("sku") != filters["sku"]:
        return False
    if "family" in filters and data.get("family") != filters["family"]:
        return False
    if "parent" in filters and record.get("parent") != filters["parent"]:
        return False
    if "variant" in filters:
        # NOTE: the meaning of the variant filter is assumed: "true" keeps products with a parent model,
        # "false" those without, and any other value keeps the variants of that model code.
        wanted = filters["variant"]
        has_parent = record.get("parent") is not None
        if wanted in ("true", "false"):
            if has_parent != (wanted == "true"):
                return False
        elif record.get("parent") != wanted:
            return False
    if "group" in filters and filters["group"] not in (data.get("groups") or []):
        return False
    if "dataType" in filters and record["dataType"] not in filters["dataType"]:
        return False
    if "enabled" in filters and bool(data.get("enabled")) != filters["enabled"]:
        return False
    for name in ("createdAt", "updatedAt"):
        bounds = filters.get(name)
        if bounds and "gte" in bounds and record[name] < bounds["gte"]:
            return False
        if bounds and "lte" in bounds and record[name] > bounds["lte"]:
            return False
    if matcher is not None:
        candidates = [data.get("sku"), data.get("code")]
        if not any(isinstance(c, str) and matcher.search(c) for c in candidates):
            return False
    return True


def _sort_value(key: str, record: dict[str, Any], field_name: str) -> Any:
    data = record["data"]
    if field_name == "id":
        return key
    if field_name in ("createdAt", "updatedAt"):
        return record[field_name]
    if field_name == "enabled":
        return bool(data.get("enabled"))
    if field_name == "family":
        return str(data.get("family", ""))
    return product_label(record)


def product_label(record: dict[str, Any]) -> str:
    """Return the label a product sorts by: ``data.label``, else its ``label`` or ``name`` attribute, else ""."""
    data = record["data"]
    label = data.get("label")
    if isinstance(label, str):
        return label
    for attribute in data.get("attributes") or []:
        if attribute.get("code") in ("label", "name"):
            for item in attribute.get("data") or []:
                if isinstance(item.get("value"), str):
                    return item["value"]
    return ""
