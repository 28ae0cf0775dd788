"""
Fetch every catalog image that is missing from object storage; safe to run again and again.

The image filenames come from a text file (``filenames_uri``, one filename a line) or, when that param
is empty, from a fresh export of the catalog: ``MircateGetProductsOperator`` writes the filenames found
in IMAGE and IMAGE_LIST attributes. The list is split into ``image_lists`` parts, and one mapped
``MircateImageFetchOperator`` task per part fetches its images with ``overwrite=False``: an image whose
object already exists is recorded as ``skipped`` in the manifest and not requested again. A second run
over the same list therefore sends no ``getImage`` call.

The Mircate connection id is the param ``mircate_conn_id``, whose default comes from the environment
variable ``MIRCATE_CONN_ID`` (else ``mircate_default``). For ``s3://`` locations give an ``aws`` connection in ``images_conn_id``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_mircate.operators.export import MircateGetProductsOperator
from airflow_provider_mircate.operators.images import MircateImageFetchOperator, chunk_filenames

log = logging.getLogger(__name__)

DEMO = Path(__file__).resolve().parents[1] / ".demo"
# The default of the mircate_conn_id param; the operators render "{{ params.mircate_conn_id }}".
MIRCATE_CONN_ID = os.environ.get("MIRCATE_CONN_ID", "mircate_default")
CONN_ID = "{{ params.mircate_conn_id }}"


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


with DAG(
    dag_id="mircate_image_backfill",
    description="Fetch the catalog images that are missing from object storage.",
    schedule=None,
    catchup=False,
    tags=["mircate", "example"],
    doc_md=__doc__,
    user_defined_macros={"with_conn": with_conn},
    params={
        "mircate_conn_id": Param(
            MIRCATE_CONN_ID, type="string", description="The Mircate connection id (type mircate)."
        ),
        "filenames_uri": Param(
            "",
            type="string",
            description="Text file with one image filename a line; empty exports the catalog's image "
            "filenames first.",
        ),
        "images_uri": Param(
            f"file://{DEMO}/backfill/images", type="string", description="Where the images are written."
        ),
        "images_conn_id": Param(
            "", type="string", description="aws connection for s3:// locations; empty for file://."
        ),
        "output_uri": Param(
            f"file://{DEMO}/backfill/output",
            type="string",
            description="Folder for the export, the filename list and the manifests. Uses images_conn_id.",
        ),
        "width": Param(800, type="integer", minimum=1, maximum=10000, description="Width in pixels."),
        "height": Param(800, type="integer", minimum=1, maximum=10000, description="Height in pixels."),
        "fit": Param(
            "inside", enum=["inside", "cover", "contain", "fill", "outside"], description="Resize mode."
        ),
        "format": Param("webp", enum=["webp", "jpeg", "png", "avif"], description="Output format."),
        "image_lists": Param(
            2, type="integer", minimum=1, maximum=64, description="Number of parallel image fetch tasks."
        ),
    },
) as dag:
    output = "{{ with_conn(params.output_uri, params.images_conn_id) }}"

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def needs_export(params: dict[str, Any]) -> bool:
        """Skip the export when a filenames file is given."""
        return not params["filenames_uri"]

    export_image_names = MircateGetProductsOperator(
        task_id="export_image_names",
        destination=f"{output}/products.jsonl",
        image_filenames_path=f"{output}/image_filenames.txt",
        mircate_conn_id=CONN_ID,
    )

    @task(trigger_rule="none_failed")
    def split_filenames(params: dict[str, Any], ti: Any = None) -> list[list[str]]:
        """Split the filenames file (given, or written by the export) into ``image_lists`` lists."""
        path = params["filenames_uri"]
        if not path:
            export = ti.xcom_pull(task_ids="export_image_names")
            path = export["image_filenames_path"]
        path = with_conn(path, params["images_conn_id"])
        with ObjectStoragePath(path).open("r", encoding="utf-8") as handle:
            total = sum(1 for line in handle if line.strip())
        if not total:
            log.info("No image filenames in %s: nothing to fetch", path)
            return []
        lists = chunk_filenames(path, math.ceil(total / params["image_lists"]))
        log.info("Split %d image filename(s) from %s into %d list(s)", total, path, len(lists))
        return lists

    filename_lists = split_filenames()

    fetch_images = MircateImageFetchOperator.partial(
        task_id="fetch_images",
        destination="{{ with_conn(params.images_uri, params.images_conn_id) }}",
        width="{{ params.width }}",
        height="{{ params.height }}",
        fit="{{ params.fit }}",
        format="{{ params.format }}",
        overwrite=False,
        on_missing="skip",
        manifest_path=f"{output}/manifests/fetch-{{{{ ti.map_index }}}}.jsonl",
        mircate_conn_id=CONN_ID,
    ).expand(filenames=filename_lists)

    @task
    def report(fetches: Any) -> dict[str, int]:
        """Log and return the image counts of all fetch tasks."""
        results = [fetches[index] for index in range(len(fetches))]
        totals = {
            status: sum(result[status] for result in results)
            for status in ("fetched", "skipped", "missing", "failed", "bytes")
        }
        log.info(
            "Images fetched %d, skipped %d, missing %d, failed %d (%d bytes written)",
            totals["fetched"],
            totals["skipped"],
            totals["missing"],
            totals["failed"],
            totals["bytes"],
        )
        return totals

    needs_export() >> export_image_names >> filename_lists
    report(fetch_images.output)


if __name__ == "__main__":
    dag.test()
