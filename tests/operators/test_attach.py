"""The attach operators against the emulator: checks before any request, uploads and returned filenames."""

from __future__ import annotations

import hashlib

import pytest

from airflow_provider_mircate.exceptions import MircateConfigError, MircateError, MircateValidationError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.images import (
    MircateAttachCategoryImageOperator,
    MircateAttachProductAttributeImageOperator,
)
from airflow_provider_mircate.testing.emulator import make_test_image

AWS_CONN_ID = "mircate_test_s3"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MB = 1024 * 1024


@pytest.fixture
def catalog(mircate_conn):
    """The emulator with two image attributes, a text attribute, one product and one category."""
    with MircateHook() as hook:
        hook.upsert_attributes(
            [
                {
                    "code": "main_image",
                    "type": "IMAGE",
                    "allowedExtensions": ["png", "jpg"],
                    "maxFileSizeInMB": 1,
                },
                {"code": "gallery", "type": "IMAGE_LIST"},
                {"code": "title", "type": "TEXT"},
            ]
        )
        hook.upsert_product(
            {"dataType": "PRODUCT", "data": {"sku": "SKU1", "family": "shoes", "status": "DRAFT"}}
        )
        hook.upsert_category({"code": "shoes", "label": [{"locale": "en_US", "value": "Shoes"}]})
    mircate_conn.clear_requests()
    return mircate_conn


def write_image(path, seed: int = 0, fmt: str = "png") -> bytes:
    data = make_test_image(48, 32, seed=seed, format=fmt)
    path.write_bytes(data)
    return data


def expected_filename(emulator, data: bytes, extension: str) -> str:
    return f"{emulator.account_id}-{hashlib.sha256(data).hexdigest()[:32]}.{extension}"


def product_op(images, **kwargs) -> MircateAttachProductAttributeImageOperator:
    return MircateAttachProductAttributeImageOperator(task_id="attach", images=images, **kwargs)


def category_op(images, **kwargs) -> MircateAttachCategoryImageOperator:
    return MircateAttachCategoryImageOperator(task_id="attach", images=images, **kwargs)


def test_product_attach_returns_filenames_in_order(catalog, tmp_path):
    first = write_image(tmp_path / "a.png", seed=1)
    second = write_image(tmp_path / "b.jpeg", seed=2, fmt="jpeg")
    items = [
        {"path": str(tmp_path / "a.png"), "product_id": "SKU1", "attribute_code": "main_image"},
        {"path": str(tmp_path / "b.jpeg"), "product_id": "SKU1", "attribute_code": "gallery"},
    ]
    filenames = product_op(items).execute({})
    assert filenames == [expected_filename(catalog, first, "png"), expected_filename(catalog, second, "jpeg")]
    assert catalog.state.images[filenames[0]]["bytes"] == first
    assert catalog.state.images[filenames[1]]["bytes"] == second


def test_product_attach_same_files_give_same_filenames(catalog, tmp_path):
    write_image(tmp_path / "a.png", seed=5)
    items = [{"path": str(tmp_path / "a.png"), "product_id": "SKU1", "attribute_code": "gallery"}]
    assert product_op(items).execute({}) == product_op(items).execute({})


