"""
Sync a product catalog from object storage into Mircate, then publish resized product images.

The steps, in order:

1. Read ``categories.json`` and ``attributes.json`` from the catalog folder and upsert the category
   trees, the attributes and the options of each select attribute (one mapped task per attribute).
2. Bulk-upsert the simple products from ``products.csv`` and the product models with their variants
   from ``variants.jsonl``, then wait for every batch with the deferrable batch status sensor.
3. Attach the product images listed in ``product_images.jsonl``. A product attribute that already has
   an image is left alone, because every attach call stores a new image.
4. Export every product to JSON lines with the list of image filenames it references.
5. Split that list into ``image_lists`` parts and fetch each part as 800x800 WebP into ``images_uri``
   with one mapped task per part. Images that already exist there are skipped, so a rerun is cheap.
6. Log and return the counts, and record an event on the images asset.

Every location is a DAG param, so the same DAG reads from and writes to ``file://`` or ``s3://``. For
``s3://`` give an ``aws`` connection in ``catalog_conn_id`` or ``images_conn_id``. The Mircate connection
id is the param ``mircate_conn_id``, whose default comes from the environment variable
``MIRCATE_CONN_ID`` (else ``mircate_default``).
``scripts/demo.py`` runs this DAG against the local emulator; ``docs/example-dags.md`` describes it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, ObjectStoragePath, Param, get_current_context, task

from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.catalog import (
    MircateUpsertAttributeOptionsOperator,
    MircateUpsertAttributesOperator,
    MircateUpsertCategoryOperator,
)
from airflow_provider_mircate.operators.export import MircateGetProductsOperator
from airflow_provider_mircate.operators.images import (
    MircateAttachProductAttributeImageOperator,
    MircateImageFetchOperator,
    chunk_filenames,
)
from airflow_provider_mircate.operators.products import MircateUpsertProductOperator
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
DEMO = REPO / ".demo"

# The default of the mircate_conn_id param; the operators render "{{ params.mircate_conn_id }}".
MIRCATE_CONN_ID = os.environ.get("MIRCATE_CONN_ID", "mircate_default")
CONN_ID = "{{ params.mircate_conn_id }}"

DEFAULT_IMAGES_URI = os.environ.get("MIRCATE_IMAGES_URI", f"file://{DEMO}/images")
# The asset names the default destination; each event carries the images_uri the run wrote to.
PRODUCT_IMAGES = Asset(name="mircate_product_images", uri=DEFAULT_IMAGES_URI)

IMAGE_SIZE = 800


def with_conn(uri: str, conn_id: str | None) -> str:
    """
    Return ``uri`` with ``conn_id`` as the user part (``s3://conn@bucket/key``), as ObjectStoragePath reads it.

    A ``file://`` URI, an empty ``conn_id`` or a URI that already names a connection is returned unchanged.
    """
    uri = uri.rstrip("/")
    scheme, separator, rest = uri.partition("://")
    if not conn_id or not separator or scheme == "file" or "@" in rest.split("/", 1)[0]:
        return uri
    return f"{scheme}://{conn_id}@{rest}"


def read_json(uri: str) -> Any:
    with ObjectStoragePath(uri).open("r", encoding="utf-8") as handle:
        return json.load(handle)


def read_jsonl(uri: str) -> list[dict[str, Any]]:
    with ObjectStoragePath(uri).open("r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


with DAG(
    dag_id="mircate_catalog_sync",
    description="Upsert a catalog into Mircate, attach images, export it and fetch resized images.",
    schedule=None,
    catchup=False,
    tags=["mircate", "example"],
    doc_md=__doc__,
    user_defined_macros={"with_conn": with_conn},
    params={
        "mircate_conn_id": Param(
            MIRCATE_CONN_ID, type="string", description="The Mircate connection id (type mircate)."
        ),
        "catalog_uri": Param(
            f"file://{DATA}",
            type="string",
            description="Folder with products.csv, variants.jsonl, categories.json, attributes.json "
            "and product_images.jsonl.",
        ),
        "catalog_conn_id": Param(
            "", type="string", description="aws connection for an s3:// catalog_uri; empty for file://."
        ),
        "product_images_uri": Param(
            f"file://{DEMO}/product-images",
            type="string",
            description="Folder with the image files that product_images.jsonl names. Listed files that "
            "are missing are skipped and counted.",
        ),
        "images_uri": Param(
            DEFAULT_IMAGES_URI, type="string", description="Where the resized images are written."
        ),
        "images_conn_id": Param(
            "", type="string", description="aws connection for an s3:// images_uri; empty for file://."
        ),
        "output_uri": Param(
            f"file://{DEMO}/output",
            type="string",
            description="Folder for the export, the image filename list, rejects, the batch error report "
            "and the fetch manifests. Uses images_conn_id.",
        ),
        "image_fit": Param("inside", enum=["inside", "cover", "contain"], description="Resize mode."),
        "image_lists": Param(
            4, type="integer", minimum=1, maximum=64, description="Number of parallel image fetch tasks."
        ),
        "reattach_images": Param(
            False,
            type="boolean",
            description="Attach listed images even to attributes that already have one (creates new "
            "images in Mircate).",
        ),
    },
) as dag:
    catalog = "{{ with_conn(params.catalog_uri, params.catalog_conn_id) }}"
    output = "{{ with_conn(params.output_uri, params.images_conn_id) }}"

    @task(multiple_outputs=True)
    def read_catalog_settings(params: dict[str, Any]) -> dict[str, Any]:
        """Read the category trees and the attribute definitions of the catalog."""
        folder = with_conn(params["catalog_uri"], params["catalog_conn_id"])
        categories = read_json(f"{folder}/categories.json")
        attributes = read_json(f"{folder}/attributes.json")["attributes"]
        log.info("Catalog settings: %d category tree(s), %d attribute(s)", len(categories), len(attributes))
        return {"categories": categories, "attributes": attributes}

    @task
    def read_attribute_options(params: dict[str, Any]) -> list[dict[str, Any]]:
        """Read the options of each select attribute, as keyword arguments of the options operator."""
        folder = with_conn(params["catalog_uri"], params["catalog_conn_id"])
        options = read_json(f"{folder}/attributes.json")["options"]
        return [{"attribute_code": code, "options": values} for code, values in sorted(options.items())]

    settings = read_catalog_settings()
    options = read_attribute_options()

    upsert_categories = MircateUpsertCategoryOperator(
        task_id="upsert_categories", categories=settings["categories"], mircate_conn_id=CONN_ID
    )
    upsert_attributes = MircateUpsertAttributesOperator(
        task_id="upsert_attributes", attributes=settings["attributes"], mircate_conn_id=CONN_ID
    )
    upsert_options = MircateUpsertAttributeOptionsOperator.partial(
        task_id="upsert_attribute_options", mircate_conn_id=CONN_ID
    ).expand_kwargs(options)

    # CSV cells are converted with the attribute types from getProductSettings, so attributes and
    # options go first.
    upsert_products = MircateUpsertProductOperator(
        task_id="upsert_products",
        source=f"{catalog}/products.csv",
        batch_size=100,
        on_invalid="skip",
        rejects_path=f"{output}/rejects/products.jsonl",
        mircate_conn_id=CONN_ID,
    )
    upsert_variants = MircateUpsertProductOperator(
        task_id="upsert_variants",
        source=f"{catalog}/variants.jsonl",
        batch_size=100,
        on_invalid="skip",
        rejects_path=f"{output}/rejects/variants.jsonl",
        mircate_conn_id=CONN_ID,
    )
    wait_for_batches = MircateBatchStatusSensor(
        task_id="wait_for_batches",
        batch_ids="{{ (ti.xcom_pull(task_ids='upsert_products')['batch_ids'] "
        "+ ti.xcom_pull(task_ids='upsert_variants')['batch_ids']) | tojson }}",
        deferrable=True,
        poke_interval=2,
        timeout=30 * 60,
        error_report_path=f"{output}/batch_errors.jsonl",
        mircate_conn_id=CONN_ID,
    )

    @task
    def select_images_to_attach(params: dict[str, Any]) -> list[dict[str, str]]:
        """
        List the images to attach as ``{path, product_id, attribute_code}``.

        A listed file that does not exist is skipped with a warning. Unless ``reattach_images`` is set,
        so is every image of an attribute that already has a value, because Mircate cannot detach an
        image and each attach call stores a new one.
        """
        folder = with_conn(params["catalog_uri"], params["catalog_conn_id"])
        source = ObjectStoragePath(with_conn(params["product_images_uri"], params["catalog_conn_id"]))
        listed = read_jsonl(f"{folder}/product_images.jsonl")

        present = [item for item in listed if (source / item["file"]).exists()]
        if len(present) < len(listed):
            log.warning(
                "%d of %d listed image file(s) are missing under %s and are skipped; "
                "run example_dags/data/make_images.py to draw them",
                len(listed) - len(present),
                len(listed),
                source,
            )

        filled: set[tuple[str, str]] = set()
        if not params["reattach_images"]:
            product_ids = sorted({item["product_id"] for item in present})
            with MircateHook(get_current_context()["params"]["mircate_conn_id"]) as hook:
                for start in range(0, len(product_ids), 100):
                    chunk = product_ids[start : start + 100]
                    for record in hook.get_products(filters={"idList": chunk}, page_size=100):
                        data = record.get("data") or {}
                        key = (
                            data.get("code") if record.get("dataType") == "PRODUCT_MODEL" else data.get("sku")
                        )
                        for attribute in data.get("attributes") or []:
                            if any(entry.get("value") for entry in attribute.get("data") or []):
                                filled.add((str(key), attribute.get("code")))

        selected = [
            {
                "path": str(source / item["file"]),
                "product_id": item["product_id"],
                "attribute_code": item["attribute_code"],
            }
            for item in present
            if (item["product_id"], item["attribute_code"]) not in filled
        ]
        log.info(
            "Attaching %d image(s); %d already attached and kept", len(selected), len(present) - len(selected)
        )
        return selected

    images_to_attach = select_images_to_attach()
    attach_images = MircateAttachProductAttributeImageOperator(
        task_id="attach_images",
        images=images_to_attach,
        mircate_conn_id=CONN_ID,
    )

    export_products = MircateGetProductsOperator(
        task_id="export_products",
        destination=f"{output}/products.jsonl",
        image_filenames_path=f"{output}/image_filenames.txt",
        mircate_conn_id=CONN_ID,
    )

    @task
    def split_image_filenames(export: dict[str, Any], params: dict[str, Any]) -> list[list[str]]:
        """Split the exported filename list into at most ``image_lists`` lists of equal size."""
        if not export.get("image_count"):
            return []
        size = math.ceil(export["image_count"] / params["image_lists"])
        lists = chunk_filenames(export["image_filenames_path"], size)
        log.info("Split %d image filename(s) into %d list(s)", export["image_count"], len(lists))
        return lists

    filename_lists = split_image_filenames(export_products.output)

    fetch_images = MircateImageFetchOperator.partial(
        task_id="fetch_images",
        destination="{{ with_conn(params.images_uri, params.images_conn_id) }}",
        width=IMAGE_SIZE,
        height=IMAGE_SIZE,
        fit="{{ params.image_fit }}",
        format="webp",
        quality=80,
        overwrite=False,
        on_missing="fail",
        max_concurrency=8,
        manifest_path=f"{output}/manifests/fetch-{{{{ ti.map_index }}}}.jsonl",
        mircate_conn_id=CONN_ID,
    ).expand(filenames=filename_lists)

    @task(outlets=[PRODUCT_IMAGES])
    def report(
        products: dict[str, Any],
        variants: dict[str, Any],
        batches: dict[str, Any],
        attached: list[str],
        export: dict[str, Any],
        fetches: Sequence[dict[str, Any]],
        params: dict[str, Any],
        outlet_events: Any = None,
    ) -> dict[str, Any]:
        """Log the counts of the run, return them, and record where the images went on the asset."""
        # Indexing by position reads exactly the mapped results; iterating would probe one past the end.
        fetches = [fetches[index] for index in range(len(fetches))]
        summary = {
            "upserted": products["upserted"] + variants["upserted"],
            "rejected": products["rejected"] + variants["rejected"],
            "batches": len(batches.get("batch_ids") or []),
            "batch_items_failed": batches.get("failed", 0),
            "images_attached": len(attached),
            "exported": export["count"],
            "image_filenames": export["image_count"],
            "images_fetched": sum(f["fetched"] for f in fetches),
            "images_skipped": sum(f["skipped"] for f in fetches),
            "images_missing": sum(f["missing"] for f in fetches),
            "image_bytes": sum(f["bytes"] for f in fetches),
            "export_path": export["path"],
            "images_uri": params["images_uri"],
            "manifests": [f["manifest_path"] for f in fetches],
        }
        for name, value in summary.items():
            if name != "manifests":
                log.info("%s: %s", name, value)
        if outlet_events is not None:
            outlet_events[PRODUCT_IMAGES].extra = {
                "images_uri": params["images_uri"],
                "fetched": summary["images_fetched"],
                "skipped": summary["images_skipped"],
            }
        return summary

    summary = report(
        upsert_products.output,
        upsert_variants.output,
        wait_for_batches.output,
        attach_images.output,
        export_products.output,
        fetch_images.output,
    )

    settings >> [upsert_categories, upsert_attributes]
    upsert_attributes >> upsert_options >> [upsert_products, upsert_variants]
    upsert_categories >> [upsert_products, upsert_variants]
    [upsert_products, upsert_variants] >> wait_for_batches >> images_to_attach
    attach_images >> export_products


if __name__ == "__main__":
    dag.test()
