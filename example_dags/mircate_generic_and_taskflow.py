"""
Call Mircate through the generic ``MircateOperator`` and from TaskFlow functions with ``MircateHook``.

- ``catalog_settings`` calls ``PIMAPI/getCatalogSettings`` (GET) through the generic operator and
  returns the JSON response as its XCom value.
- ``active_promotions`` shows a call outside the PIM: ``PromotionAPI/getActivePromotions``. It runs only
  when the param ``call_promotion_api`` is true, because the local emulator implements the PIM and
  merchant APIs only. NOTE: Mircate's reference lists the method name but publishes no body or response
  shape, so the body here is an empty object.
- ``summarize_families`` is a TaskFlow task that uses ``MircateHook`` directly: it reads
  ``getProductSettings`` and counts the products of each family with ``getProducts``.
- ``summarize_locales`` reads the response of ``catalog_settings`` from XCom.

The Mircate connection id is the param ``mircate_conn_id``, whose default comes from the environment
variable ``MIRCATE_CONN_ID`` (else ``mircate_default``).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task

from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.generic import MircateOperator

log = logging.getLogger(__name__)

# The default of the mircate_conn_id param; the operators render "{{ params.mircate_conn_id }}".
MIRCATE_CONN_ID = os.environ.get("MIRCATE_CONN_ID", "mircate_default")
CONN_ID = "{{ params.mircate_conn_id }}"

with DAG(
    dag_id="mircate_generic_and_taskflow",
    description="The generic Mircate operator and MircateHook in TaskFlow tasks.",
    schedule=None,
    catchup=False,
    tags=["mircate", "example"],
    doc_md=__doc__,
    params={
        "mircate_conn_id": Param(
            MIRCATE_CONN_ID, type="string", description="The Mircate connection id (type mircate)."
        ),
        "call_promotion_api": Param(
            False,
            type="boolean",
            description="Also call PromotionAPI/getActivePromotions; needs a live account with promotions.",
        ),
    },
) as dag:
    catalog_settings = MircateOperator(
        task_id="catalog_settings",
        api_class="PIMAPI",
        method="getCatalogSettings",
        http_method="GET",
        mircate_conn_id=CONN_ID,
    )

    @task
    def summarize_locales(response: dict[str, Any]) -> dict[str, Any]:
        """Return the enabled locales and currencies and the number of top-level categories."""
        settings = response.get("catalogSettings", response)
        summary = {
            "locales": settings.get("enabledLocales") or [],
            "currencies": settings.get("enabledCurrencies") or [],
            "category_trees": len(settings.get("categories") or []),
        }
        log.info("Catalog settings: %s", summary)
        return summary

    @task
    def summarize_families() -> dict[str, int]:
        """Count the products of each family that ``getProductSettings`` lists."""
        counts: dict[str, int] = {}
        with MircateHook(get_current_context()["params"]["mircate_conn_id"]) as hook:
            families = hook.get_product_settings().get("families") or []
            for family in families:
                code = family.get("code")
                if not code:
                    continue
                # One record a page is enough: only totalProducts is read.
                page = hook.get_products_page(page_size=1, filters={"family": code})
                counts[code] = int(page.get("totalProducts") or 0)
        for code, count in sorted(counts.items()):
            log.info("Family %s: %d product(s)", code, count)
        return counts

    @task.short_circuit
    def promotion_api_enabled(params: dict[str, Any]) -> bool:
        """Skip the promotion call unless ``call_promotion_api`` is set."""
        return bool(params["call_promotion_api"])

    active_promotions = MircateOperator(
        task_id="active_promotions",
        api_class="PromotionAPI",
        method="getActivePromotions",
        http_method="POST",
        body={},
        mircate_conn_id=CONN_ID,
    )

    summarize_locales(catalog_settings.output)
    summarize_families()
    promotion_api_enabled() >> active_promotions


if __name__ == "__main__":
    dag.test()
