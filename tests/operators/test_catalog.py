"""Catalog operators against the emulator: categories, attributes, options and product deletion."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mircate.exceptions import (
    MircateConfigError,
    MircateNotFoundError,
    MircateValidationError,
)
from airflow_provider_mircate.operators.catalog import (
    MircateDeleteAttributeOperator,
    MircateDeleteAttributeOptionOperator,
    MircateDeleteProductOperator,
    MircateUpsertAttributeOptionsOperator,
    MircateUpsertAttributesOperator,
    MircateUpsertCategoryOperator,
)
from airflow_provider_mircate.testing.emulator.pim import store_product

TREE = {
    "code": "apparel",
    "label": [{"locale": "en_US", "value": "Apparel"}],
    "subCategories": [
        {"code": "shoes", "label": [{"locale": "en_US", "value": "Shoes"}], "subCategories": []},
        {"code": "hats", "description": [{"locale": "en_US", "value": "Hats"}]},
    ],
}


def add_products(emulator, count):
    for index in range(count):
        data = {"sku": f"sku{index}", "family": "shoes", "status": "ACTIVE", "enabled": True}
        store_product(emulator.state, {"dataType": "PRODUCT", "data": data})


def write_source(path, skus):
    lines = [json.dumps({"dataType": "PRODUCT", "data": {"sku": s, "family": "shoes"}}) for s in skus]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_upsert_category_tree(mircate_conn):
    result = MircateUpsertCategoryOperator(task_id="cat", categories=TREE).execute({})

    assert result == {"trees": 1, "categories": 3}
    assert "apparel" in mircate_conn.state.categories


def test_upsert_category_list_of_trees(mircate_conn):
    trees = [TREE, {"code": "toys"}]

    result = MircateUpsertCategoryOperator(task_id="cat", categories=trees).execute({})

    assert result["trees"] == 2
    assert len(mircate_conn.calls("upsertCategory")) == 2


@pytest.mark.parametrize(
    ("tree", "match"),
    [
        ({"code": "bad code"}, "invalid code 'bad code'"),
        ({"code": "ok", "label": "Shoes"}, "label must be a list"),
        ({"code": "ok", "label": [{"locale": "en_US"}]}, r"label\[0\] is invalid"),
        ({"code": "ok", "subCategories": [{"code": "x-y"}]}, "invalid code 'x-y'"),
    ],
)
def test_upsert_category_rejects_invalid(mircate_conn, tree, match):
    with pytest.raises(MircateValidationError, match=match):
        MircateUpsertCategoryOperator(task_id="cat", categories=tree).execute({})

    assert mircate_conn.calls("upsertCategory") == []


def test_upsert_attributes(mircate_conn):
    attributes = [{"code": "color", "type": "SIMPLESELECT"}, {"code": "weight", "type": "NUMBER"}]

    result = MircateUpsertAttributesOperator(task_id="attrs", attributes=attributes).execute({})

    assert result == {"upserted": 2}
    assert set(mircate_conn.state.attributes) >= {"color", "weight"}


def test_upsert_attributes_rejects_unknown_type(mircate_conn):
    with pytest.raises(MircateValidationError, match="invalid type 'COLOR'"):
        MircateUpsertAttributesOperator(task_id="a", attributes=[{"code": "c", "type": "COLOR"}]).execute({})

    assert mircate_conn.calls("upsertAttributes") == []


def test_attribute_options_upsert_and_delete(mircate_conn):
    MircateUpsertAttributesOperator(
        task_id="a", attributes=[{"code": "color", "type": "SIMPLESELECT"}]
    ).execute({})
    options = [
        {"code": "red", "label": [{"locale": "en_US", "value": "Red"}]},
        {"code": "blue", "label": [{"locale": "en_US", "value": "Blue"}]},
    ]

    upserted = MircateUpsertAttributeOptionsOperator(
        task_id="o", attribute_code="color", options=options
    ).execute({})
    deleted = MircateDeleteAttributeOptionOperator(
        task_id="d", attribute_code="color", option_code="red"
    ).execute({})

    assert upserted == {"attribute_code": "color", "upserted": 2}
    assert deleted["deleted"] is True
    assert set(mircate_conn.state.attribute_options["color"]) == {"blue"}


def test_delete_attribute_missing(mircate_conn):
    with pytest.raises(MircateNotFoundError, match="deleteAttribute"):
        MircateDeleteAttributeOperator(task_id="d", attribute_code="nope").execute({})

    result = MircateDeleteAttributeOperator(task_id="d", attribute_code="nope", ignore_missing=True).execute(
        {}
    )
    assert result["deleted"] is False


def test_delete_attribute(mircate_conn):
    MircateUpsertAttributesOperator(task_id="a", attributes=[{"code": "size", "type": "TEXT"}]).execute({})

    result = MircateDeleteAttributeOperator(task_id="d", attribute_code="size").execute({})

    assert result["deleted"] is True
    assert "size" not in mircate_conn.state.attributes


def test_delete_products_by_sku(mircate_conn):
    add_products(mircate_conn, 3)

    result = MircateDeleteProductOperator(task_id="d", skus=["sku0", "sku1", "missing"]).execute({})

    assert result == {"action": "delete", "affected": 2, "not_found": 1, "unchanged": 0}
    assert set(mircate_conn.state.products) == {"sku2"}


def test_archive_products_missing_from_source(mircate_conn, tmp_path):
    add_products(mircate_conn, 5)
    source = write_source(tmp_path / "keep.jsonl", ["sku0", "sku1", "sku2"])

    result = MircateDeleteProductOperator(task_id="d", source=source, max_missing=2).execute({})

    archived = mircate_conn.state.products["sku3"]["data"]
    assert result == {"action": "archive", "affected": 2, "not_found": 0, "unchanged": 0}
    assert archived["status"] == "ARCHIVED"
    assert archived["enabled"] is True
    assert archived["family"] == "shoes"
    assert mircate_conn.state.products["sku0"]["data"]["status"] == "ACTIVE"


def test_archive_skips_already_archived(mircate_conn, tmp_path):
    add_products(mircate_conn, 3)
    source = write_source(tmp_path / "keep.jsonl", ["sku0"])
    MircateDeleteProductOperator(task_id="d", source=source, max_missing=2).execute({})

    result = MircateDeleteProductOperator(task_id="d", source=source, max_missing=0).execute({})

    assert result["affected"] == 0
    assert result["unchanged"] == 2


def test_max_missing_guard_changes_nothing(mircate_conn, tmp_path):
    add_products(mircate_conn, 6)
    source = write_source(tmp_path / "keep.jsonl", ["sku0"])

    operator = MircateDeleteProductOperator(
        task_id="d", source=source, missing_action="delete", max_missing=3
    )
    with pytest.raises(MircateValidationError, match=r"5 product\(s\).*max_missing=3"):
        operator.execute({})

    assert len(mircate_conn.state.products) == 6
    assert mircate_conn.calls("deleteProduct") == []


def test_delete_missing_from_csv_source(mircate_conn, tmp_path):
    add_products(mircate_conn, 3)
    source = tmp_path / "keep.csv"
    source.write_text("sku,family,status\nsku1,shoes,ACTIVE\n")

    result = MircateDeleteProductOperator(
        task_id="d", source=str(source), missing_action="delete", max_missing=2
    ).execute({})

    assert result["affected"] == 2
    assert set(mircate_conn.state.products) == {"sku1"}


def changing_calls(emulator):
    return emulator.calls("upsertProduct") + emulator.calls("deleteProduct")


@pytest.mark.parametrize("missing_action", ["archive", "delete"])
def test_source_typo_sku_changes_nothing(mircate_conn, tmp_path, missing_action):
    for sku in ("K_1", "K_2", "K_3", "K_4"):
        data = {"sku": sku, "family": "shoes", "status": "ACTIVE"}
        store_product(mircate_conn.state, {"dataType": "PRODUCT", "data": data})
    source = tmp_path / "keep.csv"
    source.write_text(
        "sku,family,status\nK_1,shoes,ACTIVE\nK_2,shoes,ACTIVE\nK_3,shoes,ACTIVE\nK 4,shoes,ACTIVE\n"
    )
    operator = MircateDeleteProductOperator(
        task_id="d", source=str(source), missing_action=missing_action, max_missing=5
    )

    with pytest.raises(MircateValidationError) as info:
        operator.execute({})

    message = str(info.value)
    assert "1 product key(s)" in message
    assert "line 5: sku 'K 4'" in message
    assert "Nothing was changed" in message
    assert changing_calls(mircate_conn) == []
    assert mircate_conn.calls("getProducts") == []
    assert mircate_conn.state.products["K_4"]["data"]["status"] == "ACTIVE"


def test_source_invalid_json_keys_listed(mircate_conn, tmp_path):
    add_products(mircate_conn, 2)
    source = write_source(tmp_path / "keep.jsonl", ["sku0", "sku-1", "x" * 256])

    operator = MircateDeleteProductOperator(task_id="d", source=source, max_missing=5)
    with pytest.raises(MircateValidationError) as info:
        operator.execute({})

    message = str(info.value)
    assert "2 product key(s)" in message
    assert "line 2: sku 'sku-1'" in message
    assert f"line 3: sku '{'x' * 256}'" in message
    assert changing_calls(mircate_conn) == []


def test_source_csv_cells_are_stripped(mircate_conn, tmp_path):
    add_products(mircate_conn, 2)
    source = tmp_path / "keep.csv"
    source.write_text("sku,family,status\n sku0 ,shoes,ACTIVE\n")

    result = MircateDeleteProductOperator(task_id="d", source=str(source), max_missing=1).execute({})

    assert result["affected"] == 1
    assert mircate_conn.state.products["sku0"]["data"]["status"] == "ACTIVE"
    assert mircate_conn.state.products["sku1"]["data"]["status"] == "ARCHIVED"


@pytest.mark.parametrize(
    ("name", "content"),
    [("keep.csv", "sku,family,status\n"), ("keep.json", "[]"), ("keep.jsonl", "\n")],
)
def test_empty_source_fails_by_default(mircate_conn, tmp_path, name, content):
    add_products(mircate_conn, 3)
    source = tmp_path / name
    source.write_text(content)

    operator = MircateDeleteProductOperator(task_id="d", source=str(source), max_missing=100)
    with pytest.raises(MircateValidationError) as info:
        operator.execute({})

    assert "allow_empty_source=True" in str(info.value)
    assert changing_calls(mircate_conn) == []
    assert {p["data"]["status"] for p in mircate_conn.state.products.values()} == {"ACTIVE"}


@pytest.mark.parametrize(
    ("name", "content"),
    [("keep.csv", "sku,family,status\n"), ("keep.json", "[]"), ("keep.jsonl", "")],
)
def test_empty_source_allowed_archives_all(mircate_conn, tmp_path, name, content):
    add_products(mircate_conn, 3)
    source = tmp_path / name
    source.write_text(content)

    result = MircateDeleteProductOperator(
        task_id="d", source=str(source), max_missing=3, allow_empty_source=True
    ).execute({})

    assert result["affected"] == 3
    assert {p["data"]["status"] for p in mircate_conn.state.products.values()} == {"ARCHIVED"}


def test_empty_source_allowed_keeps_max_missing(mircate_conn, tmp_path):
    add_products(mircate_conn, 3)
    source = tmp_path / "keep.csv"
    source.write_text("sku,family,status\n")

    operator = MircateDeleteProductOperator(
        task_id="d", source=str(source), max_missing=2, allow_empty_source=True
    )
    with pytest.raises(MircateValidationError, match="max_missing=2"):
        operator.execute({})

    assert changing_calls(mircate_conn) == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one"),
        ({"skus": ["a"], "source": "/tmp/x.jsonl"}, "exactly one"),
        ({"source": "/tmp/x.jsonl"}, "max_missing=None"),
        ({"source": "/tmp/x.jsonl", "max_missing": 1, "missing_action": "purge"}, "missing_action"),
    ],
)
def test_delete_product_rejects_arguments(kwargs, match):
    with pytest.raises(MircateConfigError, match=match):
        MircateDeleteProductOperator(task_id="d", **kwargs)
