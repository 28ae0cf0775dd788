"""The product CSV grammar: columns, attribute columns, typed cells and header errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_mircate.exceptions import MircateValidationError
from airflow_provider_mircate.utils.attributes import AttributeCatalog, convert_cell, parse_price_cell
from airflow_provider_mircate.utils.product_csv import iter_csv_products, parse_attribute_column

TYPES = AttributeCatalog.from_mapping(
    {
        "price": "PRICE",
        "weight": "NUMBER",
        "stock": "NUMBER",
        "color": "SIMPLESELECT",
        "tags": "MULTISELECT",
        "gallery": "IMAGE_LIST",
        "fragile": "BOOLEAN",
        "name": "TEXT",
    }
)


def read(tmp_path: Path, text: str, attributes: Any = TYPES) -> list[tuple[int, dict[str, Any]]]:
    path = tmp_path / "products.csv"
    path.write_text(text, encoding="utf-8")
    return list(iter_csv_products(path, name="products.csv", attributes=attributes))


def attribute(record: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return next(a["data"] for a in record["data"]["attributes"] if a["code"] == code)


def test_base_columns_map_to_record(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        "sku,family,status,enabled,dataType,parent,code,categories,groups\n"
        "A1,shoes,ACTIVE,true,PRODUCT_MODEL,M0,M1,men|sale,g1\n",
    )
    assert rows == [
        (
            2,
            {
                "dataType": "PRODUCT_MODEL",
                "parent": "M0",
                "data": {
                    "sku": "A1",
                    "family": "shoes",
                    "status": "ACTIVE",
                    "code": "M1",
                    "enabled": True,
                    "categories": ["men", "sale"],
                    "groups": ["g1"],
                },
            },
        )
    ]


def test_empty_cells_are_left_out(tmp_path: Path) -> None:
    rows = read(tmp_path, "sku,family,status,enabled,parent,categories,attr.name\nA1,f,DRAFT,,,,\n")
    assert rows == [(2, {"dataType": "PRODUCT", "data": {"sku": "A1", "family": "f", "status": "DRAFT"}})]


@pytest.mark.parametrize(
    ("cell", "expected"), [("TRUE", True), ("0", False), ("1", True), ("maybe", "maybe")]
)
def test_enabled_cell(tmp_path: Path, cell: str, expected: Any) -> None:
    rows = read(tmp_path, f"sku,family,status,enabled\nA1,f,DRAFT,{cell}\n")
    assert rows[0][1]["data"]["enabled"] == expected


def test_attribute_column_locale_and_scope(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        "sku,family,status,attr.name,attr.name.en_US,attr.name.de_DE.web,attr.name.-.app\n"
        "A1,f,DRAFT,plain,english,web german,app only\n",
    )
    assert attribute(rows[0][1], "name") == [
        {"value": "plain"},
        {"locale": "en_US", "value": "english"},
        {"scope": "web", "locale": "de_DE", "value": "web german"},
        {"scope": "app", "value": "app only"},
    ]


def test_price_cell_becomes_price_list(tmp_path: Path) -> None:
    rows = read(tmp_path, "sku,family,status,attr.price\nA1,f,DRAFT,12.50 EUR|13.00 USD\n")
    assert attribute(rows[0][1], "price") == [
        {"value": [{"amount": "12.50", "currency": "EUR"}, {"amount": "13.00", "currency": "USD"}]}
    ]


def test_typed_cells_are_converted(tmp_path: Path) -> None:
    rows = read(
        tmp_path,
        "sku,family,status,attr.weight,attr.stock,attr.tags,attr.gallery,attr.fragile,attr.color\n"
        "A1,f,DRAFT,1.5,12,a| b |,x.jpg|y.png,false,red\n",
    )
    record = rows[0][1]
    assert attribute(record, "weight") == [{"value": 1.5}]
    assert attribute(record, "stock") == [{"value": 12}]
    assert attribute(record, "tags") == [{"value": ["a", "b"]}]
    assert attribute(record, "gallery") == [{"value": ["x.jpg", "y.png"]}]
    assert attribute(record, "fragile") == [{"value": False}]
    assert attribute(record, "color") == [{"value": "red"}]


def test_cells_stay_text_without_types(tmp_path: Path) -> None:
    rows = read(tmp_path, "sku,family,status,attr.weight\nA1,f,DRAFT,1.5\n", attributes=None)
    assert attribute(rows[0][1], "weight") == [{"value": "1.5"}]


def test_types_loaded_only_for_attribute_columns(tmp_path: Path) -> None:
    calls: list[int] = []

    def load() -> AttributeCatalog:
        calls.append(1)
        return TYPES

    read(tmp_path, "sku,family,status\nA1,f,DRAFT\nA2,f,DRAFT\n", attributes=load)
    assert calls == []
    read(tmp_path, "sku,family,status,attr.weight\nA1,f,DRAFT,1\nA2,f,DRAFT,2\n", attributes=load)
    assert calls == [1]


def test_unknown_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(MircateValidationError, match=r"unknown column\(s\) \['colour', 'attr\.'\]"):
        read(tmp_path, "sku,family,status,colour,attr.\nA1,f,DRAFT,red,x\n")


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        MircateValidationError, match=r"is missing the required column\(s\) \['family', 'status'\]"
    ):
        read(tmp_path, "sku,enabled\nA1,true\n")


def test_duplicate_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(MircateValidationError, match=r"repeats the column\(s\) \['sku'\]"):
        read(tmp_path, "sku,family,status,sku\nA1,f,DRAFT,A2\n")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("attr.color", ("color", None, None)),
        ("attr.color.en_US", ("color", "en_US", None)),
        ("attr.color.-.web", ("color", None, "web")),
        ("attr.color.en_US.web", ("color", "en_US", "web")),
    ],
)
def test_parse_attribute_column(name: str, expected: tuple[Any, ...]) -> None:
    column = parse_attribute_column(name)
    assert column is not None
    assert (column.code, column.locale, column.scope) == expected


@pytest.mark.parametrize("name", ["attr", "attr.", "attr.a.b.c.d", "attribute.color", "attr..en"])
def test_parse_attribute_column_rejects(name: str) -> None:
    assert parse_attribute_column(name) is None


@pytest.mark.parametrize(
    ("kind", "cell", "expected"),
    [
        ("NUMBER", "-3", -3),
        ("NUMBER", "2.5e3", 2500.0),
        ("NUMBER", "abc", "abc"),
        ("BOOLEAN", "True", True),
        ("BOOLEAN", "yes", "yes"),
        ("MULTISELECT", "a|b", ["a", "b"]),
        ("DATE", " 2024-01-31 ", "2024-01-31"),
        ("TEXT", " keep spaces ", " keep spaces "),
        (None, "1", "1"),
    ],
)
def test_convert_cell(kind: str | None, cell: str, expected: Any) -> None:
    assert convert_cell(kind, cell) == expected


def test_parse_price_cell_malformed_stays_text() -> None:
    assert parse_price_cell("12.50EUR") == "12.50EUR"