def test_category_attach_returns_filename(catalog, tmp_path):
    data = write_image(tmp_path / "c.webp", seed=3, fmt="webp")
    filenames = category_op([{"path": f"file://{tmp_path}/c.webp", "category_code": "shoes"}]).execute({})
    assert filenames == [expected_filename(catalog, data, "webp")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.gif", make_test_image(8, 8, format="gif"), "has extension 'gif'; use one of"),
        ("a.bmp", b"BM" + bytes(40), "has extension 'bmp'"),
        ("noext", PNG_SIGNATURE, "has extension ''"),
        ("big.png", PNG_SIGNATURE + bytes(5 * MB), "the limit is 5242880 bytes"),
        ("fake.png", b"<html>not an image</html>", "not a known image format"),
        ("wrong.png", make_test_image(8, 8, format="jpeg"), "but its bytes are jpeg"),
    ],
)
def test_product_attach_rejects_file_before_any_request(catalog, tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    items = [{"path": str(tmp_path / name), "product_id": "SKU1", "attribute_code": "gallery"}]
    with pytest.raises(MircateValidationError, match=message):
        product_op(items).execute({})
    assert catalog.calls() == []


def test_category_attach_limit_is_3_mb(catalog, tmp_path):
    (tmp_path / "big.png").write_bytes(PNG_SIGNATURE + bytes(3 * MB))
    with pytest.raises(MircateValidationError, match="the limit is 3145728 bytes"):
        category_op([{"path": str(tmp_path / "big.png"), "category_code": "shoes"}]).execute({})
    assert catalog.calls() == []


def test_one_bad_item_blocks_every_upload(catalog, tmp_path):
    write_image(tmp_path / "good.png")
    (tmp_path / "bad.gif").write_bytes(make_test_image(8, 8, format="gif"))
    items = [
        {"path": str(tmp_path / "good.png"), "product_id": "SKU1", "attribute_code": "gallery"},
        {"path": str(tmp_path / "bad.gif"), "product_id": "SKU1", "attribute_code": "gallery"},
        {"path": str(tmp_path / "gone.png"), "product_id": "SKU1", "attribute_code": "gallery"},
        {"path": str(tmp_path / "good.png"), "product_id": "", "attribute_code": "gallery"},
    ]
    with pytest.raises(MircateValidationError) as caught:
        product_op(items).execute({})
    assert [e["index"] for e in caught.value.errors] == [1, 2, 3]
    assert catalog.calls() == []


def test_attribute_settings_checked_before_upload(catalog, tmp_path):
    (tmp_path / "big.png").write_bytes(PNG_SIGNATURE + bytes(MB + MB // 2))
    write_image(tmp_path / "ok.webp", fmt="webp")
    items = [
        {"path": str(tmp_path / "big.png"), "product_id": "SKU1", "attribute_code": "main_image"},
        {"path": str(tmp_path / "ok.webp"), "product_id": "SKU1", "attribute_code": "main_image"},
        {"path": str(tmp_path / "ok.webp"), "product_id": "SKU1", "attribute_code": "title"},
        {"path": str(tmp_path / "ok.webp"), "product_id": "SKU1", "attribute_code": "nope"},
    ]
    with pytest.raises(MircateValidationError) as caught:
        product_op(items).execute({})
    messages = [e["message"] for e in caught.value.errors]
    assert "exceeds maxFileSizeInMB=1" in messages[0]
    assert "extension 'webp' is not allowed" in messages[1]
    assert "type 'TEXT'" in messages[2]
    assert "'nope' is not in productSettings" in messages[3]
    assert [c["method"] for c in catalog.calls()] == ["getProductSettings"]


def test_product_settings_check_can_be_skipped(catalog, tmp_path):
    write_image(tmp_path / "ok.png")
    items = [{"path": str(tmp_path / "ok.png"), "product_id": "SKU1", "attribute_code": "gallery"}]
    product_op(items, check_product_settings=False).execute({})
    assert [c["method"] for c in catalog.calls()] == ["attachProductAttributeImage"]


@pytest.mark.parametrize("images", ["a.png", {"path": "a.png"}, 5])
def test_attach_rejects_non_list(catalog, images):
    with pytest.raises(MircateConfigError, match="must be a list"):
        category_op(images).execute({})


def test_attach_unknown_key_rejected(catalog, tmp_path):
    write_image(tmp_path / "a.png")
    with pytest.raises(MircateValidationError, match=r"unknown key\(s\) \['sku'\]"):
        category_op([{"path": str(tmp_path / "a.png"), "category_code": "shoes", "sku": "x"}]).execute({})


@pytest.mark.reliability
def test_attach_not_retried_after_ambiguous_failure(catalog, tmp_path):
    write_image(tmp_path / "a.png")
    catalog.set_faults(rate=1.0, kinds=["500"], methods=["attachCategoryImage"])
    with pytest.raises(MircateError, match="Attached before the failure: \\[\\]"):
        category_op([{"path": str(tmp_path / "a.png"), "category_code": "shoes"}]).execute({})
    assert len(catalog.calls("attachCategoryImage")) == 1


@pytest.mark.reliability
def test_attach_retried_when_request_never_applied(catalog, tmp_path):
    data = write_image(tmp_path / "a.png")
    catalog.set_faults(rate=0.5, kinds=["503"], methods=["attachCategoryImage"])
    filenames = category_op([{"path": str(tmp_path / "a.png"), "category_code": "shoes"}] * 4).execute({})
    assert filenames == [expected_filename(catalog, data, "png")] * 4
    assert len(catalog.calls("attachCategoryImage")) > 4


@pytest.mark.s3
def test_attach_reads_from_s3(catalog, s3_bucket, s3_client):
    data = make_test_image(20, 20, seed=9, format="png")
    s3_client.put_object(Bucket=s3_bucket, Key="in/a.png", Body=data)
    items = [{"path": f"s3://{s3_bucket}/in/a.png", "category_code": "shoes"}]
    assert category_op(items, source_conn_id=AWS_CONN_ID).execute({}) == [
        expected_filename(catalog, data, "png")
    ]
