"""MircateImageFetchOperator against the emulator: transforms, storage, reruns, faults and bad names."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG, ObjectStoragePath
from PIL import Image, features

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.hooks.mircate import MircateHook
from airflow_provider_mircate.operators.images import MircateImageFetchError, MircateImageFetchOperator
from airflow_provider_mircate.testing.emulator import make_test_image
from airflow_provider_mircate.utils.image_params import sniff_image_format

AWS_CONN_ID = "mircate_test_s3"
FAST_RETRIES = {"max_retries": 12, "backoff_base": 0.001, "backoff_max": 0.01, "read_timeout": 2}


def fetch_op(**kwargs) -> MircateImageFetchOperator:
    kwargs.setdefault("task_id", "fetch_images")
    return MircateImageFetchOperator(**kwargs)


def add_images(emulator, count: int, width: int = 64, height: int = 48, fmt: str = "png") -> list[str]:
    return [emulator.add_image(make_test_image(width, height, seed=i, format=fmt), fmt) for i in range(count)]


def get_image_calls(emulator) -> list[dict]:
    return emulator.calls("getImage")


def read_manifest(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def direct_bytes(filename: str, **transforms) -> bytes:
    """Fetch one image with the hook, without faults, as the reference for byte comparisons."""
    with MircateHook() as hook:
        response = hook.get_image(filename, **transforms)
        try:
            return response.content
        finally:
            response.close()


# -- argument checks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 0}, r"width=0 is invalid: use an integer of at least 1"),
        ({"height": -3}, r"height=-3 is invalid"),
        ({"width": 1.5}, r"width=1.5 is invalid"),
        ({"width": True}, r"width=True is invalid"),
        ({"fit": "crop"}, r"fit='crop' is invalid: use one of \['cover', 'contain'"),
        ({"format": "bmp"}, r"format='bmp' is invalid: use one of \['jpeg'"),
        ({"quality": 0}, r"quality=0 is invalid: use an integer from 1 to 100"),
        ({"quality": 101}, r"quality=101 is invalid: use an integer from 1 to 100"),
        ({"compression_level": 10}, r"compression_level=10 is invalid: use an integer from 0 to 9"),
        ({"background": "not a colour!"}, r"background='not a colour!' is invalid"),
        ({"on_missing": "ignore"}, r"on_missing='ignore' is invalid"),
        ({"max_concurrency": 0}, r"max_concurrency=0 is invalid"),
        ({"max_retries": -1}, r"max_retries=-1 is invalid"),
        ({"name_template": "../{stem}.{ext}"}, r"unsafe object name"),
        ({"name_template": "{sku}.{ext}"}, r"unknown field \{sku\}"),
    ],
)
def test_init_rejects_invalid_argument(tmp_path, kwargs, message):
    with pytest.raises(MircateConfigError, match=message):
        fetch_op(filenames=["a.png"], destination=str(tmp_path), **kwargs)


def test_init_needs_exactly_one_filename_source(tmp_path):
    with pytest.raises(MircateConfigError, match="exactly one"):
        fetch_op(destination=str(tmp_path))
    with pytest.raises(MircateConfigError, match="exactly one"):
        fetch_op(filenames=["a.png"], filenames_path="x.txt", destination=str(tmp_path))


def test_init_defers_templated_transform(tmp_path):
    op = fetch_op(filenames=["a.png"], destination=str(tmp_path), width="{{ params.width }}")
    assert op.width == "{{ params.width }}"


def test_templated_transform_checked_before_any_request(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 1)
    op = fetch_op(filenames=names, destination=str(tmp_path), quality="{{ params.quality }}")
    op.quality = "150"  # the value as rendering would leave it
    with pytest.raises(MircateConfigError, match="quality='150' is invalid"):
        op.execute({})
    assert get_image_calls(mircate_conn) == []


def test_filenames_string_is_rejected(mircate_conn, tmp_path):
    op = fetch_op(filenames="a.png", destination=str(tmp_path))
    with pytest.raises(MircateConfigError, match="must be a list"):
        op.execute({})


# -- transforms -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fit", "size"),
    [
        ("cover", (80, 80)),
        ("contain", (80, 80)),
        ("fill", (80, 80)),
        ("inside", (80, 40)),
        ("outside", (160, 80)),
    ],
)
def test_fit_mode_output_dimensions(mircate_conn, tmp_path, fit, size):
    names = add_images(mircate_conn, 1, width=200, height=100)
    fetch_op(filenames=names, destination=str(tmp_path), width=80, height=80, fit=fit, format="png").execute(
        {}
    )
    stored = tmp_path / names[0].replace(".png", ".png")
    with Image.open(stored) as image:
        assert image.size == size


FORMATS = [
    ("png", "png"),
    ("jpeg", "jpeg"),
    ("jpg", "jpeg"),
    ("webp", "webp"),
    ("gif", "gif"),
    ("tiff", "tiff"),
]
if features.check("avif"):
    FORMATS.append(("avif", "avif"))


@pytest.mark.parametrize(("fmt", "magic"), FORMATS)
def test_format_by_magic_bytes_and_extension(mircate_conn, tmp_path, fmt, magic):
    names = add_images(mircate_conn, 1)
    result = fetch_op(filenames=names, destination=str(tmp_path), format=fmt, width=32).execute({})
    stored = tmp_path / names[0].replace(".png", f".{fmt}")
    assert result["fetched"] == 1
    assert sniff_image_format(stored.read_bytes()[:12]) == magic


def test_no_format_keeps_original_extension(mircate_conn, tmp_path):
    data = make_test_image(40, 30, seed=3, format="jpeg")
    name = mircate_conn.add_image(data, "jpg")
    fetch_op(filenames=[name], destination=str(tmp_path)).execute({})
    assert (tmp_path / name).read_bytes() == data


def test_extension_from_content_type_when_name_has_none(mircate_conn, tmp_path):
    data = make_test_image(40, 30, seed=4, format="png")
    mircate_conn.state.images["plainname"] = {
        "bytes": data,
        "extension": "png",
        "sha256": hashlib.sha256(data).hexdigest(),
        "owner": {},
    }
    fetch_op(filenames=["plainname"], destination=str(tmp_path)).execute({})
    assert (tmp_path / "plainname.png").read_bytes() == data


def test_name_template_with_subfolder(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 1)
    fetch_op(
        filenames=names,
        destination=str(tmp_path),
        width=20,
        format="webp",
        name_template="{width}/{stem}.{ext}",
    ).execute({})
    assert (tmp_path / "20" / names[0].replace(".png", ".webp")).exists()


# -- local storage, manifest and reruns -----------------------------------------------------------


def test_fetch_to_local_stores_exact_bytes(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 5)
    result = fetch_op(filenames=names, destination=f"file://{tmp_path}").execute({})
    assert result["fetched"] == 5
    assert result["failed"] == 0
    for name in names:
        assert (tmp_path / name).read_bytes() == mircate_conn.state.images[name]["bytes"]


def test_manifest_records_every_image(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 3)
    result = fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    records = {r["filename"]: r for r in read_manifest(tmp_path / "manifest.jsonl")}
    assert result["manifest_path"] == f"file://{tmp_path}/manifest.jsonl"
    assert set(records) == set(names)
    for name in names:
        stored = mircate_conn.state.images[name]
        assert records[name]["status"] == "fetched"
        assert records[name]["path"] == f"file://{tmp_path}/{name}"
        assert records[name]["bytes"] == len(stored["bytes"])
        assert records[name]["sha256"] == stored["sha256"]
        assert records[name]["content_type"] == "image/png"
        assert records[name]["error"] is None


def test_result_counts_bytes(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 2)
    result = fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    assert result["bytes"] == sum(len(mircate_conn.state.images[n]["bytes"]) for n in names)


def test_rerun_skips_without_requests(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 4)
    fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    mircate_conn.clear_requests()
    result = fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    assert result["skipped"] == 4
    assert result["fetched"] == 0
    assert get_image_calls(mircate_conn) == []


def test_rerun_fetches_only_missing_object(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 3)
    fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    (tmp_path / names[1]).unlink()
    mircate_conn.clear_requests()
    result = fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    assert result["fetched"] == 1
    assert [c["method"] for c in get_image_calls(mircate_conn)] == ["getImage"]
    assert (tmp_path / names[1]).read_bytes() == mircate_conn.state.images[names[1]]["bytes"]


def test_stale_partial_object_is_refetched(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 2)
    fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    full = mircate_conn.state.images[names[0]]["bytes"]
    (tmp_path / names[0]).write_bytes(full[: len(full) // 2])
    mircate_conn.clear_requests()
    result = fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    assert result["fetched"] == 1
    assert result["skipped"] == 1
    assert len(get_image_calls(mircate_conn)) == 1
    assert (tmp_path / names[0]).read_bytes() == full


def test_overwrite_fetches_again(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 2)
    fetch_op(filenames=names, destination=str(tmp_path)).execute({})
    mircate_conn.clear_requests()
    result = fetch_op(filenames=names, destination=str(tmp_path), overwrite=True).execute({})
    assert result["fetched"] == 2
    assert len(get_image_calls(mircate_conn)) == 2


def test_duplicate_filename_fetched_once(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 1)
    result = fetch_op(filenames=names * 3, destination=str(tmp_path)).execute({})
    assert result["fetched"] == 1
    assert result["skipped"] == 2
    assert len(get_image_calls(mircate_conn)) == 1


def test_filenames_path_file(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 3)
    listing = tmp_path / "filenames.txt"
    listing.write_text("\n".join(names) + "\n\n")
    out = tmp_path / "out"
    result = fetch_op(filenames_path=str(listing), destination=str(out)).execute({})
    assert result["fetched"] == 3


def test_mapped_task_manifest_name(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 1)
    context = {"ti": SimpleNamespace(map_index=2)}
    result = fetch_op(filenames=names, destination=str(tmp_path)).execute(context)
    assert result["manifest_path"] == f"file://{tmp_path}/manifest-2.jsonl"
    assert (tmp_path / "manifest-2.jsonl").exists()


def test_explicit_manifest_path_and_no_manifest(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 1)
    manifest = tmp_path / "logs" / "run.jsonl"
    fetch_op(filenames=names, destination=str(tmp_path / "a"), manifest_path=str(manifest)).execute({})
    result = fetch_op(filenames=names, destination=str(tmp_path / "b"), write_manifest=False).execute({})
    assert len(read_manifest(manifest)) == 1
    assert result["manifest_path"] is None
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == [names[0]]


def test_partial_expand_builds_mapped_task(tmp_path):
    with DAG("images_mapped", schedule=None):
        mapped = MircateImageFetchOperator.partial(
            task_id="fetch", destination=str(tmp_path), width=100, format="webp"
        ).expand(filenames=[["a.png"], ["b.png", "c.png"]])
    assert mapped.task_id == "fetch"
    assert mapped.expand_input.value == {"filenames": [["a.png"], ["b.png", "c.png"]]}


# -- missing images and unsafe names --------------------------------------------------------------


def test_missing_image_skip_policy(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 2)
    result = fetch_op(
        filenames=[*names, "1j19r3y78mj-nothere.png"], destination=str(tmp_path), on_missing="skip"
    ).execute({})
    assert result["missing"] == 1
    assert result["fetched"] == 2
    record = next(r for r in read_manifest(tmp_path / "manifest.jsonl") if r["status"] == "missing")
    assert record["filename"] == "1j19r3y78mj-nothere.png"


def test_missing_image_fail_policy_tries_every_image(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 2)
    op = fetch_op(filenames=["1j19r3y78mj-nothere.png", *names], destination=str(tmp_path))
    with pytest.raises(MircateImageFetchError, match=r"1 image\(s\) were not found \(HTTP 404\)") as caught:
        op.execute({})
    assert caught.value.result["fetched"] == 2
    assert all((tmp_path / name).exists() for name in names)
    assert len(read_manifest(tmp_path / "manifest.jsonl")) == 3


UNSAFE = [
    "../evil.png",
    "/etc/passwd",
    "a/b.png",
    "..",
    ".",
    "",
    "a\x00b.png",
    "a\nb.png",
    "a\\b.png",
    "x" * 300,
]


def test_unsafe_names_fail_without_request(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 1)
    destination = tmp_path / "dest"
    with pytest.raises(MircateImageFetchError, match=r"10 image\(s\) failed") as caught:
        fetch_op(filenames=[*UNSAFE, *names], destination=str(destination)).execute({})
    assert caught.value.result["fetched"] == 1
    assert [c["http_method"] for c in get_image_calls(mircate_conn)] == ["GET"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest"]
    assert sorted(p.name for p in destination.iterdir()) == sorted([names[0], "manifest.jsonl"])
    failed = [r for r in read_manifest(destination / "manifest.jsonl") if r["status"] == "failed"]
    assert len(failed) == 10
    assert all(r["error"].startswith("rejected:") for r in failed)
    assert all(r["path"] is None for r in failed)


def test_failure_message_lists_first_20(mircate_conn, tmp_path):
    bad = [f"bad/{i}.png" for i in range(25)]
    with pytest.raises(MircateImageFetchError) as caught:
        fetch_op(filenames=bad, destination=str(tmp_path)).execute({})
    message = str(caught.value)
    assert "25 image(s) failed" in message
    assert "and 5 more" in message
    assert message.count("contains a path separator") == 20


# -- faults ---------------------------------------------------------------------------------------


@pytest.fixture
def faulty_conn(mircate_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_DEFAULT", mircate_emulator.conn_json(**FAST_RETRIES))
    return mircate_emulator


def assert_stored_exactly_once(emulator, directory, names, transforms):
    emulator.clear_faults()
    stored = sorted(p.name for p in directory.iterdir())
    assert stored == sorted([*(n.replace(".png", ".webp") for n in names), "manifest.jsonl"])
    records = read_manifest(directory / "manifest.jsonl")
    assert sorted(r["filename"] for r in records) == sorted(names)
    assert {r["status"] for r in records} == {"fetched"}
    for name in names:
        data = (directory / name.replace(".png", ".webp")).read_bytes()
        assert (
            hashlib.sha256(data).hexdigest() == hashlib.sha256(direct_bytes(name, **transforms)).hexdigest()
        )


@pytest.mark.reliability
def test_faults_end_with_every_image_byte_correct(faulty_conn, tmp_path):
    names = add_images(faulty_conn, 40, width=120, height=90)
    transforms = {"width": 60, "format": "webp"}
    # truncate is listed three times so that mid-body failures are drawn as often as the other kinds together.
    kinds = ["429", "500", "502", "503", "reset", "truncate", "truncate", "truncate"]
    faulty_conn.set_faults(rate=0.3, kinds=kinds)
    result = fetch_op(filenames=names, destination=str(tmp_path), max_retries=12, **transforms).execute({})
    faults = [c for c in get_image_calls(faulty_conn) if c["fault"]]
    assert result["fetched"] == 40
    assert "truncate" in {c["fault"] for c in faults}
    assert_stored_exactly_once(faulty_conn, tmp_path, names, transforms)


@pytest.mark.reliability
def test_read_timeout_is_retried(mircate_emulator, monkeypatch, tmp_path):
    conn = mircate_emulator.conn_json(**{**FAST_RETRIES, "read_timeout": 0.3})
    monkeypatch.setenv("AIRFLOW_CONN_MIRCATE_DEFAULT", conn)
    names = add_images(mircate_emulator, 6)
    transforms = {"format": "webp"}
    mircate_emulator.set_faults(rate=0.5, kinds=["timeout"], stall_seconds=1.0)
    result = fetch_op(filenames=names, destination=str(tmp_path), **transforms).execute({})
    assert result["fetched"] == 6
    assert "timeout" in {c["fault"] for c in get_image_calls(mircate_emulator)}
    assert_stored_exactly_once(mircate_emulator, tmp_path, names, transforms)


@pytest.mark.reliability
def test_failed_image_leaves_no_local_object(faulty_conn, tmp_path):
    names = add_images(faulty_conn, 2)
    faulty_conn.set_faults(rate=1.0, kinds=["truncate"])
    with pytest.raises(MircateImageFetchError, match=r"2 image\(s\) failed") as caught:
        fetch_op(filenames=names, destination=str(tmp_path), max_retries=1).execute({})
    assert "reading the image body failed after 2 attempt(s)" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.jsonl"]


# -- S3 -------------------------------------------------------------------------------------------


def s3_keys(s3_client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.mark.s3
def test_fetch_to_s3(mircate_conn, s3_bucket, s3_client):
    names = add_images(mircate_conn, 3)
    result = fetch_op(
        filenames=names, destination=f"s3://{s3_bucket}/images/", dest_conn_id=AWS_CONN_ID, format="webp"
    ).execute({})
    assert result["fetched"] == 3
    assert result["manifest_path"] == f"s3://{s3_bucket}/images/manifest.jsonl"
    keys = s3_keys(s3_client, s3_bucket)
    assert keys == sorted([*(f"images/{n.replace('.png', '.webp')}" for n in names), "images/manifest.jsonl"])
    body = s3_client.get_object(Bucket=s3_bucket, Key=f"images/{names[0].replace('.png', '.webp')}")[
        "Body"
    ].read()
    assert sniff_image_format(body[:12]) == "webp"


@pytest.mark.s3
def test_s3_rerun_and_stale_object(mircate_conn, s3_bucket, s3_client):
    names = add_images(mircate_conn, 3)
    destination = ObjectStoragePath(f"s3://{s3_bucket}/img", conn_id=AWS_CONN_ID)
    fetch_op(filenames=names, destination=destination).execute({})
    full = mircate_conn.state.images[names[2]]["bytes"]
    s3_client.put_object(Bucket=s3_bucket, Key=f"img/{names[2]}", Body=full[:10])
    mircate_conn.clear_requests()
    result = fetch_op(filenames=names, destination=destination).execute({})
    assert result["skipped"] == 2
    assert result["fetched"] == 1
    assert len(get_image_calls(mircate_conn)) == 1
    assert s3_client.get_object(Bucket=s3_bucket, Key=f"img/{names[2]}")["Body"].read() == full


@pytest.mark.s3
@pytest.mark.reliability
def test_failed_image_leaves_no_s3_object(faulty_conn, s3_bucket, s3_client):
    names = add_images(faulty_conn, 2)
    faulty_conn.set_faults(rate=1.0, kinds=["truncate"])
    with pytest.raises(MircateImageFetchError):
        fetch_op(
            filenames=names, destination=f"s3://{s3_bucket}/x/", dest_conn_id=AWS_CONN_ID, max_retries=1
        ).execute({})
    assert s3_keys(s3_client, s3_bucket) == ["x/manifest.jsonl"]


@pytest.mark.s3
@pytest.mark.reliability
def test_s3_faults_end_byte_correct(faulty_conn, s3_bucket, s3_client):
    names = add_images(faulty_conn, 12)
    faulty_conn.set_faults(rate=0.3, kinds=["500", "reset", "truncate"])
    result = fetch_op(
        filenames=names, destination=f"s3://{s3_bucket}/f/", dest_conn_id=AWS_CONN_ID, max_retries=12
    ).execute({})
    faulty_conn.clear_faults()
    assert result["fetched"] == 12
    assert len(s3_keys(s3_client, s3_bucket)) == 13
    for name in names:
        body = s3_client.get_object(Bucket=s3_bucket, Key=f"f/{name}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(direct_bytes(name)).hexdigest()


@pytest.mark.reliability
def test_api_key_in_no_log_error_or_manifest(faulty_conn, tmp_path, caplog):
    names = add_images(faulty_conn, 3)
    faulty_conn.set_faults(rate=0.5, kinds=["500", "truncate", "reset"])
    caplog.set_level("DEBUG")
    with pytest.raises(MircateImageFetchError) as caught:
        fetch_op(filenames=[*names, "1j19r3y78mj-nothere.png"], destination=str(tmp_path)).execute({})
    key = faulty_conn.api_key
    assert key not in caplog.text
    assert key not in str(caught.value)
    assert key not in json.dumps(caught.value.result)
    assert key not in (tmp_path / "manifest.jsonl").read_text()


def test_unknown_account_fails_despite_skip(mircate_conn, tmp_path, monkeypatch):
    from airflow_provider_mircate.exceptions import MircateAccountNotFoundError

    names = add_images(mircate_conn, 2)
    monkeypatch.setenv(
        "AIRFLOW_CONN_MIRCATE_WRONG_ACCOUNT",
        mircate_conn.conn_json(max_retries=0).replace('"1j19r3y78mj"', '"nosuchacct1"'),
    )
    operator = fetch_op(
        filenames=names, destination=str(tmp_path), on_missing="skip", mircate_conn_id="mircate_wrong_account"
    )

    with pytest.raises(MircateAccountNotFoundError, match="login \\(account id\\)"):
        operator.execute({})
    assert not [p for p in tmp_path.rglob("*.png")]


# -- width and height bounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 10**9}, r"width=1000000000 is invalid: use an integer of at least 1 and at most 10000"),
        ({"height": 10001}, r"height=10001 is invalid: use an integer of at least 1 and at most 10000"),
        ({"width": "10001"}, r"width='10001' is invalid: use an integer of at least 1 and at most 10000"),
        ({"height": 0}, r"height=0 is invalid: use an integer of at least 1 and at most 10000"),
    ],
)
def test_init_rejects_dimension_out_of_range(tmp_path, kwargs, message):
    with pytest.raises(MircateConfigError, match=message):
        fetch_op(filenames=["a.png"], destination=str(tmp_path), **kwargs)


def test_init_accepts_dimension_bounds(tmp_path):
    op = fetch_op(filenames=["a.png"], destination=str(tmp_path), width=10000, height="1")
    assert op._transforms() == {"width": 10000, "height": 1}


def test_templated_dimension_checked_before_any_request(mircate_conn, tmp_path):
    names = add_images(mircate_conn, 1)
    op = fetch_op(filenames=names, destination=str(tmp_path), width="{{ params.width }}")
    op.width = "20000"  # the value as rendering would leave it
    with pytest.raises(MircateConfigError, match="width='20000' is invalid"):
        op.execute({})
    assert get_image_calls(mircate_conn) == []


def test_dimension_at_limit_is_fetched(mircate_conn, tmp_path):
    # A flat source keeps the 10000-pixel-wide output small.
    names = add_images(mircate_conn, 1, width=40, height=2)
    op = fetch_op(filenames=names, destination=str(tmp_path), width=10000, fit="inside", format="png")

    result = op.execute({})

    assert result["fetched"] == 1
    with Image.open(tmp_path / names[0]) as image:
        assert image.width == 10000
