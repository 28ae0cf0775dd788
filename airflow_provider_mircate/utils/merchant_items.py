"""Validate merchant stock and price items and convert CSV rows into them, before anything is sent."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from airflow_provider_mircate.exceptions import MircateConfigError, MircateValidationError

FeedKind = Literal["stock", "price"]

# NOTE: these item fields are assumed, because the public reference names the feeds but not their fields.
FEED_FIELDS: dict[str, tuple[str, ...]] = {
    "stock": ("sku", "quantity", "warehouse"),
    "price": ("sku", "price", "currency", "channel", "listPrice"),
}
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "stock": ("sku", "quantity"),
    "price": ("sku", "price", "currency"),
}

# The fields that identify one stock level or one price. Two items with the same values in one feed
# overwrite each other, and which one is kept depends on the order Mircate processes the batches in.
DUPLICATE_KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "stock": ("sku", "warehouse"),
    "price": ("sku", "currency", "channel"),
}

# The sku rule of the PIM's upsertProduct: 1 to 255 letters, digits or underscores.
DEFAULT_SKU_PATTERN = r"[A-Za-z0-9_]{1,255}"
DEFAULT_MAX_DECIMALS = 4
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
DECIMAL_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
DIGITS = re.compile(r"[+-]?\d+")

# How many problems a validation error message lists; ``MircateValidationError.errors`` keeps them all.
MAX_LISTED_ERRORS = 20


@dataclass(frozen=True)
class ItemRules:
    """
    The checks applied to every stock or price item.

    :param sku_pattern: a regular expression that the whole sku must match.
    :param max_decimals: the maximum number of decimal places of a price.
    :param currencies: when given, the only currency codes accepted (for example the account's
        ``enabledCurrencies``); otherwise any three uppercase letters, the ISO 4217 format.
    """

    sku_pattern: str = DEFAULT_SKU_PATTERN
    max_decimals: int = DEFAULT_MAX_DECIMALS
    currencies: frozenset[str] | None = None

    def __post_init__(self) -> None:
        try:
            re.compile(self.sku_pattern)
        except re.error as exc:
            raise MircateConfigError(
                f"sku_pattern={self.sku_pattern!r} is not a valid regular expression: {exc}"
            ) from exc
        if (
            isinstance(self.max_decimals, bool)
            or not isinstance(self.max_decimals, int)
            or self.max_decimals < 0
        ):
            raise MircateConfigError(
                f"max_decimals={self.max_decimals!r} is invalid: use a non-negative integer such as 4."
            )

    @classmethod
    def build(
        cls,
        *,
        sku_pattern: str = DEFAULT_SKU_PATTERN,
        max_decimals: int = DEFAULT_MAX_DECIMALS,
        currencies: Iterable[str] | None = None,
    ) -> ItemRules:
        """Build rules from operator arguments, turning ``currencies`` into a frozen set."""
        allowed = None if currencies is None else frozenset(str(code) for code in currencies)
        return cls(sku_pattern=sku_pattern, max_decimals=max_decimals, currencies=allowed)


@dataclass(frozen=True)
class CheckedItem:
    """
    One input row after validation.

    :param position: the 1-based line number in a file, or the 0-based index in a list.
    :param item: the item to send, or ``None`` when the row is invalid.
    :param errors: one dict per problem: ``line`` or ``index``, ``sku``, ``field`` and ``message``.
    :param raw: the row as read, for the rejects file.
    """

    position: int
    item: dict[str, Any] | None
    errors: list[dict[str, Any]]
    raw: Any


def check_frequency(frequency: Any) -> None:
    """Raise ``MircateValidationError`` unless ``frequency`` is ``None`` or an integer from 0 to 10 (seconds)."""
    if frequency is None:
        return
    if isinstance(frequency, bool) or not isinstance(frequency, int) or not 0 <= frequency <= 10:
        raise MircateValidationError(
            f"frequency={frequency!r} is invalid: use an integer number of seconds from 0 to 10, or None."
        )


def check_feed_kind(kind: str) -> FeedKind:
    """Return ``kind`` when it is ``stock`` or ``price``; raise ``MircateConfigError`` otherwise."""
    if kind not in FEED_FIELDS:
        raise MircateConfigError(f"Unknown merchant feed kind {kind!r}: use 'stock' or 'price'.")
    return kind  # type: ignore[return-value]


def check_csv_header(kind: FeedKind, columns: Iterable[str], *, source: str) -> None:
    """
    Raise ``MircateValidationError`` when a CSV header lacks a required column or has an unknown one.

    A wrong header is a fault of the whole file, so it fails the task even with ``on_invalid="skip"``.
    """
    present = [str(c) for c in columns]
    allowed = FEED_FIELDS[kind]
    unknown = [c for c in present if c not in allowed]
    missing = [c for c in REQUIRED_FIELDS[kind] if c not in present]
    problems = []
    if unknown:
        problems.append(f"unknown column(s) {unknown}")
    if missing:
        problems.append(f"missing column(s) {missing}")
    if problems:
        raise MircateValidationError(
            f"The {kind} CSV {source} has {' and '.join(problems)} on line 1. "
            f"The accepted columns are {list(allowed)}; {list(REQUIRED_FIELDS[kind])} are required.",
            errors=[{"line": 1, "sku": None, "field": None, "message": "; ".join(problems)}],
        )


def row_from_csv(row: Mapping[str, Any]) -> dict[str, Any]:
    """Strip the cells of a CSV row and drop the empty ones, so that an empty optional cell is absent."""
    cleaned: dict[str, Any] = {}
    for key, value in row.items():
        text = value.strip() if isinstance(value, str) else value
        if text not in ("", None):
            cleaned[str(key).strip()] = text
    return cleaned


def validate_item(
    kind: FeedKind, row: Any, rules: ItemRules, *, position: int, position_field: str = "line"
) -> CheckedItem:
    """
    Validate one stock or price row and build the item that is sent.

    Prices are converted exactly with ``Decimal(str(value))`` and sent as decimal strings, never as
    floats, so ``19.99`` stays ``"19.99"``.

    :param position_field: ``line`` for rows of a file, ``index`` for items of a list.
    """
    if not isinstance(row, Mapping):
        message = f"expected an object with the fields {list(FEED_FIELDS[kind])}, got {type(row).__name__}"
        return CheckedItem(position, None, [_problem(position_field, position, None, None, message)], row)

    sku = row.get("sku")
    sku_text = sku if isinstance(sku, str) else None
    problems: list[tuple[str | None, str]] = []
    item: dict[str, Any] = {}

    unknown = [str(key) for key in row if key not in FEED_FIELDS[kind]]
    if unknown:
        problems.append(
            (None, f"unknown field(s) {unknown}; the accepted fields are {list(FEED_FIELDS[kind])}")
        )
    for name in REQUIRED_FIELDS[kind]:
        if row.get(name) in (None, ""):
            problems.append((name, f"{name} is missing"))

    checkers = _STOCK_CHECKS if kind == "stock" else _PRICE_CHECKS
    for name, check in checkers.items():
        value = row.get(name)
        if value in (None, ""):
            continue
        try:
            item[name] = check(value, rules)
        except ValueError as exc:
            problems.append((name, str(exc)))

    errors = [_problem(position_field, position, sku_text, name, message) for name, message in problems]
    return CheckedItem(position, None if errors else item, errors, row)


def check_items(
    kind: FeedKind,
    rows: Iterable[tuple[int, Any]],
    rules: ItemRules,
    *,
    position_field: str = "line",
    from_csv: bool = False,
) -> Iterator[CheckedItem]:
    """Validate ``(position, row)`` pairs one by one, converting CSV rows first when ``from_csv``."""
    for position, row in rows:
        if from_csv and isinstance(row, Mapping):
            row = row_from_csv(row)
        yield validate_item(kind, row, rules, position=position, position_field=position_field)


def item_key(kind: FeedKind, item: Mapping[str, Any]) -> tuple[Any, ...]:
    """Return the duplicate key of a valid item: its values of ``DUPLICATE_KEY_FIELDS``, ``None`` when absent."""
    return tuple(item.get(name) for name in DUPLICATE_KEY_FIELDS[kind])


def duplicate_error(
    kind: FeedKind, item: Mapping[str, Any], position: int, earlier: int, position_field: str = "line"
) -> dict[str, Any]:
    """Return the problem of an item whose key already appeared at position ``earlier``."""
    key = ", ".join(f"{name} {item.get(name)!r}" for name in DUPLICATE_KEY_FIELDS[kind])
    message = (
        f"the {kind} item with {key} appears on {position_field} {earlier} and again on {position_field} "
        f"{position}. Keep one row per key, or set on_duplicate='last_wins' to send the last one"
    )
    return _problem(position_field, position, item.get("sku"), None, message)


def validation_error(
    kind: FeedKind, source: str, errors: list[dict[str, Any]], invalid_rows: int
) -> MircateValidationError:
    """Build the error raised when a feed has invalid rows, listing the first ``MAX_LISTED_ERRORS``."""
    lines = [_describe(error) for error in errors[:MAX_LISTED_ERRORS]]
    more = len(errors) - len(lines)
    if more:
        lines.append(f"... and {more} more")
    return MircateValidationError(
        f"{invalid_rows} {kind} item(s) in {source} are invalid, so nothing was sent:\n  "
        + "\n  ".join(lines)
        + "\nFix the rows, or pass on_invalid='skip' with rejects_path to send the valid ones.",
        errors=errors,
    )


# -- field checks: each returns the value to send or raises ValueError with the reason ---------------


def _check_sku(value: Any, rules: ItemRules) -> str:
    if not isinstance(value, str):
        raise ValueError(f"sku must be a string, got {type(value).__name__} {value!r}")
    if not re.fullmatch(rules.sku_pattern, value):
        raise ValueError(f"sku {value!r} does not match the pattern {rules.sku_pattern}")
    return value


def _check_quantity(value: Any, rules: ItemRules) -> int:
    if isinstance(value, bool):
        raise ValueError(f"quantity must be an integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise ValueError(f"quantity must be an integer, got {value!r}")
    if number < 0:
        raise ValueError(f"quantity {number} is negative; stock quantities start at 0")
    return number


def _check_text(name: str) -> Any:
    def check(value: Any, rules: ItemRules) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
        return value.strip()

    return check


def _check_currency(value: Any, rules: ItemRules) -> str:
    if not isinstance(value, str) or not CURRENCY_PATTERN.fullmatch(value):
        raise ValueError(f"currency {value!r} is not an ISO 4217 code (three uppercase letters such as EUR)")
    if rules.currencies is not None and value not in rules.currencies:
        raise ValueError(
            f"currency {value!r} is not one of the accepted currencies {sorted(rules.currencies)}"
        )
    return value


def _price_check(name: str) -> Any:
    def check(value: Any, rules: ItemRules) -> str:
        return parse_price(value, rules.max_decimals, field=name)

    return check


def parse_price(value: Any, max_decimals: int = DEFAULT_MAX_DECIMALS, *, field: str = "price") -> str:
    """
    Return a price as a plain decimal string, converted exactly; raise ``ValueError`` when invalid.

    Numbers go through ``Decimal(str(value))``, so the float ``19.99`` becomes ``"19.99"`` and a float
    artefact such as ``0.30000000000000004`` is rejected for its precision instead of being rounded.
    Trailing zeros past ``max_decimals`` are dropped (``"12.50000"`` becomes ``"12.5000"``).
    """
    if isinstance(value, bool):
        raise ValueError(f"{field} must be a decimal number, got {value!r}")
    if isinstance(value, str):
        text = value.strip()
        if not DECIMAL_TEXT.fullmatch(text):
            hint = " (use '.' as the decimal separator)" if "," in text else ""
            raise ValueError(f"{field} {value!r} is not a decimal number{hint}")
    elif isinstance(value, (int, float, Decimal)):
        text = str(value)
    else:
        raise ValueError(f"{field} must be a decimal number, got {type(value).__name__} {value!r}")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{field} {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise ValueError(f"{field} {value!r} is not a finite number")
    if amount < 0:
        raise ValueError(f"{field} {value!r} is negative")

    step = Decimal(1).scaleb(-max_decimals)
    rounded = amount.quantize(step)
    if rounded != amount:
        places = -amount.normalize().as_tuple().exponent  # type: ignore[operator]
        raise ValueError(f"{field} {value!r} has {places} decimal places; at most {max_decimals} are allowed")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -max_decimals:
        amount = rounded
    return format(amount, "f")


_STOCK_CHECKS = {"sku": _check_sku, "quantity": _check_quantity, "warehouse": _check_text("warehouse")}
_PRICE_CHECKS = {
    "sku": _check_sku,
    "price": _price_check("price"),
    "currency": _check_currency,
    "channel": _check_text("channel"),
    "listPrice": _price_check("listPrice"),
}


def _problem(
    position_field: str, position: int, sku: str | None, field: str | None, message: str
) -> dict[str, Any]:
    return {position_field: position, "sku": sku, "field": field, "message": message}


def _describe(error: dict[str, Any]) -> str:
    where = f"line {error['line']}" if "line" in error else f"item {error.get('index')}"
    sku = f" (sku {error['sku']})" if error.get("sku") else ""
    return f"{where}{sku}: {error['message']}"
