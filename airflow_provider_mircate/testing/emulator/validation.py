"""Validation of product records, attribute definitions and attribute values, as the PIM API applies it."""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from airflow_provider_mircate.testing.emulator.protocol import invalid

SKU_PATTERN = re.compile(r"[A-Za-z0-9_]{1,255}")
CODE_PATTERN = re.compile(r"[A-Za-z0-9_]{1,255}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DECIMAL_PATTERN = re.compile(r"-?\d+(\.\d+)?")
DATA_TYPES = ("PRODUCT", "PRODUCT_MODEL")
STATUSES = ("DRAFT", "ACTIVE", "ARCHIVED")
ATTRIBUTE_TYPES = (
    "TEXT", "TEXTAREA", "BOOLEAN", "IDENTIFIER", "NUMBER", "IMAGE", "IMAGE_LIST",
    "MULTISELECT", "SIMPLESELECT", "DATE", "PRICE",
)  # fmt: skip
SELECT_TYPES = ("SIMPLESELECT", "MULTISELECT")
IMAGE_TYPES = ("IMAGE", "IMAGE_LIST")
IMAGE_EXTENSIONS = ("jpeg", "jpg", "png", "tiff", "webp")
MAX_ATTRIBUTE_IMAGE_MB = 5


def product_key(record: dict[str, Any]) -> str:
    """Return the key a product is stored under: its sku, or its code for a product model."""
    data = record["data"]
    return data["code"] if record["dataType"] == "PRODUCT_MODEL" else data["sku"]


def validate_product(
    body: Any, attributes: dict[str, dict[str, Any]], options: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """
    Validate an upsertProduct body and return the canonical record ``{dataType, parent?, data}``.

    Attribute values are checked by type only for attributes that exist; unknown attribute codes
    are stored as sent. Raises ``ApiError`` 400 naming the field.
    """
    if not isinstance(body, dict):
        raise invalid("The product must be a JSON object.", "product", type(body).__name__)
    data_type = body.get("dataType")
    if data_type is None:
        raise invalid("'dataType' required!", "dataType")
    if data_type not in DATA_TYPES:
        raise invalid(
            f"Invalid dataType {data_type!r}; use one of {list(DATA_TYPES)}.", "dataType", data_type
        )
    data = body.get("data")
    if data is None:
        raise invalid("'data' required!", "data")
    if not isinstance(data, dict):
        raise invalid("'data' must be an object.", "data", data)

    _validate_identity(data_type, data)
    _validate_fields(data)
    parent = body.get("parent")
    if parent is not None and (not isinstance(parent, str) or not CODE_PATTERN.fullmatch(parent)):
        raise invalid(f"Invalid parent {parent!r}; expected a product model code.", "parent", parent)
    for index, attribute in enumerate(data.get("attributes") or []):
        _validate_attribute_entry(index, attribute, attributes, options)

    record: dict[str, Any] = {"dataType": data_type}
    if parent is not None:
        record["parent"] = parent
    record["data"] = {"enabled": False, **data}
    return record


def _validate_identity(data_type: str, data: dict[str, Any]) -> None:
    sku = data.get("sku")
    if sku is None:
        raise invalid("'data.sku' required!", "data.sku")
    if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku):
        raise invalid(
            f"Invalid sku {sku!r}: use 1 to 255 characters of A-Z, a-z, 0-9 and '_'.", "data.sku", sku
        )
    if data_type == "PRODUCT_MODEL":
        code = data.get("code")
        if code is None:
            raise invalid("'data.code' required for a PRODUCT_MODEL!", "data.code")
        if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
            raise invalid(
                f"Invalid code {code!r}: use 1 to 255 characters of A-Z, a-z, 0-9 and '_'.", "data.code", code
            )


def _validate_fields(data: dict[str, Any]) -> None:
    family = data.get("family")
    if family is None:
        raise invalid("'data.family' required!", "data.family")
    if not isinstance(family, str) or not family.strip():
        raise invalid(f"Invalid family {family!r}; expected a non-empty string.", "data.family", family)
    status = data.get("status")
    if status is None:
        raise invalid("'data.status' required!", "data.status")
    if status not in STATUSES:
        raise invalid(f"Invalid status {status!r}; use one of {list(STATUSES)}.", "data.status", status)
    for key in ("enabled", "translateWithAI"):
        if key in data and not isinstance(data[key], bool):
            raise invalid(f"'data.{key}' must be a boolean.", f"data.{key}", data[key])
    for key in ("groups", "categories"):
        value = data.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise invalid(f"'data.{key}' must be a list of strings.", f"data.{key}", value)
    for key in ("attributes", "axesValues", "bundles", "products"):
        if key in data and not isinstance(data[key], list):
            raise invalid(f"'data.{key}' must be a list.", f"data.{key}", data[key])
    for index, item in enumerate(data.get("products") or []):
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("sku"), str):
            raise invalid("Each of 'data.products' needs a sku.", f"data.products[{index}]", item)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise invalid(
                f"Invalid quantity {quantity!r}; expected an integer >= 1.",
                f"data.products[{index}].quantity",
                quantity,
            )


def _validate_attribute_entry(
    index: int, entry: Any, attributes: dict[str, dict[str, Any]], options: dict[str, dict[str, Any]]
) -> None:
    where = f"data.attributes[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
        raise invalid("Each attribute needs a string 'code'.", where, entry)
    values = entry.get("data")
    if not isinstance(values, list):
        raise invalid(
            f"Attribute {entry['code']!r} needs 'data' as a list of values.", f"{where}.data", values
        )
    definition = attributes.get(entry["code"])
    for position, item in enumerate(values):
        if not isinstance(item, dict) or "value" not in item:
            raise invalid("Each attribute data item needs a 'value'.", f"{where}.data[{position}]", item)
        if definition is not None:
            check_attribute_value(
                definition, item["value"], options.get(entry["code"], {}), f"{where}.data[{position}]"
            )


