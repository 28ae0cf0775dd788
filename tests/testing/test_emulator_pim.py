"""PIM methods of the emulator: products, validation, settings, categories, attributes and batches."""

from __future__ import annotations

import pytest

from tests.testing.conftest import product

ATTRIBUTES = [
    {"code": "name", "type": "TEXT"},
    {"code": "weight", "type": "NUMBER", "negativeAllowed": False, "decimalsAllowed": True, "max": 100},
    {"code": "pieces", "type": "NUMBER", "decimalsAllowed": False},
    {"code": "waterproof", "type": "BOOLEAN"},
    {"code": "price", "type": "PRICE"},
    {"code": "launch", "type": "DATE", "min": "2020-01-01"},
    {"code": "color", "type": "SIMPLESELECT"},
    {"code": "sizes", "type": "MULTISELECT"},
    {"code": "photo", "type": "IMAGE", "maxFileSizeInMB": 1, "allowedExtensions": ["png"]},
    {"code": "gallery", "type": "IMAGE_LIST"},
]


def with_attribute(sku: str, code: str, value):
    return product(sku, attributes=[{"code": code, "data": [{"value": value}]}])


@pytest.fixture
def catalog(api):
    assert api.post("upsertAttributes", {"attributes": ATTRIBUTES}).status_code == 200
    options = {"code": "color", "options": [{"code": "red", "label": []}, {"code": "blue", "label": []}]}
    assert api.post("upsertAttributeOptions", options).status_code == 200
    sizes = {"code": "sizes", "options": [{"code": "s"}, {"code": "m"}]}
    assert api.post("upsertAttributeOptions", sizes).status_code == 200
    return api


def test_upsert_product_returns_stored_record(api):
    response = api.post("upsertProduct", product("SKU_1", enabled=True))
    assert response.status_code == 200
    stored = response.json()
    assert stored["dataType"] == "PRODUCT"
    assert stored["data"]["sku"] == "SKU_1"
    assert stored["data"]["enabled"] is True
    assert stored["createdAt"] == stored["updatedAt"]
    assert stored["createdAt"].endswith("Z")


def test_upsert_keeps_created_at_and_moves_updated_at(api, emulator):
    ticks = iter([1000.0, 2000.0])
    emulator.state.clock = lambda: next(ticks)
    first = api.post("upsertProduct", product("SKU_2")).json()
    second = api.post("upsertProduct", product("SKU_2", status="ACTIVE")).json()
    assert second["createdAt"] == first["createdAt"] == "1970-01-01T00:16:40.000Z"
    assert second["updatedAt"] == "1970-01-01T00:33:20.000Z"
    assert second["data"]["status"] == "ACTIVE"
    assert len(emulator.state.products) == 1


def test_timestamps_never_go_backwards(api, emulator):
    ticks = iter([5000.0, 4000.0])
    emulator.state.clock = lambda: next(ticks)
    first = api.post("upsertProduct", product("SKU_3")).json()
    second = api.post("upsertProduct", product("SKU_4")).json()
    assert second["updatedAt"] == first["updatedAt"]


def test_product_model_keyed_by_code(api, emulator):
    body = {
        "dataType": "PRODUCT_MODEL",
        "data": {"sku": "M_1", "code": "model_1", "family": "f", "status": "DRAFT"},
    }
    assert api.post("upsertProduct", body).status_code == 200
    assert "model_1" in emulator.state.products


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {"sku": "A", "family": "f", "status": "DRAFT"}}, "dataType"),
        ({"dataType": "THING", "data": {"sku": "A", "family": "f", "status": "DRAFT"}}, "dataType"),
        ({"dataType": "PRODUCT"}, "data"),
        ({"dataType": "PRODUCT", "data": {"family": "f", "status": "DRAFT"}}, "data.sku"),
        (product("bad-sku"), "data.sku"),
        (product("A" * 256), "data.sku"),
        ({"dataType": "PRODUCT", "data": {"sku": "A", "status": "DRAFT"}}, "data.family"),
        ({"dataType": "PRODUCT", "data": {"sku": "A", "family": "f"}}, "data.status"),
        (product("A", status="LIVE"), "data.status"),
        (product("A", categories="shoes"), "data.categories"),
        (product("A", groups=[1]), "data.groups"),
        (product("A", enabled="yes"), "data.enabled"),
        (product("A", products=[{"sku": "B", "quantity": 0}]), "data.products[0].quantity"),
        ({"dataType": "PRODUCT_MODEL", "data": {"sku": "A", "family": "f", "status": "DRAFT"}}, "data.code"),
    ],
)
def test_upsert_product_validation_400(api, body, field):
    response = api.post("upsertProduct", body)
    assert response.status_code == 400
    assert response.json()["message"]
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("name", 5),
        ("weight", -1),
        ("weight", 101),
        ("weight", "3"),
        ("pieces", 1.5),
        ("waterproof", "true"),
        ("price", [{"amount": 12.5, "currency": "EUR"}]),
        ("price", [{"amount": "12.50", "currency": "eur"}]),
        ("launch", "2019-12-31"),
        ("launch", "2021-02-30"),
        ("color", "green"),
        ("sizes", ["s", "xl"]),
        ("gallery", "one.png"),
    ],
)
def test_attribute_value_validation_400(catalog, code, value):
    response = catalog.post("upsertProduct", with_attribute("ATTR_1", code, value))
    assert response.status_code == 400
    assert code in response.json()["message"]


