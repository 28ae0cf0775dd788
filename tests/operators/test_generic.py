"""MircateOperator against the emulator: PIM calls, unknown classes, and large responses."""

from __future__ import annotations

import json

import pytest

from airflow_provider_mircate.exceptions import MircateNotFoundError, MircateValidationError
from airflow_provider_mircate.operators.generic import MircateOperator
from airflow_provider_mircate.testing.emulator.pim import store_product


def test_pim_method_returns_response(mircate_conn):
    operator = MircateOperator(
        task_id="call", api_class="PIMAPI", method="getProductSettings", http_method="get"
    )

    result = operator.execute({})

    assert "productSettings" in result
    assert mircate_conn.calls("getProductSettings")[0]["http_method"] == "GET"


def test_post_sends_templated_body(mircate_conn):
    for sku in ("shoe_1", "shoe_2", "hat_1"):
        store_product(mircate_conn.state, {"dataType": "PRODUCT", "data": {"sku": sku, "family": "f"}})
    operator = MircateOperator(
        task_id="call", api_class="PIMAPI", method="getProducts", body={"searchText": "{{ params.term }}*"}
    )
    operator.render_template_fields({"params": {"term": "shoe"}})

    result = operator.execute({})

    assert operator.body == {"searchText": "shoe*"}
    assert result["totalProducts"] == 2


def test_unknown_class_error_names_method(mircate_conn):
    operator = MircateOperator(task_id="call", api_class="PromotionAPI", method="getActivePromotions")

    with pytest.raises(MircateNotFoundError, match="getActivePromotions"):
        operator.execute({})


def add_large_catalog(emulator):
    for index in range(300):
        data = {"sku": f"sku{index}", "family": "shoes", "status": "ACTIVE", "label": "x" * 200}
        store_product(emulator.state, {"dataType": "PRODUCT", "data": data})


def test_large_response_requires_response_path(mircate_conn):
    add_large_catalog(mircate_conn)
    operator = MircateOperator(
        task_id="call", api_class="PIMAPI", method="getProducts", body={"pageSize": 300}
    )

    with pytest.raises(MircateValidationError, match="response_path"):
        operator.execute({})


def test_large_response_written_to_path(mircate_conn, tmp_path):
    add_large_catalog(mircate_conn)
    path = tmp_path / "response.json"
    operator = MircateOperator(
        task_id="call",
        api_class="PIMAPI",
        method="getProducts",
        body={"pageSize": 300},
        response_path=str(path),
    )

    result = operator.execute({})

    stored = json.loads(path.read_text())
    assert result == {"path": f"file://{path}", "bytes": path.stat().st_size}
    assert stored["totalProducts"] == 300
    assert result["bytes"] > 64 * 1024