def check_attribute_value(
    definition: dict[str, Any], value: Any, options: dict[str, Any], where: str
) -> None:
    """Raise ``ApiError`` 400 unless ``value`` fits the attribute's type and bounds."""
    code = definition["code"]
    kind = definition["type"]
    field_name = f"{where}.value"

    def fail(expected: str) -> None:
        raise invalid(
            f"Invalid value {value!r} for {kind} attribute {code!r}: expected {expected}.", field_name, value
        )

    if kind in ("TEXT", "TEXTAREA", "IDENTIFIER", "IMAGE"):
        if not isinstance(value, str):
            fail("a string")
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            fail("true or false")
    elif kind == "NUMBER":
        _check_number(definition, value, fail)
    elif kind == "PRICE":
        if not isinstance(value, list) or not value:
            fail("a list of {amount, currency}")
        for price in value:
            if not isinstance(price, dict) or not isinstance(price.get("amount"), str):
                fail("a list of {amount, currency} with amount as a decimal string")
            if not DECIMAL_PATTERN.fullmatch(price["amount"]) or not CURRENCY_PATTERN.fullmatch(
                str(price.get("currency", ""))
            ):
                fail("amounts as decimal strings and currencies as ISO 4217 codes such as 'EUR'")
    elif kind == "DATE":
        _check_date(definition, value, fail)
    elif kind == "SIMPLESELECT":
        if not isinstance(value, str):
            fail("an option code")
        if options and value not in options:
            fail(f"one of the options {sorted(options)}")
    elif kind == "MULTISELECT":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail("a list of option codes")
        unknown = [v for v in value if options and v not in options]
        if unknown:
            fail(f"option codes from {sorted(options)}")
    elif kind == "IMAGE_LIST":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            fail("a list of image filenames")


def _check_number(definition: dict[str, Any], value: Any, fail: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail("a number")
    if definition.get("negativeAllowed") is False and value < 0:
        fail("a number >= 0")
    if definition.get("decimalsAllowed") is False and not float(value).is_integer():
        fail("a whole number")
    minimum, maximum = definition.get("min"), definition.get("max")
    if isinstance(minimum, (int, float)) and value < minimum:
        fail(f"a number >= {minimum}")
    if isinstance(maximum, (int, float)) and value > maximum:
        fail(f"a number <= {maximum}")


def _check_date(definition: dict[str, Any], value: Any, fail: Any) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        fail("a date as YYYY-MM-DD")
    try:
        date.fromisoformat(value)
    except ValueError:
        fail("a valid calendar date as YYYY-MM-DD")
    minimum, maximum = definition.get("min"), definition.get("max")
    if isinstance(minimum, str) and value < minimum:
        fail(f"a date on or after {minimum}")
    if isinstance(maximum, str) and value > maximum:
        fail(f"a date on or before {maximum}")


def validate_attribute_definition(attribute: Any, index: int) -> dict[str, Any]:
    """Validate one attribute of upsertAttributes and return a copy to store."""
    where = f"attributes[{index}]"
    if not isinstance(attribute, dict):
        raise invalid("Each attribute must be an object.", where, attribute)
    code = attribute.get("code")
    if code is None:
        raise invalid("'code' required!", f"{where}.code")
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise invalid(f"Invalid attribute code {code!r}: use A-Z, a-z, 0-9 and '_'.", f"{where}.code", code)
    kind = attribute.get("type")
    if kind not in ATTRIBUTE_TYPES:
        raise invalid(
            f"Invalid attribute type {kind!r}; use one of {list(ATTRIBUTE_TYPES)}.", f"{where}.type", kind
        )
    if kind in IMAGE_TYPES:
        size = attribute.get("maxFileSizeInMB", MAX_ATTRIBUTE_IMAGE_MB)
        if (
            isinstance(size, bool)
            or not isinstance(size, (int, float))
            or not 0 < size <= MAX_ATTRIBUTE_IMAGE_MB
        ):
            raise invalid(
                f"Invalid maxFileSizeInMB {size!r}; expected a number above 0 and at most {MAX_ATTRIBUTE_IMAGE_MB}.",
                f"{where}.maxFileSizeInMB",
                size,
            )
        extensions = attribute.get("allowedExtensions", list(IMAGE_EXTENSIONS))
        if (
            not isinstance(extensions, list)
            or not extensions
            or any(e not in IMAGE_EXTENSIONS for e in extensions)
        ):
            raise invalid(
                f"Invalid allowedExtensions {extensions!r}; use a list from {list(IMAGE_EXTENSIONS)}.",
                f"{where}.allowedExtensions",
                extensions,
            )
    label = attribute.get("label")
    if label is not None and not isinstance(label, list):
        raise invalid("'label' must be a list of {locale, value}.", f"{where}.label", label)
    return dict(attribute)


def validate_option(option: Any, where: str) -> dict[str, Any]:
    """Validate one attribute option ``{code, label[]}`` and return a copy to store."""
    if not isinstance(option, dict):
        raise invalid("Each option must be an object.", where, option)
    code = option.get("code")
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise invalid(f"Invalid option code {code!r}: use A-Z, a-z, 0-9 and '_'.", f"{where}.code", code)
    label = option.get("label", [])
    if not isinstance(label, list):
        raise invalid("'label' must be a list of {locale, value}.", f"{where}.label", label)
    return {**option, "label": label}
