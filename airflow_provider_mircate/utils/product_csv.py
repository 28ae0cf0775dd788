"""
The product CSV grammar: one row per product, mapped to the upsertProduct body.

Columns: ``sku``, ``family``, ``status`` (required), ``enabled``, ``dataType`` (default ``PRODUCT``),
``parent``, ``code``, ``categories`` and ``groups`` (values separated by ``|``), and attribute columns
``attr.<code>``, ``attr.<code>.<locale>`` and ``attr.<code>.<locale>.<scope>`` (``-`` for no locale).
An empty cell leaves the field or attribute value out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mircate.exceptions import MircateValidationError
from airflow_provider_mircate.utils.attributes import AttributeCatalog, convert_cell, split_list
from airflow_provider_mircate.utils.records import Row, csv_header, iter_rows

BASE_COLUMNS = ("sku", "family", "status", "enabled", "dataType", "parent", "code", "categories", "groups")
REQUIRED_COLUMNS = ("sku", "family", "status")
LIST_COLUMNS = ("categories", "groups")
NO_LOCALE = "-"


@dataclass(frozen=True)
class AttributeColumn:
    """An ``attr.<code>[.<locale>[.<scope>]]`` column."""

    name: str
    code: str
    locale: str | None
    scope: str | None


def parse_attribute_column(name: str) -> AttributeColumn | None:
    """Return the attribute column that ``name`` denotes, or ``None`` when it is not one."""
    parts = name.split(".")
    if parts[0] != "attr" or not 2 <= len(parts) <= 4 or not all(parts[1:]):
        return None
    locale = parts[2] if len(parts) > 2 and parts[2] != NO_LOCALE else None
    scope = parts[3] if len(parts) > 3 and parts[3] != NO_LOCALE else None
    return AttributeColumn(name=name, code=parts[1], locale=locale, scope=scope)


def parse_header(header: list[str], name: str) -> list[AttributeColumn]:
    """
    Check the header of a product CSV and return its attribute columns.

    :raises MircateValidationError: naming unknown, duplicate or missing required columns.
    """
    duplicates = sorted({column for column in header if header.count(column) > 1})
    if duplicates:
        raise MircateValidationError(
            f"The CSV header of {name!r} repeats the column(s) {duplicates}. Keep one column of each name."
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise MircateValidationError(
            f"The CSV header of {name!r} is missing the required column(s) {missing}. Add them; the header "
            f"is {header}."
        )
    attributes: list[AttributeColumn] = []
    unknown: list[str] = []
    for column in header:
        if column in BASE_COLUMNS:
            continue
        parsed = parse_attribute_column(column)
        if parsed is None:
            unknown.append(column)
        else:
            attributes.append(parsed)
    if unknown:
        raise MircateValidationError(
            f"The CSV header of {name!r} has unknown column(s) {unknown}. Use {list(BASE_COLUMNS)} and "
            "attribute columns named attr.<code>, attr.<code>.<locale> or attr.<code>.<locale>.<scope> "
            "('-' for no locale)."
        )
    return attributes


def _convert_enabled(cell: str) -> Any:
    lowered = cell.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    # Left as text so that validation reports the value.
    return cell


def row_to_record(
    row: Mapping[str, str], attribute_columns: list[AttributeColumn], catalog: AttributeCatalog | None
) -> dict[str, Any]:
    """Map one CSV row (column name -> cell) to an upsertProduct body."""
    data: dict[str, Any] = {}
    for text_column in ("sku", "family", "status", "code"):
        cell = (row.get(text_column) or "").strip()
        if cell:
            data[text_column] = cell
    enabled = (row.get("enabled") or "").strip()
    if enabled:
        data["enabled"] = _convert_enabled(enabled)
    for list_column in LIST_COLUMNS:
        values = split_list(row.get(list_column) or "")
        if values:
            data[list_column] = values

    by_code: dict[str, list[dict[str, Any]]] = {}
    for column in attribute_columns:
        cell = row.get(column.name) or ""
        if not cell.strip():
            continue
        entry: dict[str, Any] = {}
        if column.scope is not None:
            entry["scope"] = column.scope
        if column.locale is not None:
            entry["locale"] = column.locale
        entry["value"] = convert_cell(catalog.type_of(column.code) if catalog else None, cell)
        by_code.setdefault(column.code, []).append(entry)
    if by_code:
        data["attributes"] = [{"code": code, "data": entries} for code, entries in by_code.items()]

    record: dict[str, Any] = {"dataType": (row.get("dataType") or "").strip() or "PRODUCT"}
    parent = (row.get("parent") or "").strip()
    if parent:
        record["parent"] = parent
    record["data"] = data
    return record


def iter_csv_products(
    path: str | os.PathLike[str],
    *,
    name: str,
    attributes: AttributeCatalog | Callable[[], AttributeCatalog | None] | None = None,
) -> Iterator[Row]:
    """
    Yield ``(line number, record)`` for each row of a product CSV; the header is line 1.

    :param attributes: the catalog that gives attribute types, or a function returning it, called once
        and only when the header has attribute columns. Without types, attribute cells stay text.
    """
    attribute_columns = parse_header(csv_header(path, name=name), name)
    catalog = attributes() if callable(attributes) and attribute_columns else attributes
    for line, row in iter_rows(path, "csv", name=name):
        yield line, row_to_record(row, attribute_columns, catalog if not callable(catalog) else None)