@pytest.mark.parametrize(
    ("code", "value"),
    [
        ("name", "Boot"),
        ("weight", 2.5),
        ("pieces", 2),
        ("waterproof", True),
        ("price", [{"amount": "12.50", "currency": "EUR"}]),
        ("launch", "2024-05-01"),
        ("color", "red"),
        ("sizes", ["s", "m"]),
        ("gallery", ["a.png"]),
        ("unknown_attribute", {"anything": 1}),
    ],
)
def test_attribute_value_accepted(catalog, code, value):
    assert catalog.post("upsertProduct", with_attribute("ATTR_2", code, value)).status_code == 200


def test_delete_product(api, emulator):
    api.post("upsertProduct", product("DEL_1"))
    response = api.post("deleteProduct", {"id": "DEL_1"})
    assert response.status_code == 200
    assert "DEL_1" not in emulator.state.products


def test_delete_product_without_id_is_400(api):
    response = api.post("deleteProduct", {})
    assert response.status_code == 400
    assert response.json()["message"] == "'id' required!"


def test_delete_unknown_product_is_404(api):
    assert api.post("deleteProduct", {"id": "NOPE"}).status_code == 404


def test_product_settings_reflect_upserts(catalog):
    catalog.post("upsertProduct", product("SET_1", family="boots", groups=["summer"]))
    settings = catalog.get("getProductSettings").json()["productSettings"]
    assert {a["code"] for a in settings["attributes"]} == {a["code"] for a in ATTRIBUTES}
    assert {(o["attributeCode"], o["code"]) for o in settings["attributeOptions"]} == {
        ("color", "red"), ("color", "blue"), ("sizes", "s"), ("sizes", "m"),
    }  # fmt: skip
    assert {"code": "boots"} in settings["families"]
    assert {"code": "summer"} in settings["groups"]


def test_catalog_settings_defaults(api):
    settings = api.get("getCatalogSettings").json()["catalogSettings"]
    assert settings["enabledLocales"] == ["en_US", "tr_TR"]
    assert settings["enabledCurrencies"] == ["EUR", "USD", "TRY"]
    assert settings["categories"] == []
    assert settings["channels"]


def test_upsert_category_nests_subcategories(api):
    tree = {
        "code": "shoes",
        "label": [{"locale": "en_US", "value": "Shoes"}],
        "subCategories": [{"code": "boots"}],
    }
    assert api.post("upsertCategory", {"category": tree}).status_code == 200
    assert (
        api.post(
            "upsertCategory", {"category": {"code": "boots", "label": [{"locale": "en_US", "value": "B"}]}}
        ).status_code
        == 200
    )
    categories = api.get("getCatalogSettings").json()["catalogSettings"]["categories"]
    assert [c["code"] for c in categories] == ["shoes"]
    assert categories[0]["subCategories"][0]["label"] == [{"locale": "en_US", "value": "B"}]


def test_upsert_category_invalid_code_is_400(api):
    response = api.post("upsertCategory", {"category": {"code": "bad code"}})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "category.code"


def test_upsert_attributes_rejects_unknown_type(api):
    response = api.post("upsertAttributes", {"attributes": [{"code": "x", "type": "COLOR"}]})
    assert response.status_code == 400
    assert "COLOR" in response.json()["message"]


def test_upsert_attributes_rejects_bad_code(api):
    response = api.post("upsertAttributes", {"attributes": [{"code": "a-b", "type": "TEXT"}]})
    assert response.status_code == 400


def test_upsert_attributes_rejects_image_limit_over_5mb(api):
    response = api.post(
        "upsertAttributes", {"attributes": [{"code": "p", "type": "IMAGE", "maxFileSizeInMB": 6}]}
    )
    assert response.status_code == 400
    assert "maxFileSizeInMB" in response.json()["message"]


def test_delete_attribute_and_unknown(catalog, emulator):
    assert catalog.post("deleteAttribute", {"code": "color"}).status_code == 200
    assert "color" not in emulator.state.attributes
    assert "color" not in emulator.state.attribute_options
    assert catalog.post("deleteAttribute", {"code": "color"}).status_code == 404
    assert catalog.post("deleteAttribute", {}).status_code == 400


def test_upsert_single_option_and_delete(catalog, emulator):
    response = catalog.post("upsertAttributeOption", {"attributeCode": "color", "option": {"code": "green"}})
    assert response.status_code == 200
    assert "green" in emulator.state.attribute_options["color"]
    assert (
        catalog.post("deleteAttributeOption", {"attributeCode": "color", "code": "green"}).status_code == 200
    )
    assert "green" not in emulator.state.attribute_options["color"]
    assert (
        catalog.post("deleteAttributeOption", {"attributeCode": "color", "code": "green"}).status_code == 404
    )


