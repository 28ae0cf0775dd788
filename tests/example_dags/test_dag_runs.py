"""Run the example DAGs end to end under ``airflow dags test`` against the emulator and check the outcome."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.example_dags.conftest import DATA, load_data_module, output_tail

IMAGE_SIZE = 800


def catalog_keys() -> set[str]:
    """Return the key of every product in the demo catalog: the sku, or the code of a product model."""
    with (DATA / "products.csv").open(encoding="utf-8", newline="") as handle:
        keys = {row["sku"] for row in csv.DictReader(handle)}
    with (DATA / "variants.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            data = record["data"]
            keys.add(data["code"] if record["dataType"] == "PRODUCT_MODEL" else data["sku"])
    return keys


def listed_images() -> list[dict[str, str]]:
    with (DATA / "product_images.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def attribute_values(record: dict, code: str) -> list:
    for attribute in record["data"].get("attributes") or []:
        if attribute["code"] == code:
            return [item["value"] for item in attribute["data"]]
    return []


def list_keys(s3_client, bucket: str, prefix: str) -> list[str]:
    pages = s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.mark.dagrun
@pytest.mark.s3
def test_catalog_sync_runs_to_s3(run_dag, mircate_emulator, s3_bucket, s3_client, tmp_path):
    from PIL import Image

    product_images = tmp_path / "product-images"
    load_data_module("make_images").write_images(product_images)
    conf = {
        "product_images_uri": f"file://{product_images}",
        "images_uri": f"s3://{s3_bucket}/images",
        "images_conn_id": "mircate_test_s3",
        "output_uri": f"s3://{s3_bucket}/output",
    }

    result = run_dag("mircate_catalog_sync", conf, mircate_emulator.conn_json())

    assert result.returncode == 0, output_tail(result)

    # Every product of the catalog is stored, by sku (or model code).
    products = mircate_emulator.state.products
    missing = catalog_keys() - set(products)
    assert missing == set()

    # Every listed image is attached to its product's attribute.
    not_attached = [
        item
        for item in listed_images()
        if not any(attribute_values(products[item["product_id"]], item["attribute_code"]))
    ]
    assert not_attached == []
    filenames = set(mircate_emulator.state.images)
    assert len(filenames) == len(listed_images())

    # One WebP object per image filename, no larger than 800x800.
    image_keys = list_keys(s3_client, s3_bucket, "images/")
    expected = {f"images/{name.rsplit('.', 1)[0]}.webp" for name in filenames}
    assert set(image_keys) == expected
    for key in image_keys:
        body = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            assert image.format == "WEBP", key
            assert image.width <= IMAGE_SIZE, (key, image.size)
            assert image.height <= IMAGE_SIZE, (key, image.size)

    # The export and the manifests went to the bucket too.
    manifest_keys = list_keys(s3_client, s3_bucket, "output/manifests/")
    assert len(manifest_keys) == 4
    statuses = []
    for key in manifest_keys:
        text = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read().decode()
        statuses.extend(json.loads(line)["status"] for line in text.splitlines() if line.strip())
    assert statuses == ["fetched"] * len(filenames)
    export = s3_client.get_object(Bucket=s3_bucket, Key="output/products.jsonl")["Body"].read().decode()
    assert len(export.splitlines()) == len(catalog_keys())


def seed_products_with_images(emulator) -> set[str]:
    """Store three products with image attributes through ``mircate_default``; return the image filenames."""
    from airflow_provider_mircate.hooks.mircate import MircateHook
    from airflow_provider_mircate.testing.emulator.images import make_test_image

    hook = MircateHook("mircate_default")
    hook.upsert_attributes([{"code": "image", "type": "IMAGE"}, {"code": "gallery", "type": "IMAGE_LIST"}])
    filenames: set[str] = set()
    for index in range(3):
        main = emulator.add_image(make_test_image(1200, 900, seed=index, format="jpeg"), "jpeg")
        views = [
            emulator.add_image(make_test_image(900, 1200, seed=10 * index + view, format="png"), "png")
            for view in (1, 2)
        ]
        filenames.update([main, *views])
        hook.upsert_product(
            {
                "dataType": "PRODUCT",
                "data": {
                    "sku": f"BACKFILL_{index}",
                    "family": "home",
                    "status": "ACTIVE",
                    "attributes": [
                        {"code": "image", "data": [{"value": main}]},
                        {"code": "gallery", "data": [{"value": views}]},
                    ],
                },
            }
        )
    hook.close()
    return filenames


def manifest_statuses(folder: Path) -> list[str]:
    statuses = []
    for manifest in sorted(folder.glob("fetch-*.jsonl")):
        statuses.extend(
            json.loads(line)["status"] for line in manifest.read_text().splitlines() if line.strip()
        )
    return statuses


@pytest.mark.dagrun
def test_image_backfill_rerun_fetches_nothing(run_dag, mircate_conn, tmp_path):
    mircate_emulator = mircate_conn
    filenames = seed_products_with_images(mircate_emulator)
    conf = {"images_uri": f"file://{tmp_path}/images", "output_uri": f"file://{tmp_path}/output"}

    first = run_dag("mircate_image_backfill", conf, mircate_emulator.conn_json())

    assert first.returncode == 0, output_tail(first)
    assert manifest_statuses(tmp_path / "output" / "manifests") == ["fetched"] * len(filenames)
    stored = {path.name for path in (tmp_path / "images").glob("*.webp")}
    assert stored == {f"{name.rsplit('.', 1)[0]}.webp" for name in filenames}
    image_calls = len(mircate_emulator.calls("getImage"))
    assert image_calls == len(filenames)

    second = run_dag("mircate_image_backfill", conf, mircate_emulator.conn_json())

    assert second.returncode == 0, output_tail(second)
    assert manifest_statuses(tmp_path / "output" / "manifests") == ["skipped"] * len(filenames)
    assert len(mircate_emulator.calls("getImage")) == image_calls


def read_attach_record(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.dagrun
def test_catalog_sync_rerun_attaches_nothing(run_dag, mircate_emulator, tmp_path):
    product_images = tmp_path / "product-images"
    load_data_module("make_images").write_images(product_images)
    conf = {
        "product_images_uri": f"file://{product_images}",
        "images_uri": f"file://{tmp_path}/images",
        "output_uri": f"file://{tmp_path}/output",
    }
    listed = listed_images()

    first = run_dag("mircate_catalog_sync", conf, mircate_emulator.conn_json())

    assert first.returncode == 0, output_tail(first)
    assert len(mircate_emulator.calls("attachProductAttributeImage")) == len(listed)
    record = read_attach_record(tmp_path / "output" / "attached_images.jsonl")
    assert len(record) == len(listed)
    first_values = {
        (item["product_id"], item["attribute_code"]): attribute_values(
            mircate_emulator.state.products[item["product_id"]], item["attribute_code"]
        )
        for item in listed
    }

    second = run_dag("mircate_catalog_sync", conf, mircate_emulator.conn_json())

    assert second.returncode == 0, output_tail(second)
    # The upsert of the second run replaced the image attributes, and the DAG re-linked the recorded
    # filenames instead of attaching the same content again.
    assert len(mircate_emulator.calls("attachProductAttributeImage")) == len(listed)
    products = mircate_emulator.state.products
    not_set = [
        item
        for item in listed
        if not any(attribute_values(products[item["product_id"]], item["attribute_code"]))
    ]
    assert not_set == []
    second_values = {pair: attribute_values(products[pair[0]], pair[1]) for pair in first_values}
    assert second_values == first_values
    referenced = {entry["filename"] for entry in record}
    assert referenced <= set(mircate_emulator.state.images)
    assert read_attach_record(tmp_path / "output" / "attached_images.jsonl") == record
