"""Product record validation: each rule, attribute values by type, and property tests."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.utils.attributes import AttributeCatalog
from airflow_provider_mircate.utils.validation import record_key, validate_product

SETTINGS = {
    "attributes": [
        {"code": "name", "type": "TEXT"},
        {"code": "active", "type": "BOOLEAN"},
        {"code": "weight", "type": "NUMBER", "negativeAllowed": False, "max": 1000},
        {"code": "count", "type": "NUMBER", "decimalsAllowed": False, "min": 1},
        {"code": "price", "type": "PRICE"},
        {"code": "launch", "type": "DATE", "min": "2000-01-01"},
        {"code": "color", "type": "SIMPLESELECT"},
        {"code": "tags", "type": "MULTISELECT", "options": [{"code": "a"}, {"code": "b"}]},
        {"code": "photo", "type": "IMAGE"},
        {"code": "gallery", "type": "IMAGE_LIST"},
    ],
    "attributeOptions": [
        {"attributeCode": "color", "code": "red"},
        {"attributeCode": "color", "code": "blue"},
    ],
}
CATALOG = AttributeCatalog.from_product_settings(SETTINGS)


def product(**data: Any) -> dict[str, Any]:
    return {"dataType": "PRODUCT", "data": {"sku": "A1", "family": "shoes", "status": "ACTIVE", **data}}


def fields(record: Any, catalog: AttributeCatalog | None = CATALOG) -> list[str]:
    return [p["field"] for p in validate_product(record, 7, catalog)]


def with_attribute(code: str, value: Any) -> dict[str, Any]:
    return product(attributes=[{"code": code, "data": [{"value": value}]}])


# -- record shape ---------------------------------------------------------------------------------


def test_valid_minimal_product() -> None:
    assert validate_product(product(), 7) == []


def test_problem_carries_position_and_sku() -> None:
    problems = validate_product(product(status="LIVE"), 12)
    assert problems == [
        {
            "position": 12,
            "sku": "A1",
            "field": "data.status",
            "message": "data.status='LIVE' is invalid: use one of ['DRAFT', 'ACTIVE', 'ARCHIVED'].",
        }
    ]


def test_record_not_object() -> None:
    assert fields(["A1"]) == [""]


def test_flat_record_hints_at_data_wrapper() -> None:
    problems = validate_product({"dataType": "PRODUCT", "sku": "A1"}, 1)
    assert [p["field"] for p in problems] == ["data"]
    assert "Wrap the product fields in 'data'" in problems[0]["message"]


@pytest.mark.parametrize("value", [None, "product", "SERVICE"])
def test_data_type(value: Any) -> None:
    record = product()
    record["dataType"] = value
    assert fields(record) == ["dataType"]


@pytest.mark.parametrize("sku", ["", "with space", "dash-ed", "é", "x" * 256, 12])
def test_sku_invalid(sku: Any) -> None:
    assert fields(product(sku=sku)) == ["data.sku"]


def test_sku_max_length_is_valid() -> None:
    assert fields(product(sku="x" * 255)) == []


def test_sku_missing() -> None:
    record = product()
    del record["data"]["sku"]
    assert fields(record) == ["data.sku"]


def test_model_needs_code() -> None:
    record = product()
    record["dataType"] = "PRODUCT_MODEL"
    assert fields(record) == ["data.code"]
    record["data"]["code"] = "M1"
    assert fields(record) == []


def test_family_missing() -> None:
    record = product()
    del record["data"]["family"]
    assert fields(record) == ["data.family"]


@pytest.mark.parametrize("status", [None, "active", "LIVE"])
def test_status_invalid(status: Any) -> None:
    assert fields(product(status=status)) == ["data.status"]


@pytest.mark.parametrize("key", ["enabled", "translateWithAI"])
def test_flags_must_be_bool(key: str) -> None:
    assert fields(product(**{key: "true"})) == [f"data.{key}"]


@pytest.mark.parametrize("key", ["categories", "groups"])
@pytest.mark.parametrize("value", ["men", [1], [""]])
def test_code_lists(key: str, value: Any) -> None:
    assert fields(product(**{key: value})) == [f"data.{key}"]


def test_parent_must_be_code() -> None:
    record = product()
    record["parent"] = "not a code"
    assert fields(record) == ["parent"]


def test_axes_values_shape() -> None:
    assert fields(product(axesValues=[{"axe": "size", "value": "42"}])) == []
    assert fields(product(axesValues=[{"value": "42"}])) == ["data.axesValues[0]"]
    assert fields(product(axesValues={"axe": "size"})) == ["data.axesValues"]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"sku": "B1", "quantity": 0}, "data.products[0].quantity"),
        ({"sku": "B1", "quantity": True}, "data.products[0].quantity"),
        ({"sku": "B1", "quantity": 1.5}, "data.products[0].quantity"),
        ({"sku": "bad sku", "quantity": 1}, "data.products[0].sku"),
        ("B1", "data.products[0]"),
    ],
)
def test_bundle_products(item: Any, field: str) -> None:
    assert fields(product(products=[item])) == [field]


def test_unknown_data_keys_pass_through() -> None:
    assert fields(product(id="x", createdAt="2024-01-01")) == []


def test_attributes_shape() -> None:
    assert fields(product(attributes={"code": "name"})) == ["data.attributes"]
    assert fields(product(attributes=[{"data": [{"value": "x"}]}])) == ["data.attributes[0].code"]
    assert fields(product(attributes=[{"code": "name", "data": []}])) == ["data.attributes[0].data"]
    assert fields(product(attributes=[{"code": "name", "data": [{"locale": "en"}]}])) == [
        "data.attributes[0].data[0]"
    ]
    assert fields(product(attributes=[{"code": "name", "data": [{"value": "x", "scope": 3}]}])) == [
        "data.attributes[0].data[0].scope"
    ]


def test_unknown_attribute_with_complete_catalog() -> None:
    assert fields(with_attribute("nope", "x")) == ["data.attributes[0].code"]


def test_unknown_attribute_with_partial_catalog() -> None:
    partial = AttributeCatalog.from_mapping({"name": "TEXT"})
    assert fields(with_attribute("nope", "x"), partial) == []


def test_attribute_values_unchecked_without_catalog() -> None:
    assert fields(with_attribute("weight", "heavy"), None) == []


# -- attribute values by type ---------------------------------------------------------------------

VALUE_CASES = [
    ("name", "Runner", True),
    ("name", 5, False),
    ("active", False, True),
    ("active", "false", False),
    ("weight", 12.5, True),
    ("weight", -1, False),
    ("weight", 1001, False),
    ("weight", True, False),
    ("weight", "12", False),
    ("count", 3, True),
    ("count", 3.5, False),
    ("count", 0, False),
    ("price", [{"amount": "12.50", "currency": "EUR"}], True),
    ("price", [{"amount": 12.5, "currency": "EUR"}], False),
    ("price", [{"amount": "12,50", "currency": "EUR"}], False),
    ("price", [{"amount": "12.50", "currency": "EURO"}], False),
    ("price", [{"amount": "12.50", "currency": "eur"}], False),
    ("price", "12.50 EUR", False),
    ("price", [], False),
    ("launch", "2024-02-29", True),
    ("launch", "2023-02-29", False),
    ("launch", "24-01-01", False),
    ("launch", "1999-12-31", False),
    ("color", "red", True),
    ("color", "green", False),
    ("color", ["red"], False),
    ("tags", ["a", "b"], True),
    ("tags", ["a", "z"], False),
    ("tags", "a", False),
    ("photo", "1j19r3y78mj-0123.png", True),
    ("photo", "", False),
    ("gallery", ["a.png", "b.png"], True),
    ("gallery", "a.png|b.png", False),
]


@pytest.mark.parametrize(("code", "value", "valid"), VALUE_CASES)
def test_attribute_value_by_type(code: str, value: Any, valid: bool) -> None:
    problems = validate_product(with_attribute(code, value), 3, CATALOG)
    assert [p["field"] for p in problems] == ([] if valid else ["data.attributes[0].data[0].value"])


def test_attribute_value_message_names_value_and_attribute() -> None:
    problems = validate_product(
        with_attribute("price", [{"amount": "12.50", "currency": "EURO"}]), 3, CATALOG
    )
    message = problems[0]["message"]
    assert "'price' (PRICE)" in message
    assert "'EURO'" in message
    assert "ISO 4217" in message


def test_catalog_from_mapping_rejects_unknown_type() -> None:
    with pytest.raises(MircateConfigError, match="unknown type 'COLOR'"):
        AttributeCatalog.from_mapping({"c": "COLOR"})


def test_catalog_options_from_groups() -> None:
    catalog = AttributeCatalog.from_product_settings(
        {
            "attributes": [{"code": "size", "type": "SIMPLESELECT"}],
            "attributeOptions": [{"code": "size", "options": [{"code": "S"}, {"code": "M"}]}],
        }
    )
    spec = catalog.get("size")
    assert spec is not None
    assert spec.options == frozenset({"S", "M"})


def test_record_key_for_model_and_product() -> None:
    assert record_key(product()) == ("sku", "A1")
    model = {"dataType": "PRODUCT_MODEL", "data": {"sku": "A1", "code": "M1"}}
    assert record_key(model) == ("code", "M1")
    assert record_key({"data": "x"}) is None


# -- property tests -------------------------------------------------------------------------------

codes = st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True)
amounts = st.from_regex(r"[0-9]{1,6}(\.[0-9]{1,2})?", fullmatch=True)
VALUE_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(max_size=20),
    "active": st.booleans(),
    "weight": st.floats(min_value=0, max_value=1000, allow_nan=False),
    "count": st.integers(min_value=1, max_value=10**6),
    "price": st.lists(
        st.fixed_dictionaries({"amount": amounts, "currency": st.sampled_from(["EUR", "USD", "TRY"])}),
        min_size=1,
        max_size=3,
    ),
    "launch": st.dates(min_value=datetime.date(2000, 1, 1)).map(lambda d: d.isoformat()),
    "color": st.sampled_from(["red", "blue"]),
    "tags": st.lists(st.sampled_from(["a", "b"]), max_size=2),
    "photo": codes.map(lambda c: f"{c}.png"),
    "gallery": st.lists(codes.map(lambda c: f"{c}.jpg"), max_size=3),
}


@st.composite
def attribute_entries(draw: st.DrawFn) -> list[dict[str, Any]]:
    chosen = draw(st.lists(st.sampled_from(sorted(VALUE_STRATEGIES)), unique=True, max_size=5))
    entries = []
    for code in chosen:
        entry: dict[str, Any] = {"value": draw(VALUE_STRATEGIES[code])}
        if draw(st.booleans()):
            entry["locale"] = draw(st.sampled_from(["en_US", "tr_TR"]))
        if draw(st.booleans()):
            entry["scope"] = draw(st.sampled_from(["web", "app"]))
        entries.append({"code": code, "data": [entry]})
    return entries


@st.composite
def valid_products(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.booleans())
    data: dict[str, Any] = {
        "sku": draw(codes),
        "family": draw(st.text(min_size=1, max_size=20)),
        "status": draw(st.sampled_from(["DRAFT", "ACTIVE", "ARCHIVED"])),
    }
    if model:
        data["code"] = draw(codes)
    if draw(st.booleans()):
        data["enabled"] = draw(st.booleans())
    if draw(st.booleans()):
        data["categories"] = draw(st.lists(codes, max_size=3))
    if draw(st.booleans()):
        data["attributes"] = draw(attribute_entries())
    if draw(st.booleans()):
        data["products"] = [{"sku": draw(codes), "quantity": draw(st.integers(min_value=1, max_value=99))}]
    record: dict[str, Any] = {"dataType": "PRODUCT_MODEL" if model else "PRODUCT", "data": data}
    if draw(st.booleans()):
        record["parent"] = draw(codes)
    return record


def _set(path: str, value: Any) -> Any:
    def mutate(record: dict[str, Any]) -> None:
        target = record
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        target[last] = value

    return mutate


def _delete(path: str) -> Any:
    def mutate(record: dict[str, Any]) -> None:
        target = record
        *parents, last = path.split(".")
        for key in parents:
            target = target[key]
        target.pop(last, None)

    return mutate


def _bad_attribute(code: str, value: Any) -> Any:
    def mutate(record: dict[str, Any]) -> None:
        attributes = record["data"].setdefault("attributes", [])
        attributes[:] = [a for a in attributes if a["code"] != code]
        attributes.append({"code": code, "data": [{"value": value}]})

    return mutate


def _model_without_code(record: dict[str, Any]) -> None:
    record["dataType"] = "PRODUCT_MODEL"
    record["data"].pop("code", None)


MUTATIONS: list[tuple[str, Any, str]] = [
    ("dataType", _set("dataType", "SERVICE"), "dataType"),
    ("no sku", _delete("data.sku"), "data.sku"),
    ("bad sku", _set("data.sku", "bad sku!"), "data.sku"),
    ("long sku", _set("data.sku", "s" * 256), "data.sku"),
    ("no family", _delete("data.family"), "data.family"),
    ("bad status", _set("data.status", "LIVE"), "data.status"),
    ("bad enabled", _set("data.enabled", "yes"), "data.enabled"),
    ("bad categories", _set("data.categories", [1]), "data.categories"),
    ("model without code", _model_without_code, "data.code"),
    ("bad parent", _set("parent", ""), "parent"),
    ("bad quantity", _set("data.products", [{"sku": "B1", "quantity": 0}]), "data.products[0].quantity"),
    ("bad axes", _set("data.axesValues", [{"value": 1}]), "data.axesValues[0]"),
    ("negative weight", _bad_attribute("weight", -1), "value"),
    ("decimal count", _bad_attribute("count", 2.5), "value"),
    ("bad currency", _bad_attribute("price", [{"amount": "1.00", "currency": "EURO"}]), "value"),
    ("bad date", _bad_attribute("launch", "2023-02-30"), "value"),
    ("unknown option", _bad_attribute("color", "green"), "value"),
    ("text as bool", _bad_attribute("active", "true"), "value"),
    ("unknown attribute", _bad_attribute("nope", "x"), "code"),
]


@settings(max_examples=150, deadline=None)
@given(valid_products())
def test_generated_valid_products_pass(record: dict[str, Any]) -> None:
    assert validate_product(record, 1, CATALOG) == []


@settings(max_examples=300, deadline=None)
@given(valid_products(), st.sampled_from(MUTATIONS))
def test_single_mutation_is_caught_with_its_field(
    record: dict[str, Any], mutation: tuple[str, Any, str]
) -> None:
    _, mutate, expected = mutation
    broken = copy.deepcopy(record)
    mutate(broken)
    problems = validate_product(broken, 1, CATALOG)
    found = [p["field"] for p in problems]
    assert len(found) == 1
    if expected in ("value", "code"):
        assert found[0].startswith("data.attributes[")
        assert found[0].endswith(f".{expected}")
    else:
        assert found[0] == expected
