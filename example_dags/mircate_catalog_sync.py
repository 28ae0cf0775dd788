"""
Sync a product catalog from object storage into Mircate, then publish resized product images.

The steps, in order:

1. Read ``categories.json`` and ``attributes.json`` from the catalog folder and upsert the category
   trees, the attributes and the options of each select attribute (one mapped task per attribute).
2. Bulk-upsert the simple products from ``products.csv`` and the product models with their variants
   from ``variants.jsonl``, then wait for every batch with the deferrable batch status sensor.
3. Attach the product images listed in ``product_images.jsonl``. Every attach call stores a new image,
   so each one is added to an attach record under ``output_uri`` (product, attribute, sha256 of the file
   and the returned filename). A rerun attaches only content the record does not list for that product
   and attribute. A recorded image that the attribute no longer references, for example because the
   upsert replaced the attribute values, is re-linked to its recorded filename by upserting the product.
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

import base64
import hashlib
import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import DAG, Asset, ObjectStoragePath, Param, task

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
from airflow_provider_mircate.utils.attach_checks import AttachSource
from airflow_provider_mircate.utils.storage import atomic_writer

if TYPE_CHECKING:
    from airflow.sdk import Context

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
# getProducts page size, and the number of ids in one idList filter.
PRODUCTS_PER_REQUEST = 100
# The attach record under output_uri: one JSON line per attached image with product_id, attribute_code,
# the sha256 of the file and the filename the attach call returned.
ATTACH_RECORD = "attached_images.jsonl"


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


def product_key(record: dict[str, Any]) -> str:
    """Return the id that attach calls and ``idList`` take: the sku, or the code of a product model."""
    data = record.get("data") or {}
    return str(data.get("code") if record.get("dataType") == "PRODUCT_MODEL" else data.get("sku"))


def file_sha256(path: ObjectStoragePath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def image_values(attribute: dict[str, Any]) -> list[str]:
    """Return the filenames an IMAGE (a string) or IMAGE_LIST (a list) attribute entry references."""
    filenames: list[str] = []
    for entry in attribute.get("data") or []:
        value = entry.get("value")
        if isinstance(value, str) and value:
            filenames.append(value)
        elif isinstance(value, list):
            filenames.extend(name for name in value if isinstance(name, str) and name)
    return filenames


def read_image_values(hook: MircateHook, product_ids: list[str]) -> dict[tuple[str, str], list[str]]:
    """Read the products and return the filenames of each (product id, attribute code) that has any."""
    values: dict[tuple[str, str], list[str]] = {}
    for start in range(0, len(product_ids), PRODUCTS_PER_REQUEST):
        chunk = product_ids[start : start + PRODUCTS_PER_REQUEST]
        for record in hook.get_products(filters={"idList": chunk}, page_size=PRODUCTS_PER_REQUEST):
            key = product_key(record)
            for attribute in (record.get("data") or {}).get("attributes") or []:
                filenames = image_values(attribute)
                if filenames:
                    values[(key, attribute.get("code"))] = filenames
    return values


def set_image_value(record: dict[str, Any], code: str, types: dict[str, Any], filename: str) -> None:
    """
    Make attribute ``code`` of ``record`` reference ``filename``, in place.

    An IMAGE attribute takes the filename as its value, and an IMAGE_LIST attribute gets it appended
    unless it is already listed. Values with a locale or scope are left as they are.
    """
    data = record.setdefault("data", {})
    attributes = data.setdefault("attributes", [])
    attribute = next((a for a in attributes if a.get("code") == code), None)
    if attribute is None:
        attribute = {"code": code, "data": []}
        attributes.append(attribute)
    entry = next((e for e in attribute.get("data") or [] if not e.get("locale") and not e.get("scope")), None)
    if entry is None:
        entry = {"value": None}
        attribute.setdefault("data", []).append(entry)
    if types.get(code) == "IMAGE_LIST":
        current = entry["value"] if isinstance(entry.get("value"), list) else []
        entry["value"] = current if filename in current else [*current, filename]
    else:
        entry["value"] = filename


def attach_record_uri(params: dict[str, Any]) -> str:
    return f"{with_conn(params['output_uri'], params['images_conn_id'])}/{ATTACH_RECORD}"


def read_attach_record(uri: str) -> dict[tuple[str, str, str], str]:
    """
    Read the attach record: (product id, attribute code, sha256 of the file) to the returned filename.

    A missing file is an empty record. A later line for the same key replaces an earlier one.
    """
    path = ObjectStoragePath(uri)
    if not path.exists():
        return {}
    return {
        (entry["product_id"], entry["attribute_code"], entry["sha256"]): entry["filename"]
        for entry in read_jsonl(uri)
    }


def write_attach_record(uri: str, record: dict[tuple[str, str, str], str]) -> None:
    """Write the whole attach record as JSON lines, replacing the file only once it is complete."""
    with atomic_writer(ObjectStoragePath(uri), "w") as handle:
        for (product_id, code, sha256), filename in sorted(record.items()):
            entry = {"product_id": product_id, "attribute_code": code, "sha256": sha256, "filename": filename}
            handle.write(json.dumps(entry, sort_keys=True) + "\n")


class RecordingAttachImageOperator(MircateAttachProductAttributeImageOperator):
    """
    Attach product attribute images and add each one to the attach record at ``record_uri``.

    The record is written when ``execute`` ends, also when an attach call raises, so a rerun does not
    attach the images that went in before the failure.
    NOTE: a task killed mid-way (SIGKILL, out of memory) writes no record, so a rerun attaches the
    images of that try again.

    :param record_uri: the JSON-lines attach record (templated).
    """

    template_fields: Sequence[str] = (
        *MircateAttachProductAttributeImageOperator.template_fields,
        "record_uri",
    )

    def __init__(self, *, record_uri: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record_uri = record_uri
        self._attached: dict[tuple[str, str, str], str] = {}

    def attach(self, source: AttachSource, image_base64: str) -> dict[str, Any]:
        answer = super().attach(source, image_base64)
        filename = answer.get("filename") if isinstance(answer, dict) else None
        if isinstance(filename, str) and filename:
            sha256 = hashlib.sha256(base64.b64decode(image_base64)).hexdigest()
            key = (source.fields["product_id"], source.fields["attribute_code"], sha256)
            self._attached[key] = filename
        return answer

    def execute(self, context: Context) -> list[str]:
        self._attached = {}
        try:
            return super().execute(context)
        finally:
            if self._attached:
                record = read_attach_record(self.record_uri)
                record.update(self._attached)
                write_attach_record(self.record_uri, record)
                self.log.info(
                    "Recorded %d attached image(s) in %s (%d in all)",
                    len(self._attached),
                    self.record_uri,
                    len(record),
                )


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
            description="Folder for the export, the image filename list, rejects, the batch error report, "
            "the attach record and the fetch manifests. Uses images_conn_id.",
        ),
        "image_fit": Param("inside", enum=["inside", "cover", "contain"], description="Resize mode."),
        "image_lists": Param(
            4, type="integer", minimum=1, maximum=64, description="Number of parallel image fetch tasks."
        ),
        "reattach_images": Param(
            False,
            type="boolean",
            description="Attach every listed image, even one that the attach record lists or whose "
            "attribute already has a value (creates new images in Mircate).",
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

    @task(multiple_outputs=True)
    def plan_image_attach(params: dict[str, Any]) -> dict[str, Any]:
        """
        Sort the listed images into those to attach, those to re-link and those to keep.

        Unless ``reattach_images`` is set, an image whose content (by sha256) the attach record lists for
        its product and attribute is not attached again. When the attribute no longer references the
        recorded filename, the image is re-linked to it. Other images are attached when the record lists
        other content for their attribute or the attribute is empty. An image of an attribute that has a
        value and no record entry is kept, because Mircate cannot detach an image and each attach call
        stores a new one. A listed file that does not exist is skipped with a warning.
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

        record = read_attach_record(attach_record_uri(params))
        recorded_pairs = {(product_id, code) for product_id, code, _ in record}
        with MircateHook(params["mircate_conn_id"]) as hook:
            values = read_image_values(hook, sorted({item["product_id"] for item in present}))

        attach: list[dict[str, str]] = []
        relink: list[dict[str, str]] = []
        kept = 0
        for item in present:
            product_id, code = item["product_id"], item["attribute_code"]
            path = source / item["file"]
            filename = record.get((product_id, code, file_sha256(path)))
            current = values.get((product_id, code), [])
            if params["reattach_images"] or (filename is None and (product_id, code) in recorded_pairs):
                attach.append({"path": str(path), "product_id": product_id, "attribute_code": code})
            elif filename is None:
                if current:
                    kept += 1
                else:
                    attach.append({"path": str(path), "product_id": product_id, "attribute_code": code})
            elif filename in current:
                kept += 1
            else:
                relink.append({"product_id": product_id, "attribute_code": code, "filename": filename})
        log.info(
            "Images: %d to attach, %d to re-link to their recorded filename, %d already set and kept",
            len(attach),
            len(relink),
            kept,
        )
        return {"attach": attach, "relink": relink, "kept": kept}

    @task
    def relink_images(relink: list[dict[str, str]], params: dict[str, Any]) -> int:
        """
        Point product attributes back at images attached by an earlier run; return the number re-linked.

        Each product is read, its IMAGE attribute set to the filename (or the filename appended to its
        IMAGE_LIST attribute) and the whole record upserted, so no other value changes.
        """
        if not relink:
            return 0
        by_product: dict[str, list[dict[str, str]]] = {}
        for item in relink:
            by_product.setdefault(item["product_id"], []).append(item)

        relinked = 0
        with MircateHook(params["mircate_conn_id"]) as hook:
            types = {
                a.get("code"): a.get("type") for a in hook.get_product_settings().get("attributes") or []
            }
            product_ids = sorted(by_product)
            for start in range(0, len(product_ids), PRODUCTS_PER_REQUEST):
                chunk = product_ids[start : start + PRODUCTS_PER_REQUEST]
                records = hook.get_products(filters={"idList": chunk}, page_size=PRODUCTS_PER_REQUEST)
                for record in records:
                    items = by_product.pop(product_key(record), [])
                    if not items:
                        continue
                    for item in items:
                        set_image_value(record, item["attribute_code"], types, item["filename"])
                    body = {key: record[key] for key in ("dataType", "parent", "data") if key in record}
                    hook.upsert_product(body)
                    relinked += len(items)
        if by_product:
            log.warning(
                "%d product(s) to re-link were not found, so their images stay unlinked (first ids: %s). "
                "Check the upsert rejects under %s/rejects/.",
                len(by_product),
                sorted(by_product)[:20],
                params["output_uri"],
            )
        log.info("Re-linked %d image(s) to their recorded filename", relinked)
        return relinked

    plan = plan_image_attach()
    relinked = relink_images(plan["relink"])
    attach_images = RecordingAttachImageOperator(
        task_id="attach_images",
        images=plan["attach"],
        record_uri=f"{output}/attached_images.jsonl",
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
        relinked: int,
        kept: int,
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
            "images_relinked": relinked,
            "images_kept": kept,
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
        relinked,
        plan["kept"],
        export_products.output,
        fetch_images.output,
    )

    settings >> [upsert_categories, upsert_attributes]
    upsert_attributes >> upsert_options >> [upsert_products, upsert_variants]
    upsert_categories >> [upsert_products, upsert_variants]
    [upsert_products, upsert_variants] >> wait_for_batches >> plan
    relinked >> attach_images >> export_products


if __name__ == "__main__":
    dag.test()
