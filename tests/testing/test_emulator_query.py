"""getProducts in the emulator: paging, the result window, filters and sorts."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_mircate.testing.emulator import MircateEmulator
from tests.testing.conftest import ApiClient, product


@pytest.fixture
def stocked(api, emulator):
    """Ten products written one second apart: P0..P9, families alternating, every third enabled."""
    ticks = itertools.count(1_700_000_000)
    emulator.state.clock = lambda: float(next(ticks))
    for i in range(10):
        body = product(
            f"P{i}",
            family="boots" if i % 2 else "sandals",
            enabled=i % 3 == 0,
            groups=["summer"] if i < 5 else [],
            label=f"label {9 - i}",
        )
        if i == 9:
            body["parent"] = "model_1"
        assert api.post("upsertProduct", body).status_code == 200
    model = {
        "dataType": "PRODUCT_MODEL",
        "data": {"sku": "M1", "code": "model_1", "family": "boots", "status": "DRAFT"},
    }
    assert api.post("upsertProduct", model).status_code == 200
    return api


def skus(response):
    return [item["source"]["data"]["sku"] for item in response.json()["products"]]


def test_default_page_is_sku_order(stocked):
    response = stocked.post("getProducts", {})
    assert response.status_code == 200
    body = response.json()
    assert body["pageFrom"] == 0
    assert body["pageSize"] == 50
    assert body["totalProducts"] == 11
    assert skus(response)[:3] == ["M1", "P0", "P1"]
    assert body["products"][0]["score"] == 1.0


def test_offset_paging(stocked):
    pages = [skus(stocked.post("getProducts", {"pageFrom": start, "pageSize": 4})) for start in (0, 4, 8)]
    assert pages == [["M1", "P0", "P1", "P2"], ["P3", "P4", "P5", "P6"], ["P7", "P8", "P9"]]


def test_page_number_paging():
    with MircateEmulator(paging="page") as emulator:
        client = ApiClient(emulator)
        for i in range(5):
            client.post("upsertProduct", product(f"Q{i}"))
        first = skus(client.post("getProducts", {"pageFrom": 1, "pageSize": 2}))
        third = skus(client.post("getProducts", {"pageFrom": 3, "pageSize": 2}))
        zero = client.post("getProducts", {"pageFrom": 0, "pageSize": 2})
        client.close()
    assert first == ["Q0", "Q1"]
    assert third == ["Q4"]
    assert zero.status_code == 400


def test_result_window_over_10000_is_400(stocked):
    response = stocked.post("getProducts", {"pageFrom": 9_990, "pageSize": 11})
    assert response.status_code == 400
    assert "window" in response.json()["message"].lower()


def test_result_window_edge_is_allowed(stocked):
    assert stocked.post("getProducts", {"pageFrom": 9_950, "pageSize": 50}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pageSize": 0}, "pageSize"),
        ({"pageFrom": -1}, "pageFrom"),
        ({"pageSize": "10"}, "pageSize"),
        ({"filters": {"enabled": True}}, "filters.enabled"),
        ({"filters": {"dataType": "THING"}}, "filters.dataType"),
        ({"filters": {"updatedAt": {"gte": "yesterday"}}}, "filters.updatedAt.gte"),
        ({"filters": {"idList": "P1"}}, "filters.idList"),
        ({"filters": {"colour": "red"}}, "filters.colour"),
        ({"sorts": {"price": "asc"}}, "sorts.price"),
        ({"sorts": {"family": "up"}}, "sorts.family"),
    ],
)
def test_invalid_query_is_400(stocked, body, field):
    response = stocked.post("getProducts", body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"idList": ["P3", "P1", "nope"]}, ["P1", "P3"]),
        ({"sku": "P4"}, ["P4"]),
        ({"family": "sandals"}, ["P0", "P2", "P4", "P6", "P8"]),
        ({"parent": "model_1"}, ["P9"]),
        ({"variant": "true"}, ["P9"]),
        ({"group": "summer"}, ["P0", "P1", "P2", "P3", "P4"]),
        ({"dataType": "PRODUCT_MODEL"}, ["M1"]),
        ({"dataType": "PRODUCT,PRODUCT_MODEL", "sku": "M1"}, ["M1"]),
        ({"enabled": "true"}, ["P0", "P3", "P6", "P9"]),
        (
            {"updatedAt": {"gte": "2023-11-14T22:13:22Z", "lte": "2023-11-14T22:13:24.000Z"}},
            ["P2", "P3", "P4"],
        ),
        ({"createdAt": {"lte": "2023-11-14T22:13:21+00:00"}}, ["P0", "P1"]),
    ],
)
def test_filters(stocked, filters, expected):
    assert skus(stocked.post("getProducts", {"filters": filters})) == expected


def test_search_text_wildcard_case_insensitive(stocked):
    assert skus(stocked.post("getProducts", {"searchText": "p*"})) == [f"P{i}" for i in range(10)]
    assert skus(stocked.post("getProducts", {"searchText": "MODEL_*"})) == ["M1"]
    assert skus(stocked.post("getProducts", {"searchText": "9"})) == ["P9"]


def test_sort_updated_at_desc(stocked):
    assert skus(stocked.post("getProducts", {"sorts": {"updatedAt": "desc"}, "pageSize": 3})) == [
        "M1",
        "P9",
        "P8",
    ]


def test_sort_label_asc(stocked):
    response = stocked.post(
        "getProducts", {"sorts": {"label": "asc"}, "filters": {"dataType": "PRODUCT"}, "pageSize": 3}
    )
    assert skus(response) == ["P9", "P8", "P7"]


def test_sort_ties_broken_by_sku(stocked):
    response = stocked.post(
        "getProducts", {"sorts": {"family": "desc", "enabled": "desc"}, "filters": {"dataType": "PRODUCT"}}
    )
    assert skus(response) == ["P0", "P6", "P2", "P4", "P8", "P3", "P9", "P1", "P5", "P7"]


def test_same_instant_writes_share_timestamp(api, emulator):
    emulator.state.clock = lambda: 1_700_000_000.0
    for i in range(3):
        api.post("upsertProduct", product(f"T{i}"))
    stamps = {record["updatedAt"] for record in emulator.state.products.values()}
    assert stamps == {"2023-11-14T22:13:20.000Z"}


def test_query_cache_sees_new_writes(stocked):
    assert stocked.post("getProducts", {"pageSize": 1}).json()["totalProducts"] == 11
    stocked.post("upsertProduct", product("P99"))
    assert stocked.post("getProducts", {"pageSize": 1}).json()["totalProducts"] == 12
    stocked.post("deleteProduct", {"id": "P99"})
    assert stocked.post("getProducts", {"pageSize": 1}).json()["totalProducts"] == 11
