"""Handlers of the PIM image methods: attach to a product attribute or a category, and getImage."""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import io
from typing import TYPE_CHECKING, Any

from airflow_provider_mircate.testing.emulator import images
from airflow_provider_mircate.testing.emulator.pim import find_category, find_category_root
from airflow_provider_mircate.testing.emulator.protocol import ApiError, Reply, invalid
from airflow_provider_mircate.testing.emulator.validation import IMAGE_EXTENSIONS, IMAGE_TYPES

if TYPE_CHECKING:
    from airflow_provider_mircate.testing.emulator.protocol import Call
    from airflow_provider_mircate.testing.emulator.state import EmulatorState

MAX_ATTRIBUTE_IMAGE_BYTES = 5 * 1024 * 1024
MAX_CATEGORY_IMAGE_BYTES = 3 * 1024 * 1024
# Transformed images are content-addressed by filename and parameters, so clients may cache them long.
CACHE_CONTROL = "public, max-age=31536000, immutable"


def image_filename(account_id: str, data: bytes, extension: str) -> str:
    """Return ``{account_id}-{32 hex}.{extension}``; the hex digits are the first 32 of the sha256 of the bytes."""
    return f"{account_id}-{hashlib.sha256(data).hexdigest()[:32]}.{extension}"


def store_image(
    state: EmulatorState, account_id: str, data: bytes, extension: str, owner: dict[str, Any]
) -> str:
    """Store image bytes and return their filename; the same bytes always get the same filename."""
    filename = image_filename(account_id, data, extension)
    with state.lock:
        state.images[filename] = {
            "bytes": data,
            "extension": extension,
            "sha256": hashlib.sha256(data).hexdigest(),
            "owner": owner,
        }
        state.mark("image", filename)
    return filename


def _decode_upload(
    body: dict[str, Any], max_bytes: int, allowed: tuple[str, ...] | list[str]
) -> tuple[bytes, str]:
    encoded = body.get("image")
    if not isinstance(encoded, str) or not encoded:
        raise invalid("'image' required: the image bytes as base64.", "image")
    extension = body.get("extension")
    if not isinstance(extension, str) or not extension:
        raise invalid("'extension' required!", "extension")
    extension = extension.lower().lstrip(".")
    if extension not in allowed:
        raise invalid(
            f"Extension {extension!r} is not allowed; use one of {list(allowed)}.", "extension", extension
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise invalid("'image' is not valid base64.", "image") from None
    if len(data) > max_bytes:
        raise invalid(
            f"The image is {len(data)} bytes, over the limit of {max_bytes} bytes ({max_bytes / 1048576:g} MB).",
            "image",
            len(data),
        )
    _check_decodable(data)
    return data, extension


def _check_decodable(data: bytes) -> None:
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        return
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise invalid("'image' is not a readable image.", "image") from None


def attach_product_attribute_image(call: Call) -> dict[str, Any]:
    state = call.emulator.state
    product_id = call.body.get("productId")
    attribute_code = call.body.get("attributeCode")
    if not isinstance(product_id, str) or not product_id:
        raise invalid("'productId' required!", "productId")
    if not isinstance(attribute_code, str) or not attribute_code:
        raise invalid("'attributeCode' required!", "attributeCode")
    with state.lock:
        if product_id not in state.products:
            raise ApiError(404, f"Product {product_id!r} not found.")
        attribute = state.attributes.get(attribute_code)
    if attribute is None:
        raise ApiError(404, f"Attribute {attribute_code!r} not found.")
    if attribute["type"] not in IMAGE_TYPES:
        raise invalid(
            f"Attribute {attribute_code!r} is {attribute['type']}; images attach only to IMAGE or IMAGE_LIST.",
            "attributeCode",
            attribute_code,
        )
    max_mb = min(float(attribute.get("maxFileSizeInMB", 5)), 5.0)
    allowed = [e for e in attribute.get("allowedExtensions", IMAGE_EXTENSIONS) if e in IMAGE_EXTENSIONS]
    data, extension = _decode_upload(call.body, int(max_mb * 1024 * 1024), allowed)

    owner = {"productId": product_id, "attributeCode": attribute_code}
    filename = store_image(state, call.account_id, data, extension, owner)
    with state.lock:
        record = state.products.get(product_id)
        if record is None:
            raise ApiError(404, f"Product {product_id!r} not found.")
        updated = _with_image(record, attribute_code, attribute["type"], filename)
        updated["updatedAt"] = state.now()
        state.put_product(product_id, updated)
    call.applied = True
    call.emulator.request_flush()
    return {"imageId": filename.rsplit("-", 1)[1].split(".")[0], "extension": extension, "filename": filename}


def _with_image(record: dict[str, Any], attribute_code: str, kind: str, filename: str) -> dict[str, Any]:
    updated = copy.deepcopy(record)
    attributes = updated["data"].setdefault("attributes", [])
    entry = next((a for a in attributes if a.get("code") == attribute_code), None)
    if entry is None:
        entry = {"code": attribute_code, "data": []}
        attributes.append(entry)
    if not entry.get("data"):
        entry["data"] = [{"value": filename if kind == "IMAGE" else []}]
    item = entry["data"][0]
    if kind == "IMAGE":
        item["value"] = filename
    else:
        values = item.get("value") if isinstance(item.get("value"), list) else []
        item["value"] = values if filename in values else [*values, filename]
    return updated


def attach_category_image(call: Call) -> dict[str, Any]:
    state = call.emulator.state
    code = call.body.get("categoryCode")
    if not isinstance(code, str) or not code:
        raise invalid("'categoryCode' required!", "categoryCode")
    with state.lock:
        root = find_category_root(state, code)
    if root is None:
        raise ApiError(404, f"Category {code!r} not found.")
    data, extension = _decode_upload(call.body, MAX_CATEGORY_IMAGE_BYTES, IMAGE_EXTENSIONS)

    filename = store_image(state, call.account_id, data, extension, {"categoryCode": code})
    with state.lock:
        category = find_category(state.categories[root], code)
        if category is not None:
            category["image"] = filename
        state.mark("category", root)
    call.applied = True
    call.emulator.request_flush()
    return {"imageId": filename.rsplit("-", 1)[1].split(".")[0], "extension": extension, "filename": filename}


def get_image(call: Call) -> Reply:
    filename = call.query.get("filename")
    if not filename:
        raise invalid("'filename' required!", "filename")
    params = images.parse_transform(call.query)
    with call.emulator.state.lock:
        stored = call.emulator.state.images.get(filename)
    if stored is None:
        raise ApiError(404, f"Image {filename!r} not found.")
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": f'"{stored["sha256"][:32]}"'}
    if not params:
        content_type = images.CONTENT_TYPES.get(stored["extension"], "application/octet-stream")
        return Reply(status=200, body=stored["bytes"], content_type=content_type, headers=headers)

    cache_key = (filename, tuple(sorted(params.items())))
    cache = call.emulator.image_cache
    result = cache.get(cache_key)
    if result is None:
        result = images.transform(stored["bytes"], stored["extension"], params)
        cache.put(cache_key, result)
    data, output_format = result
    return Reply(status=200, body=data, content_type=images.CONTENT_TYPES[output_format], headers=headers)
