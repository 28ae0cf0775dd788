"""Image attach and getImage in the emulator: limits, filenames, sharp's fit rules, formats and caching."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys

import pytest
from PIL import Image

from airflow_provider_mircate.testing.emulator import MircateEmulator, make_test_image
from tests.testing.conftest import product

MAGIC = {
    "jpeg": lambda b: b[:3] == b"\xff\xd8\xff",
    "png": lambda b: b[:8] == b"\x89PNG\r\n\x1a\n",
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP",
    "gif": lambda b: b[:4] == b"GIF8",
    "tiff": lambda b: b[:4] in (b"II*\x00", b"MM\x00*"),
    "avif": lambda b: b[4:12] == b"ftypavif",
}
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif",
                 "tiff": "image/tiff", "avif": "image/avif"}  # fmt: skip


@pytest.fixture
def picture(emulator):
    """A 400x300 PNG stored in the emulator; returns its filename."""
    return emulator.add_image(make_test_image(400, 300, seed=1), "png")


@pytest.fixture
def shop(api):
    attributes = [
        {"code": "photo", "type": "IMAGE", "maxFileSizeInMB": 1, "allowedExtensions": ["png", "jpg"]},
        {"code": "gallery", "type": "IMAGE_LIST"},
        {"code": "name", "type": "TEXT"},
    ]
    assert api.post("upsertAttributes", {"attributes": attributes}).status_code == 200
    assert api.post("upsertProduct", product("IMG_1")).status_code == 200
    assert (
        api.post(
            "upsertCategory", {"category": {"code": "shoes", "subCategories": [{"code": "boots"}]}}
        ).status_code
        == 200
    )
    return api


def attach(api, data, extension="png", attribute="photo", product_id="IMG_1"):
    body = {
        "image": base64.b64encode(data).decode(),
        "productId": product_id,
        "extension": extension,
        "attributeCode": attribute,
    }
    return api.post("attachProductAttributeImage", body)


def decode(response):
    return Image.open(io.BytesIO(response.content))


def test_make_test_image_is_deterministic():
    assert make_test_image(64, 48, seed=3) == make_test_image(64, 48, seed=3)
    assert make_test_image(64, 48, seed=3) != make_test_image(64, 48, seed=4)
    assert Image.open(io.BytesIO(make_test_image(64, 48, format="jpeg"))).size == (64, 48)


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({"width": "100", "height": "100", "fit": "cover"}, (100, 100)),
        ({"width": "100", "height": "100"}, (100, 100)),
        ({"width": "100", "height": "100", "fit": "contain"}, (100, 100)),
        ({"width": "100", "height": "100", "fit": "fill"}, (100, 100)),
        ({"width": "100", "height": "100", "fit": "inside"}, (100, 75)),
        ({"width": "100", "height": "100", "fit": "outside"}, (133, 100)),
        ({"width": "200"}, (200, 150)),
        ({"height": "150"}, (200, 150)),
        ({"width": "800", "height": "100", "fit": "inside"}, (133, 100)),
        ({"width": "800", "height": "100", "fit": "outside"}, (800, 600)),
    ],
)
def test_fit_sizes_follow_sharp(api, picture, params, size):
    response = api.get("getImage", {"filename": picture, **params})
    assert response.status_code == 200
    assert decode(response).size == size


def test_contain_pads_with_background(api, picture):
    response = api.get("getImage", {"filename": picture, "width": "100", "height": "100", "fit": "contain",
                                    "background": "#ff0000", "format": "png"})  # fmt: skip
    image = decode(response).convert("RGBA")
    assert image.getpixel((50, 2)) == (255, 0, 0, 255)
    assert image.getpixel((50, 97)) == (255, 0, 0, 255)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "gif", "tiff", "avif"])
def test_output_format_magic_and_headers(api, picture, fmt):
    response = api.get("getImage", {"filename": picture, "format": fmt, "width": "50"})
    assert response.status_code == 200
    assert MAGIC[fmt](response.content)
    assert response.headers["Content-Type"] == CONTENT_TYPES[fmt]
    assert response.headers["Cache-Control"].startswith("public, max-age=")
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_jpg_and_tif_aliases(api, picture):
    assert MAGIC["jpeg"](api.get("getImage", {"filename": picture, "format": "jpg"}).content)
    assert MAGIC["tiff"](api.get("getImage", {"filename": picture, "format": "tif"}).content)


def test_quality_changes_jpeg_size(api, picture):
    low = api.get("getImage", {"filename": picture, "format": "jpeg", "quality": "10"}).content
    high = api.get("getImage", {"filename": picture, "format": "jpeg", "quality": "95"}).content
    assert len(low) < len(high)


def test_no_params_returns_original_bytes(api, emulator, picture):
    response = api.get("getImage", {"filename": picture})
    assert response.content == emulator.state.images[picture]["bytes"]
    assert response.headers["Content-Type"] == "image/png"


def test_transform_cache_hits_on_repeat(api, emulator, picture):
    params = {"filename": picture, "width": "64", "format": "webp"}
    first = api.get("getImage", params).content
    hits = emulator.image_cache.hits
    assert api.get("getImage", params).content == first
    assert emulator.image_cache.hits == hits + 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("width", "0"), ("width", "abc"), ("height", "-5"), ("fit", "stretch"), ("format", "bmp"),
     ("quality", "0"), ("quality", "101"), ("compressionLevel", "10"), ("background", "not-a-colour")],
)  # fmt: skip
def test_bad_image_parameter_is_400(api, picture, name, value):
    response = api.get("getImage", {"filename": picture, name: value})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == name
    assert name in response.json()["message"]


def test_unknown_filename_is_404(api):
    assert api.get("getImage", {"filename": "1j19r3y78mj-0000.png"}).status_code == 404


def test_missing_filename_is_400(api):
    assert api.get("getImage", {}).status_code == 400


def test_attach_returns_content_derived_filename(shop, emulator):
    data = make_test_image(32, 32, seed=5)
    answer = attach(shop, data).json()
    assert re.fullmatch(rf"{emulator.account_id}-[0-9a-f]{{32}}\.png", answer["filename"])
    assert answer["extension"] == "png"
    assert answer["imageId"] in answer["filename"]
    with MircateEmulator() as other:
        assert other.add_image(data, "png") == answer["filename"]


def test_attach_writes_image_attribute(shop, emulator):
    filename = attach(shop, make_test_image(32, 32, seed=6)).json()["filename"]
    attributes = emulator.state.products["IMG_1"]["data"]["attributes"]
    assert {"code": "photo", "data": [{"value": filename}]} in attributes


def test_attach_appends_to_image_list_once(shop, emulator):
    first = attach(shop, make_test_image(32, 32, seed=7), attribute="gallery").json()["filename"]
    second = attach(shop, make_test_image(32, 32, seed=8), attribute="gallery").json()["filename"]
    attach(shop, make_test_image(32, 32, seed=7), attribute="gallery")
    gallery = next(
        a for a in emulator.state.products["IMG_1"]["data"]["attributes"] if a["code"] == "gallery"
    )
    assert gallery["data"][0]["value"] == [first, second]


def test_attach_rejects_extension_outside_attribute_list(shop):
    response = attach(shop, make_test_image(32, 32, format="webp"), extension="webp")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "extension"


def test_attach_rejects_unknown_extension(shop):
    assert attach(shop, make_test_image(32, 32), extension="bmp", attribute="gallery").status_code == 400


def test_attach_rejects_over_attribute_size_limit(shop):
    padded = make_test_image(32, 32) + b"\0" * (1024 * 1024)
    response = attach(shop, padded)
    assert response.status_code == 400
    assert "limit" in response.json()["message"]


def test_attach_rejects_over_5mb_default(shop):
    padded = make_test_image(32, 32) + b"\0" * (5 * 1024 * 1024)
    assert attach(shop, padded, attribute="gallery").status_code == 400


def test_attach_rejects_non_image_attribute(shop):
    assert attach(shop, make_test_image(32, 32), attribute="name").status_code == 400


def test_attach_unknown_product_is_404(shop):
    assert attach(shop, make_test_image(32, 32), product_id="NOPE").status_code == 404


def test_attach_rejects_bad_base64_and_non_image(shop):
    body = {"image": "%%%", "productId": "IMG_1", "extension": "png", "attributeCode": "photo"}
    assert shop.post("attachProductAttributeImage", body).status_code == 400
    assert attach(shop, b"plain text, not a picture").status_code == 400


def test_attach_category_image(shop, emulator):
    data = make_test_image(40, 40, seed=9)
    body = {"image": base64.b64encode(data).decode(), "categoryCode": "boots", "extension": "png"}
    answer = shop.post("attachCategoryImage", body).json()
    assert answer["filename"] in emulator.state.images
    assert emulator.state.categories["shoes"]["subCategories"][0]["image"] == answer["filename"]


def test_attach_category_image_over_3mb_is_400(shop):
    padded = make_test_image(32, 32) + b"\0" * (3 * 1024 * 1024)
    body = {"image": base64.b64encode(padded).decode(), "categoryCode": "shoes", "extension": "png"}
    assert shop.post("attachCategoryImage", body).status_code == 400


def test_attach_unknown_category_is_404(shop):
    body = {
        "image": base64.b64encode(make_test_image(8, 8)).decode(),
        "categoryCode": "nope",
        "extension": "png",
    }
    assert shop.post("attachCategoryImage", body).status_code == 404


SCRIPT_WITHOUT_PILLOW = """
import sys
sys.modules["PIL"] = None
import requests
from airflow_provider_mircate.testing.emulator import MircateEmulator
with MircateEmulator() as emulator:
    filename = emulator.add_image(b"stored bytes", "png")
    url = f"{emulator.url}/{emulator.project_id}/CALL/PIMAPI/getImage/{emulator.account_id}"
    headers = {"x-api-key": emulator.api_key}
    plain = requests.get(url, params={"filename": filename}, headers=headers, timeout=5)
    resized = requests.get(url, params={"filename": filename, "width": "10"}, headers=headers, timeout=5)
    print(plain.status_code, plain.content.decode(), resized.status_code, resized.json()["message"])
"""


def test_without_pillow_transforms_are_501():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT_WITHOUT_PILLOW], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("200 stored bytes 501 ")
    assert "Pillow" in result.stdout
