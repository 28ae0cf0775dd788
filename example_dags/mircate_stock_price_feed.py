"""
Push a supplier's hourly stock and price drop to Mircate, wait for the batches, then archive the drop.

Every hour the supplier drops ``prices.csv`` (sku, price, currency, channel, listPrice) and ``stock.csv``
(sku, quantity, warehouse) into one folder. This DAG:

1. Finds the drop folder: the ``feed_uri`` param, else the Airflow Variable ``mircate_merchant_feed_uri``,
   else ``.demo/merchant/incoming`` under the repository. When that local default is empty, the example
   drop from ``example_dags/data/merchant`` is copied there, so the DAG runs offline.
2. Validates and sends both files in 500-item batches under one ``bulkOperationId`` per task run.
3. Waits for every batch with the deferrable batch status sensor.
4. Moves both files to ``archive/<logical date>/`` beside the drop folder.

For ``s3://`` drops give an ``aws`` connection in ``feed_conn_id``. The merchant connection id comes
from the environment variable ``MIRCATE_MERCHANT_CONN_ID`` (default ``mircate_merchant_default``): a
``mircate`` connection with extra ``api=merchant``, see ``docs/merchant.md``.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, ObjectStoragePath, Param, Variable, task

from airflow_provider_mircate.operators.merchant import (
    MircateReceivePriceOperator,
    MircateReceiveStockOperator,
)
from airflow_provider_mircate.sensors.batch import MircateBatchStatusSensor

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_DROP = Path(__file__).resolve().parent / "data" / "merchant"
DEFAULT_FEED_URI = f"file://{REPO}/.demo/merchant/incoming"
FEED_FILES = ("prices.csv", "stock.csv")

# NOTE: the operators do not template their connection id, so it is fixed when the file is parsed.
MERCHANT_CONN_ID = os.environ.get("MIRCATE_MERCHANT_CONN_ID", "mircate_merchant_default")


def drop_path(uri: str, conn_id: str | None) -> ObjectStoragePath:
    """Return the drop folder as a path on its object store."""
    return ObjectStoragePath(uri.rstrip("/") + "/", conn_id=conn_id or None)


with DAG(
    dag_id="mircate_stock_price_feed",
    description="Send the supplier's hourly stock and price CSV drop to Mircate and archive it.",
    schedule="@hourly",
    catchup=False,
    max_active_runs=1,
    tags=["mircate", "merchant", "example"],
    doc_md=__doc__,
    params={
        "feed_uri": Param(
            "",
            type="string",
            description="Drop folder with prices.csv and stock.csv. Empty: the Variable "
            "mircate_merchant_feed_uri, else a local folder under the repository.",
        ),
        "feed_conn_id": Param(
            "", type="string", description="aws connection for an s3:// drop; empty for file://."
        ),
    },
) as dag:

    @task
    def locate_drop(params: dict[str, Any]) -> str:
        """Return the drop folder URI, copying the example drop into the local default when it is empty."""
        uri = (
            params["feed_uri"] or Variable.get("mircate_merchant_feed_uri", default=None) or DEFAULT_FEED_URI
        )
        folder = drop_path(uri, params["feed_conn_id"])
        if uri == DEFAULT_FEED_URI and not any((folder / name).exists() for name in FEED_FILES):
            local = Path(folder.path)
            local.mkdir(parents=True, exist_ok=True)
            for name in FEED_FILES:
                shutil.copyfile(EXAMPLE_DROP / name, local / name)
            log.info("Copied the example drop into %s", local)
        missing = [name for name in FEED_FILES if not (folder / name).exists()]
        if missing:
            raise FileNotFoundError(
                f"The drop folder {uri} lacks {missing}; the supplier has not delivered yet."
            )
        return uri.rstrip("/")

    drop = locate_drop()

    push_prices = MircateReceivePriceOperator(
        task_id="push_prices",
        mircate_conn_id=MERCHANT_CONN_ID,
        source="{{ ti.xcom_pull(task_ids='locate_drop') }}/prices.csv",
        source_conn_id="{{ params.feed_conn_id or '' }}",
    )
    push_stock = MircateReceiveStockOperator(
        task_id="push_stock",
        mircate_conn_id=MERCHANT_CONN_ID,
        source="{{ ti.xcom_pull(task_ids='locate_drop') }}/stock.csv",
        source_conn_id="{{ params.feed_conn_id or '' }}",
    )

    waits = [
        MircateBatchStatusSensor(
            task_id=f"wait_{feed.task_id.removeprefix('push_')}",
            batch_ids=feed.output,
            mircate_conn_id=MERCHANT_CONN_ID,
            api_class="MerchantAPI",
            http_method="GET",
            deferrable=True,
            poke_interval=30,
            timeout=3 * 3600,
        )
        for feed in (push_prices, push_stock)
    ]

    @task
    def archive_drop(uri: str, params: dict[str, Any], ts_nodash: str | None = None) -> list[str]:
        """Move the drop's files to ``archive/<logical date>/`` beside the drop folder."""
        folder = drop_path(uri, params["feed_conn_id"])
        archive = folder.parent / "archive" / str(ts_nodash)
        archive.mkdir(parents=True, exist_ok=True)
        moved = []
        for name in FEED_FILES:
            source = folder / name
            target = archive / name
            source.copy(target)
            source.unlink()
            moved.append(str(target))
        log.info("Archived %s to %s", list(FEED_FILES), archive)
        return moved

    drop >> [push_prices, push_stock]
    waits >> archive_drop(drop)


if __name__ == "__main__":
    dag.test()