def test_options_on_text_attribute_are_400(catalog):
    response = catalog.post("upsertAttributeOptions", {"code": "name", "options": [{"code": "x"}]})
    assert response.status_code == 400


def test_options_on_unknown_attribute_are_404(catalog):
    response = catalog.post("upsertAttributeOption", {"attributeCode": "nope", "option": {"code": "x"}})
    assert response.status_code == 404


# -- bulk batches ---------------------------------------------------------------------------------


def test_bulk_batch_pending_running_done(api, emulator):
    emulator.pause_batches()
    batch_id = api.post("bulkProductUpsert", {"products": [product(f"B_{i}") for i in range(4)]}).json()[
        "batchId"
    ]
    assert api.post("checkBatchStatus", {"batchId": batch_id}).json()["status"] == "PENDING"

    emulator.pause_batches(after_items=2)
    assert emulator.state.wait_for(lambda: emulator.state.batches[batch_id]["processed"] == 2, timeout=10)
    status = api.post("checkBatchStatus", {"batchId": batch_id}).json()
    assert status["status"] == "RUNNING"
    assert status["processed"] == 2

    emulator.resume_batches()
    emulator.wait_for_batches(timeout=10)
    status = api.post("checkBatchStatus", {"batchId": batch_id}).json()
    assert status == {
        "batchId": batch_id,
        "status": "DONE",
        "total": 4,
        "processed": 4,
        "failed": 0,
        "errors": [],
    }
    assert len(emulator.state.products) == 4


def test_bulk_invalid_item_fails_alone(api, emulator):
    items = [product("OK_1"), product("bad-sku"), product("OK_2")]
    batch_id = api.post("bulkProductUpsert", {"products": items}).json()["batchId"]
    emulator.wait_for_batches(timeout=10)
    status = api.post("checkBatchStatus", {"batchId": batch_id}).json()
    assert status["status"] == "DONE"
    assert status["failed"] == 1
    assert status["errors"][0]["sku"] == "bad-sku"
    assert "sku" in status["errors"][0]["message"]
    assert set(emulator.state.products) == {"OK_1", "OK_2"}


def test_bulk_all_items_failing_is_failed(api, emulator):
    batch_id = api.post("bulkProductUpsert", {"products": [{"dataType": "PRODUCT"}]}).json()["batchId"]
    emulator.wait_for_batches(timeout=10)
    assert api.post("checkBatchStatus", {"batchId": batch_id}).json()["status"] == "FAILED"


def test_bulk_fail_batches_knob(api, emulator):
    emulator.set_faults(fail_batches=1.0)
    batch_id = api.post("bulkProductUpsert", {"products": [product("FB_1")]}).json()["batchId"]
    emulator.wait_for_batches(timeout=10)
    assert api.post("checkBatchStatus", {"batchId": batch_id}).json()["status"] == "FAILED"
    assert emulator.state.products == {}


def test_bulk_over_500_items_is_400(api):
    response = api.post("bulkProductUpsert", {"products": [product(f"X{i}") for i in range(501)]})
    assert response.status_code == 400
    assert "500" in response.json()["message"]


def test_bulk_batch_ids_unique_and_logged(api, emulator):
    ids = {
        api.post("bulkProductUpsert", {"products": [product(f"U{i}")], "bulkOperationId": "op1"}).json()[
            "batchId"
        ]
        for i in range(5)
    }
    assert len(ids) == 5
    entries = emulator.calls(method="bulkProductUpsert")
    assert {e["batch_id"] for e in entries} == ids
    assert {e["bulk_operation_id"] for e in entries} == {"op1"}
    assert {e["items"] for e in entries} == {1}


def test_bulk_batch_ids_repeat_for_same_seed():
    from airflow_provider_mircate.testing.emulator import MircateEmulator
    from tests.testing.conftest import ApiClient

    runs = []
    for _ in range(2):
        with MircateEmulator(seed=7) as emulator:
            client = ApiClient(emulator)
            runs.append(client.post("bulkProductUpsert", {"products": [product("S1")]}).json()["batchId"])
            client.close()
    assert runs[0] == runs[1]


def test_check_unknown_batch_is_404(api):
    assert api.post("checkBatchStatus", {"batchId": "b-nope"}).status_code == 404


def test_check_batch_without_id_is_400(api):
    assert api.post("checkBatchStatus", {}).status_code == 400


def test_batch_rate_limits_processing(emulator, api):
    emulator.batch_rate = 1000.0
    batch_id = api.post("bulkProductUpsert", {"products": [product(f"R{i}") for i in range(20)]}).json()[
        "batchId"
    ]
    emulator.wait_for_batches(timeout=10)
    assert emulator.state.batches[batch_id]["processed"] == 20
