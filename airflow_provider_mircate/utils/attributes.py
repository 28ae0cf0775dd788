"""Attribute definitions used to convert CSV cells and validate attribute values by type."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_mircate.exceptions import MircateConfigError

ATTRIBUTE_TYPES = frozenset(
    {
        "TEXT",
        "TEXTAREA",
        "BOOLEAN",
        "IDENTIFIER",
        "NUMBER",
        "IMAGE",
        "IMAGE_LIST",
        "MULTISELECT",
        "SIMPLESELECT",
        "DATE",
        "PRICE",
    }
)
LIST_TYPES = frozenset({"MULTISELECT", "IMAGE_LIST"})
LIST_SEPARATOR = "|"

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class AttributeSpec:
    """
    What validation needs to know about one attribute.

    ``minimum``/``maximum`` bound NUMBER values (and DATE values, as ``YYYY-MM-DD`` strings); ``options``
    is the set of option codes of a select attribute, or ``None`` when they are not known.
    """

    code: str
    type: str
    negative_allowed: bool | None = None
    decimals_allowed: bool | None = None
    minimum: Any = None
    maximum: Any = None
    options: frozenset[str] | None = None


class AttributeCatalog:
    """
    Attribute specs by code.

    :param specs: the attributes by code.
    :param complete: whether every attribute of the account is listed, so that an unknown code in a
        product is an error (true for a catalog read from ``getProductSettings``).
    """

    def __init__(self, specs: Mapping[str, AttributeSpec], *, complete: bool) -> None:
        self.specs = dict(specs)
        self.complete = complete

    def __repr__(self) -> str:
        return f"AttributeCatalog({len(self.specs)} attributes, complete={self.complete})"

    def get(self, code: str) -> AttributeSpec | None:
        """Return the spec of an attribute, or ``None`` when it is not listed."""
        return self.specs.get(code)

    def type_of(self, code: str) -> str | None:
        """Return the type of an attribute, or ``None`` when it is not listed."""
        spec = self.specs.get(code)
        return spec.type if spec else None

    @classmethod
    def from_product_settings(cls, settings: Mapping[str, Any]) -> AttributeCatalog:
        """
        Build a complete catalog from ``productSettings`` (``attributes`` and ``attributeOptions``).

        NOTE: the names of the NUMBER limits and the shape of ``attributeOptions`` are not documented.
        ``min``/``max`` and ``minValue``/``maxValue`` are read, and options either as
        ``{attributeCode, code}`` entries, as ``{code, options: [{code}]}`` groups or as an ``options``
        list on the attribute.
        """
        options = _options_by_attribute(settings.get("attributeOptions") or [])
        specs: dict[str, AttributeSpec] = {}
        for attribute in settings.get("attributes") or []:
            if not isinstance(attribute, Mapping) or not attribute.get("code"):
                continue
            code = str(attribute["code"])
            own = attribute.get("options")
            if isinstance(own, list):
                options.setdefault(code, set()).update(_option_codes(own))
            specs[code] = _spec_from_mapping(code, attribute, options.get(code))
        return cls(specs, complete=True)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> AttributeCatalog:
        """
        Build a partial catalog from ``{code: TYPE}`` or ``{code: {type, negativeAllowed, ...}}``.

        :raises MircateConfigError: on an unknown type.
        """
        specs: dict[str, AttributeSpec] = {}
        for code, value in mapping.items():
            if isinstance(value, str):
                value = {"type": value}
            if not isinstance(value, Mapping):
                raise MircateConfigError(
                    f"attribute_types[{code!r}]={value!r} is invalid: give a type name such as 'NUMBER' "
                    "or an attribute dict as getProductSettings returns it."
                )
            options = value.get("options")
            known = set(_option_codes(options)) if isinstance(options, list) else None
            specs[str(code)] = _spec_from_mapping(str(code), value, known)
        return cls(specs, complete=False)


def _spec_from_mapping(code: str, attribute: Mapping[str, Any], options: set[str] | None) -> AttributeSpec:
    kind = str(attribute.get("type") or "").upper()
    if kind not in ATTRIBUTE_TYPES:
        raise MircateConfigError(
            f"Attribute {code!r} has an unknown type {attribute.get('type')!r}; use one of "
            f"{sorted(ATTRIBUTE_TYPES)}."
        )
    return AttributeSpec(
        code=code,
        type=kind,
        negative_allowed=_optional_bool(attribute.get("negativeAllowed")),
        decimals_allowed=_optional_bool(attribute.get("decimalsAllowed")),
        minimum=_first_present(attribute, "min", "minValue"),
        maximum=_first_present(attribute, "max", "maxValue"),
        options=frozenset(options) if options is not None else None,
    )


def _first_present(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if mapping.get(key) is not None and mapping.get(key) != "":
            return mapping[key]
    return None


def _optional_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _option_codes(options: list[Any]) -> list[str]:
    return [str(o["code"]) for o in options if isinstance(o, Mapping) and o.get("code") is not None]


def _options_by_attribute(entries: list[Any]) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            continue
        if entry.get("attributeCode") and entry.get("code") is not None:
            result.setdefault(str(entry["attributeCode"]), set()).add(str(entry["code"]))
        elif entry.get("code") and isinstance(entry.get("options"), list):
            result.setdefault(str(entry["code"]), set()).update(_option_codes(entry["options"]))
    return result


def convert_cell(attribute_type: str | None, cell: str) -> Any:
    """
    Convert one CSV cell to the value an attribute of ``attribute_type`` takes.

    A cell that does not convert (``abc`` for a NUMBER) is returned as the string it is, so validation
    reports it with the attribute and the value. Without a type the cell stays a string.
    """
    text = cell.strip()
    if attribute_type == "NUMBER":
        if _INTEGER.fullmatch(text):
            return int(text)
        if _DECIMAL.fullmatch(text):
            return float(text)
        return cell
    if attribute_type == "BOOLEAN":
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        return cell
    if attribute_type in LIST_TYPES:
        return split_list(text)
    if attribute_type == "PRICE":
        return parse_price_cell(text)
    if attribute_type in ("DATE", "SIMPLESELECT", "IMAGE", "IDENTIFIER"):
        return text
    return cell


def split_list(text: str) -> list[str]:
    """Split a ``a|b|c`` cell into its non-empty, stripped parts."""
    return [part.strip() for part in text.split(LIST_SEPARATOR) if part.strip()]


def parse_price_cell(text: str) -> list[dict[str, str]] | str:
    """Parse ``12.50 EUR|13.00 USD`` into ``[{amount, currency}]``; return the text unchanged if malformed."""
    prices: list[dict[str, str]] = []
    for part in split_list(text):
        pieces = part.split()
        if len(pieces) != 2:
            return text
        prices.append({"amount": pieces[0], "currency": pieces[1]})
    return prices
