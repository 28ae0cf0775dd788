"""Handlers of the PIM methods (class ``PIMAPI``): settings, products, categories, batches, attributes."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.testing.emulator.protocol import ApiError, invalid
from airflow_provider_mircate.testing.emulator.validation import (
    CODE_PATTERN,
    SELECT_TYPES,
    product_key,
    validate_attribute_definition,
    validate_option,
    validate_product,
)

if TYPE_CHECKING:
    from airflow_provider_mircate.testing.emulator.core import MircateEmulator
    from airflow_provider_mircate.testing.emulator.protocol import Call
    from airflow_provider_mircate.testing.emulator.state import EmulatorState

MAX_BULK_ITEMS = 500


def store_product(state: EmulatorState, record: dict[str, Any]) -> dict[str, Any]:
    """Store a validated record, keeping ``createdAt`` of an earlier version and setting ``updatedAt``."""
    key = product_key(record)
    with state.lock:
        now = state.now()
        previous = state.products.get(key)
        stored = {**record, "createdAt": previous["createdAt"] if previous else now, "updatedAt": now}
        state.put_product(key, stored)
    return stored


def apply_product_item(emulator: MircateEmulator, item: Any) -> None:
    """Validate and store one item of a bulk batch; raise ``ApiError`` when it is invalid."""
    with emulator.state.lock:
        record = validate_product(item, emulator.state.attributes, emulator.state.attribute_options)
        store_product(emulator.state, record)


def get_product_settings(call: Call) -> dict[str, Any]:
    state = call.emulator.state
    with state.lock:
        attributes = [copy.deepcopy(a) for a in state.attributes.values()]
        options = [
            {"attributeCode": code, **option}
            for code, by_code in state.attribute_options.items()
            for option in by_code.values()
        ]
        families = [dict(f) for f in state.families.values()]
        groups = [dict(g) for g in state.groups.values()]
    attribute_groups = sorted({a["group"] for a in attributes if isinstance(a.get("group"), str)})
    return {
        "productSettings": {
            "attributes": attributes,
            "attributeOptions": options,
            "families": families,
            "attributeGroups": [{"code": code} for code in attribute_groups],
            "groupTypes": [],
            "groups": groups,
        }
    }


def get_catalog_settings(call: Call) -> dict[str, Any]:
    state = call.emulator.state
    with state.lock:
        return {
            "catalogSettings": {
                "categories": copy.deepcopy(list(state.categories.values())),
                "enabledCurrencies": list(state.enabled_currencies),
                "enabledLocales": list(state.enabled_locales),
                "channels": copy.deepcopy(state.channels),
            }
        }


def get_products(call: Call) -> dict[str, Any]:
    return call.emulator.query.run(call.body)


def upsert_product(call: Call) -> dict[str, Any]:
    state = call.emulator.state
    with state.lock:
        record = validate_product(call.body, state.attributes, state.attribute_options)
        stored = store_product(state, record)
    call.applied = True
    call.emulator.request_flush()
    return stored


def delete_product(call: Call) -> dict[str, Any]:
    product_id = call.body.get("id")
    if product_id is None or product_id == "":
        raise invalid("'id' required!", "id")
    if not isinstance(product_id, str):
        raise invalid("'id' must be a string (a sku or a model code).", "id", product_id)
    if not call.emulator.state.delete_product(product_id):
        raise ApiError(404, f"Product {product_id!r} not found.")
    call.applied = True
    call.emulator.request_flush()
    return {"id": product_id, "deleted": True}


def upsert_category(call: Call) -> dict[str, Any]:
    category = call.body.get("category")
    if category is None:
        raise invalid("'category' required!", "category")
    _validate_category(category, "category")
    state = call.emulator.state
    with state.lock:
        stored = copy.deepcopy(category)
        root = find_category_root(state, category["code"])
        if root is None:
            state.categories[category["code"]] = stored
            state.mark("category", category["code"])
        else:
            _replace_category(state.categories[root], stored)
            state.mark("category", root)
    call.applied = True
    call.emulator.request_flush()
    return {"category": stored}


def _validate_category(category: Any, where: str) -> None:
    if not isinstance(category, dict):
        raise invalid("A category must be an object.", where, category)
    code = category.get("code")
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise invalid(f"Invalid category code {code!r}: use A-Z, a-z, 0-9 and '_'.", f"{where}.code", code)
    for key in ("label", "description"):
        value = category.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
            raise invalid(f"'{key}' must be a list of {{locale, value}}.", f"{where}.{key}", value)
    image = category.get("image")
    if image is not None and not isinstance(image, str):
        raise invalid("'image' must be a string.", f"{where}.image", image)
    children = category.get("subCategories")
    if children is not None:
        if not isinstance(children, list):
            raise invalid("'subCategories' must be a list.", f"{where}.subCategories", children)
        for index, child in enumerate(children):
            _validate_category(child, f"{where}.subCategories[{index}]")


def find_category(tree: dict[str, Any], code: str) -> dict[str, Any] | None:
    """Return the category with ``code`` inside ``tree`` (the tree itself included), or None."""
    if tree.get("code") == code:
        return tree
    for child in tree.get("subCategories") or []:
        found = find_category(child, code)
        if found is not None:
            return found
    return None


def find_category_root(state: EmulatorState, code: str) -> str | None:
    """Return the code of the top-level category whose tree contains ``code``, or None."""
    for root_code, tree in state.categories.items():
        if find_category(tree, code) is not None:
            return root_code
    return None


def _replace_category(tree: dict[str, Any], replacement: dict[str, Any]) -> None:
    target = find_category(tree, replacement["code"])
    if target is not None:
        target.clear()
        target.update(replacement)


def bulk_product_upsert(call: Call) -> dict[str, Any]:
    products = call.body.get("products")
    if products is None:
        raise invalid("'products' required!", "products")
    if not isinstance(products, list) or not products:
        raise invalid("'products' must be a non-empty list.", "products", type(products).__name__)
    if len(products) > MAX_BULK_ITEMS:
        raise invalid(
            f"Too many products: {len(products)}; send at most {MAX_BULK_ITEMS} per request.",
            "products",
            len(products),
        )
    operation = call.body.get("bulkOperationId")
    if operation is not None and not isinstance(operation, str):
        raise invalid("'bulkOperationId' must be a string.", "bulkOperationId", operation)
    batch_id = call.emulator.start_batch("PIMAPI", "products", products, operation)
    call.applied = True
    call.batch_id = batch_id
    call.bulk_operation_id = operation
    call.items = len(products)
    return {"batchId": batch_id}


def check_batch_status(call: Call) -> dict[str, Any]:
    batch_id = call.body.get("batchId")
    call.batch_id = batch_id if isinstance(batch_id, str) else None
    return call.emulator.batch_status("PIMAPI", batch_id)


def upsert_attributes(call: Call) -> dict[str, Any]:
    attributes = call.body.get("attributes")
    if not isinstance(attributes, list) or not attributes:
        raise invalid("'attributes' must be a non-empty list.", "attributes", attributes)
    validated = [validate_attribute_definition(a, i) for i, a in enumerate(attributes)]
    state = call.emulator.state
    with state.lock:
        for attribute in validated:
            state.attributes[attribute["code"]] = attribute
            state.mark("attribute", attribute["code"])
    call.applied = True
    call.emulator.request_flush()
    return {"attributes": validated}


def delete_attribute(call: Call) -> dict[str, Any]:
    code = _required_string(call.body, "code")
    state = call.emulator.state
    with state.lock:
        if state.attributes.pop(code, None) is None:
            raise ApiError(404, f"Attribute {code!r} not found.")
        state.mark("attribute", code)
        if state.attribute_options.pop(code, None) is not None:
            state.mark("options", code)
    call.applied = True
    call.emulator.request_flush()
    return {"code": code, "deleted": True}


def upsert_attribute_options(call: Call) -> dict[str, Any]:
    code = _required_string(call.body, "code")
    options = call.body.get("options")
    if not isinstance(options, list) or not options:
        raise invalid("'options' must be a non-empty list.", "options", options)
    validated = [validate_option(o, f"options[{i}]") for i, o in enumerate(options)]
    _store_options(call, code, validated)
    return {"code": code, "options": validated}


def upsert_attribute_option(call: Call) -> dict[str, Any]:
    code = _required_string(call.body, "attributeCode")
    if "option" not in call.body:
        raise invalid("'option' required!", "option")
    option = validate_option(call.body["option"], "option")
    _store_options(call, code, [option])
    return {"attributeCode": code, "option": option}


def _store_options(call: Call, code: str, options: list[dict[str, Any]]) -> None:
    state = call.emulator.state
    with state.lock:
        attribute = state.attributes.get(code)
        if attribute is None:
            raise ApiError(404, f"Attribute {code!r} not found.")
        if attribute["type"] not in SELECT_TYPES:
            raise invalid(
                f"Attribute {code!r} is {attribute['type']}; only SIMPLESELECT and MULTISELECT have options.",
                "code",
                code,
            )
        by_code = dict(state.attribute_options.get(code, {}))
        for option in options:
            by_code[option["code"]] = option
        state.attribute_options[code] = by_code
        state.mark("options", code)
    call.applied = True
    call.emulator.request_flush()


def delete_attribute_option(call: Call) -> dict[str, Any]:
    attribute_code = _required_string(call.body, "attributeCode")
    code = _required_string(call.body, "code")
    state = call.emulator.state
    with state.lock:
        by_code = dict(state.attribute_options.get(attribute_code, {}))
        if by_code.pop(code, None) is None:
            raise ApiError(404, f"Option {code!r} of attribute {attribute_code!r} not found.")
        state.attribute_options[attribute_code] = by_code
        state.mark("options", attribute_code)
    call.applied = True
    call.emulator.request_flush()
    return {"attributeCode": attribute_code, "code": code, "deleted": True}


def _required_string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None or value == "":
        raise invalid(f"'{name}' required!", name)
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string.", name, value)
    return value
