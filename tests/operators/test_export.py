"""MircateGetProductsOperator against the emulator: sliced export, time bounds, image filenames, lineage."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.export import MircateGetProductsOperator, normalize_timestamp
from airflow_provider_mircate.testing.emulator.pim import store_product


def add_products(emulator, count, *, attributes=None):
    for index in range(count):
        data = {"sku": f"sku{index:05d}", "family": "shoes", "status": "ACTIVE"}
        if attributes is not None:
            data["attributes"] = attributes(index)
        store_product(emulator.state, {"dataType": "PRODUCT", "data": data})


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_past_window_complete(mircate_conn, tmp_path):
    add_products(mircate_conn, 450)
    destination = tmp_path / "out" / "products.jsonl"

    operator = MircateGetProductsOperator(
        task_id="export", destination=str(destination), page_size=40, result_window=100
    )
    result = operator.execute({})

    records = read_jsonl(destination)
    skus = [r["data"]["sku"] for r in records]
    assert result["count"] == 450
    assert result["path"] == f"file://{destination}"
    assert len(set(skus)) == 450
    assert records[0]["dataType"] == "PRODUCT"
    assert "score" not in records[0]


def set_updated_at(emulator, sku, timestamp):
    record = emulator.state.products[sku]
    emulator.state.put_product(sku, {**record, "updatedAt": timestamp})


def test_export_incremental_updated_since(mircate_conn, tmp_path):
    add_products(mircate_conn, 20)
    for index in range(20):
        set_updated_at(mircate_conn, f"sku{index:05d}", f"2024-0{1 + index % 2}-15T00:00:00.000Z")
    destination = tmp_path / "products.jsonl"

    operator = MircateGetProductsOperator(
        task_id="export", destination=str(destination), updated_since="2024-02-01T00:00:00+00:00"
    )
    result = operator.execute({})

    skus = [r["data"]["sku"] for r in read_jsonl(destination)]
    assert result["count"] == 10
    assert skus == [f"sku{index:05d}" for index in range(1, 20, 2)]


def test_export_updated_until_is_exclusive(mircate_conn, tmp_path):
    add_products(mircate_conn, 4)
    for index in range(4):
        set_updated_at(mircate_conn, f"sku{index:05d}", f"2024-01-0{index + 1}T00:00:00.000Z")

    result = MircateGetProductsOperator(
        task_id="export",
        destination=str(tmp_path / "p.jsonl"),
        updated_since=datetime(2024, 1, 2, tzinfo=timezone.utc),
        updated_until="2024-01-04T00:00:00Z",
    ).execute({})

    assert result["count"] == 2


def test_export_writes_distinct_image_filenames(mircate_conn, tmp_path):
    hook = MircateHook()
    hook.upsert_attributes(
        [{"code": "main_image", "type": "IMAGE"}, {"code": "gallery", "type": "IMAGE_LIST"}]
    )

    def attributes(index):
        return [
            {"code": "main_image", "data": [{"value": f"img{index % 3}.png"}]},
            {"code": "gallery", "data": [{"value": ["shared.jpg", f"g{index}.jpg"]}]},
        ]

    add_products(mircate_conn, 4, attributes=attributes)
    images = tmp_path / "images.txt"

    result = MircateGetProductsOperator(
        task_id="export", destination=str(tmp_path / "p.jsonl"), image_filenames_path=str(images)
    ).execute({})

    lines = images.read_text().splitlines()
    assert sorted(lines) == sorted(
        ["img0.png", "img1.png", "img2.png", "shared.jpg", "g0.jpg", "g1.jpg", "g2.jpg", "g3.jpg"]
    )
    assert result["image_count"] == 8
    assert result["image_filenames_path"] == f"file://{images}"


def test_export_leaves_no_file_on_failure(mircate_conn, tmp_path):
    add_products(mircate_conn, 5)
    mircate_conn.set_faults(rate=1.0, kinds=["500"], methods=["getProducts"])
    destination = tmp_path / "products.jsonl"

    with pytest.raises(Exception, match="getProducts"):
        MircateGetProductsOperator(task_id="export", destination=str(destination)).execute({})

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 5, 1, 14, 0, tzinfo=timezone.utc), "2024-05-01T14:00:00.000Z"),
        ("2024-05-01T16:00:00+02:00", "2024-05-01T14:00:00.000Z"),
        (None, None),
        ("", None),
    ],
)
def test_normalize_timestamp(value, expected):
    assert normalize_timestamp(value, "updated_since") == expected


def test_invalid_updated_since_named():
    with pytest.raises(MircateConfigError, match="updated_since"):
        normalize_timestamp("last tuesday", "updated_since")


def test_openlineage_facets(mircate_conn, tmp_path):
    pytest.importorskip("airflow.providers.openlineage")
    destination = tmp_path / "products.jsonl"
    operator = MircateGetProductsOperator(task_id="export", destination=str(destination))
    operator.execute({})

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert lineage.inputs[0].namespace == f"mircate://{mircate_conn.account_id}"
    assert lineage.inputs[0].name == "products"
    assert lineage.outputs[0].namespace == "file"
    assert lineage.outputs[0].name == str(destination)


def test_templated_fields_listed():
    assert set(MircateGetProductsOperator.template_fields) >= {
        "destination",
        "updated_since",
        "updated_until",
        "filters",
        "image_filenames_path",
    }


@pytest.mark.s3
def test_export_to_s3_with_image_filenames(mircate_conn, s3_bucket, s3_client):
    add_products(mircate_conn, 30)
    operator = MircateGetProductsOperator(
        task_id="export",
        destination=f"s3://{s3_bucket}/exports/products.jsonl",
        dest_conn_id="mircate_test_s3",
        image_filenames_path=f"s3://{s3_bucket}/exports/images.txt",
        image_filenames_conn_id="mircate_test_s3",
        page_size=7,
    )

    result = operator.execute({})

    body = s3_client.get_object(Bucket=s3_bucket, Key="exports/products.jsonl")["Body"].read().decode()
    skus = [json.loads(line)["data"]["sku"] for line in body.splitlines()]
    assert result["count"] == 30
    assert sorted(skus) == [f"sku{index:05d}" for index in range(30)]
    assert s3_client.head_object(Bucket=s3_bucket, Key="exports/images.txt")["ContentLength"] == 0
