"""
Validation of product records in the upsertProduct body shape ``{dataType, parent?, data: {...}}``.

:func:`validate_product` returns a list of problems ``{position, sku, field, message}``; an empty list
means the record is valid. Fields that the API may add (``id``, ``createdAt``) pass through unchecked.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any, TypedDict

from airflow_provider_mircate.utils.attributes import AttributeCatalog, AttributeSpec

DATA_TYPES = ("PRODUCT", "PRODUCT_MODEL")
STATUSES = ("DRAFT", "ACTIVE", "ARCHIVED")
SKU_PATTERN = re.compile(r"[A-Za-z0-9_]{1,255}")
AMOUNT_PATTERN = re.compile(r"-?\d+(\.\d+)?")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
STRING_TYPES = ("TEXT", "TEXTAREA", "IDENTIFIER")


class Problem(TypedDict):
    """One validation problem: where, which product, which field, and what to fix."""

    position: int
    sku: str | None
    field: str
    message: str


def is_valid_sku(value: Any) -> bool:
    """Return whether ``value`` is a valid sku or model code: 1-255 characters of ``[A-Za-z0-9_]``."""
    return isinstance(value, str) and SKU_PATTERN.fullmatch(value) is not None


def record_sku(record: Any) -> str | None:
    """Return ``data.sku`` of a record when it is a string, else ``None``."""
    data = record.get("data") if isinstance(record, Mapping) else None
    sku = data.get("sku") if isinstance(data, Mapping) else None
    return sku if isinstance(sku, str) else None


def record_key(record: Any) -> tuple[str, str] | None:
    """
    Return the key the API upserts by: ``("code", code)`` for a product model, else ``("sku", sku)``.

    ``None`` when the record has no usable key (validation reports that).
    """
    if not isinstance(record, Mapping) or not isinstance(record.get("data"), Mapping):
        return None
    data = record["data"]
    if record.get("dataType") == "PRODUCT_MODEL" and isinstance(data.get("code"), str) and data["code"]:
        return ("code", data["code"])
    if isinstance(data.get("sku"), str) and data["sku"]:
        return ("sku", data["sku"])
    return None


class _Collector:
    def __init__(self, position: int, sku: str | None) -> None:
        self.position = position
        self.sku = sku
        self.problems: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(position=self.position, sku=self.sku, field=field, message=message))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_product(record: Any, position: int, catalog: AttributeCatalog | None = None) -> list[Problem]:
    """
    Return every problem of one product record; attribute values are checked by type when ``catalog``
    lists the attribute.

    :param position: the line number or index of the record, copied into each problem.
    """
    problems = _Collector(position, record_sku(record))
    if not isinstance(record, Mapping):
        problems.add("", f"the record is a {type(record).__name__}, not an object; pass a dict per product.")
        return problems.problems
    data_type = record.get("dataType")
    if data_type not in DATA_TYPES:
        problems.add("dataType", f"dataType={_show(data_type)} is invalid: use one of {list(DATA_TYPES)}.")
    parent = record.get("parent")
    if parent is not None and (not isinstance(parent, str) or not SKU_PATTERN.fullmatch(parent)):
        problems.add(
            "parent", f"parent={_show(parent)} is invalid: give the code of a product model ([A-Za-z0-9_])."
        )
    data = record.get("data")
    if not isinstance(data, Mapping):
        hint = " Wrap the product fields in 'data'." if "sku" in record else ""
        problems.add(
            "data", f"data={_show(data)} is invalid: it must be an object with sku, family and status.{hint}"
        )
        return problems.problems
    _check_identity(data, data_type, problems)
    _check_flags(data, problems)
    _check_attributes(data.get("attributes"), catalog, problems)
    _check_axes(data.get("axesValues"), problems)
    _check_bundle_products(data.get("products"), problems)
    return problems.problems


def _check_identity(data: Mapping[str, Any], data_type: Any, problems: _Collector) -> None:
    sku = data.get("sku")
    if sku is None:
        problems.add(
            "data.sku", "data.sku is missing: every product needs a sku of 1-255 characters [A-Za-z0-9_]."
        )
    elif not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
        problems.add(
            "data.sku",
            f"data.sku={_show(sku)} is invalid: use 1-255 characters of A-Z, a-z, 0-9 and '_'.",
        )
    code = data.get("code")
    if data_type == "PRODUCT_MODEL" and (code is None or code == ""):
        problems.add("data.code", "data.code is missing: a PRODUCT_MODEL needs a code.")
    elif code is not None and (not isinstance(code, str) or not SKU_PATTERN.fullmatch(code)):
        problems.add(
            "data.code", f"data.code={_show(code)} is invalid: use 1-255 characters of A-Z, a-z, 0-9 and '_'."
        )
    family = data.get("family")
    if not isinstance(family, str) or not family:
        state = "missing" if family is None else f"{_show(family)}, which is invalid"
        problems.add("data.family", f"data.family is {state}: give the code of the product's family.")
    status = data.get("status")
    if status not in STATUSES:
        problems.add("data.status", f"data.status={_show(status)} is invalid: use one of {list(STATUSES)}.")


def _check_flags(data: Mapping[str, Any], problems: _Collector) -> None:
    for key in ("enabled", "translateWithAI"):
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            problems.add(f"data.{key}", f"data.{key}={_show(value)} is invalid: use true or false.")
    for key in ("categories", "groups"):
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.add(
                f"data.{key}", f"data.{key}={_show(value)} is invalid: use a list of non-empty code strings."
            )
    bundles = data.get("bundles")
    if bundles is not None and not isinstance(bundles, list):
        problems.add("data.bundles", f"data.bundles={_show(bundles)} is invalid: use a list.")


def _check_axes(axes: Any, problems: _Collector) -> None:
    if axes is None:
        return
    if not isinstance(axes, list):
        problems.add(
            "data.axesValues", f"data.axesValues={_show(axes)} is invalid: use a list of {{axe, value}}."
        )
        return
    for index, axis in enumerate(axes):
        field = f"data.axesValues[{index}]"
        if not isinstance(axis, Mapping) or not isinstance(axis.get("axe"), str) or "value" not in axis:
            problems.add(
                field, f"{field}={_show(axis)} is invalid: use {{'axe': <attribute code>, 'value': ...}}."
            )


def _check_bundle_products(products: Any, problems: _Collector) -> None:
    if products is None:
        return
    if not isinstance(products, list):
        problems.add(
            "data.products", f"data.products={_show(products)} is invalid: use a list of {{sku, quantity}}."
        )
        return
    for index, item in enumerate(products):
        field = f"data.products[{index}]"
        if not isinstance(item, Mapping):
            problems.add(field, f"{field}={_show(item)} is invalid: use {{'sku': ..., 'quantity': 1}}.")
            continue
        sku = item.get("sku")
        if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
            problems.add(f"{field}.sku", f"{field}.sku={_show(sku)} is invalid: give the sku of a product.")
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            problems.add(
                f"{field}.quantity",
                f"{field}.quantity={_show(quantity)} is invalid: use an integer of at least 1.",
            )


def _check_attributes(attributes: Any, catalog: AttributeCatalog | None, problems: _Collector) -> None:
    if attributes is None:
        return
    if not isinstance(attributes, list):
        problems.add(
            "data.attributes",
            f"data.attributes={_show(attributes)} is invalid: use a list of {{code, data}}.",
        )
        return
    for index, attribute in enumerate(attributes):
        field = f"data.attributes[{index}]"
        if (
            not isinstance(attribute, Mapping)
            or not isinstance(attribute.get("code"), str)
            or not attribute["code"]
        ):
            problems.add(f"{field}.code", f"{field}={_show(attribute)} is invalid: it needs a 'code' string.")
            continue
        code = attribute["code"]
        spec = catalog.get(code) if catalog else None
        if catalog is not None and spec is None and catalog.complete:
            problems.add(
                f"{field}.code",
                f"attribute {code!r} does not exist in the product settings: create it first or remove it.",
            )
        entries = attribute.get("data")
        if not isinstance(entries, list) or not entries:
            problems.add(
                f"{field}.data",
                f"{field}.data={_show(entries)} for attribute {code!r} is invalid: use a list of {{scope?, locale?, value}}.",
            )
            continue
        for number, entry in enumerate(entries):
            _check_attribute_entry(entry, f"{field}.data[{number}]", code, spec, problems)


def _check_attribute_entry(
    entry: Any, field: str, code: str, spec: AttributeSpec | None, problems: _Collector
) -> None:
    if not isinstance(entry, Mapping) or "value" not in entry:
        problems.add(field, f"{field}={_show(entry)} for attribute {code!r} is invalid: it needs a 'value'.")
        return
    for key in ("scope", "locale"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            problems.add(
                f"{field}.{key}",
                f"{field}.{key}={_show(value)} for attribute {code!r} is invalid: use a non-empty string or leave it out.",
            )
    if spec is not None:
        message = check_value(spec, entry["value"])
        if message:
            problems.add(f"{field}.value", f"attribute {code!r} ({spec.type}): {message}")


def check_value(spec: AttributeSpec, value: Any) -> str | None:
    """Return why ``value`` is invalid for the attribute, or ``None`` when it is valid."""
    kind = spec.type
    if kind in STRING_TYPES:
        return None if isinstance(value, str) else f"{_show(value)} is not a string; give text."
    if kind == "BOOLEAN":
        return None if isinstance(value, bool) else f"{_show(value)} is not a boolean; use true or false."
    if kind == "NUMBER":
        return _check_number(spec, value)
    if kind == "PRICE":
        return _check_price(value)
    if kind == "DATE":
        return _check_date(spec, value)
    if kind == "SIMPLESELECT":
        return _check_option(spec, value)
    if kind == "MULTISELECT":
        if not isinstance(value, list):
            return f"{_show(value)} is not a list; give a list of option codes (in CSV: 'red|blue')."
        return next((m for m in (_check_option(spec, v) for v in value) if m), None)
    if kind == "IMAGE":
        return None if isinstance(value, str) and value else f"{_show(value)} is not an image filename."
    if kind == "IMAGE_LIST":
        if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
            return None
        return f"{_show(value)} is not a list of image filenames (in CSV: 'a.jpg|b.jpg')."
    return None


def _check_number(spec: AttributeSpec, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return f"{_show(value)} is not a number; give a JSON number such as 12 or 12.5."
    if spec.negative_allowed is False and value < 0:
        return f"{value!r} is negative, which this attribute does not allow."
    if spec.decimals_allowed is False and not float(value).is_integer():
        return f"{value!r} has decimals, which this attribute does not allow; give a whole number."
    if isinstance(spec.minimum, (int, float)) and value < spec.minimum:
        return f"{value!r} is below the minimum {spec.minimum!r}."
    if isinstance(spec.maximum, (int, float)) and value > spec.maximum:
        return f"{value!r} is above the maximum {spec.maximum!r}."
    return None


def _check_price(value: Any) -> str | None:
    example = "[{'amount': '12.50', 'currency': 'EUR'}] (in CSV: '12.50 EUR|13.00 USD')"
    if not isinstance(value, list) or not value:
        return f"{_show(value)} is not a list of prices; give {example}."
    for price in value:
        if not isinstance(price, Mapping):
            return f"{_show(price)} is not a price; give {example}."
        amount, currency = price.get("amount"), price.get("currency")
        if not isinstance(amount, str) or not AMOUNT_PATTERN.fullmatch(amount):
            return f"amount {_show(amount)} is not a decimal string; write it as '12.50'."
        if not isinstance(currency, str) or not CURRENCY_PATTERN.fullmatch(currency):
            return f"currency {_show(currency)} is not a 3-letter ISO 4217 code such as 'EUR'."
    return None


def _check_date(spec: AttributeSpec, value: Any) -> str | None:
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
        return f"{_show(value)} is not a date; write it as YYYY-MM-DD."
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return f"{value!r} is not a real calendar date; write it as YYYY-MM-DD."
    if isinstance(spec.minimum, str) and value < spec.minimum:
        return f"{value!r} is before the earliest allowed date {spec.minimum!r}."
    if isinstance(spec.maximum, str) and value > spec.maximum:
        return f"{value!r} is after the latest allowed date {spec.maximum!r}."
    return None


def _check_option(spec: AttributeSpec, value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return f"{_show(value)} is not an option code; give the code string of an option."
    if spec.options is not None and value not in spec.options:
        known = sorted(spec.options)[:10]
        return f"{value!r} is not an option of this attribute; use one of {known} or create the option."
    return None
