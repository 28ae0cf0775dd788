"""Filename checks, object names under a destination, and splitting filename lists for mapping."""

from __future__ import annotations

import posixpath

import pytest
from airflow.sdk import ObjectStoragePath
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_mircate.exceptions import MircateConfigError
from airflow_provider_mircate.utils.filenames import (
    UnsafeFilenameError,
    check_name_component,
    chunk_filenames,
    object_path_under,
    render_object_name,
    split_filename,
    validate_name_template,
)

GOOD = "1j19r3y78mj-0123456789abcdef0123456789abcdef.png"

UNSAFE_NAMES = [
    ("", "empty"),
    ("..", "relative path reference"),
    (".", "relative path reference"),
    ("../x.png", "path separator"),
    ("a/b.png", "path separator"),
    ("/etc/passwd", "path separator"),
    ("a\\b.png", "path separator"),
    ("..\\..\\x.png", "path separator"),
    ("a\x00b.png", "control character"),
    ("a\nb.png", "control character"),
    ("a\rb.png", "control character"),
    ("a\u202eb.png", "control character"),
    ("a\u2028b.png", "control character"),
    ("x" * 252 + ".png", "bytes long"),
    ("é" * 128, "bytes long"),
    ("A0::", "contains ':'"),
    ("s3:x.png", "contains ':'"),
    ("memory::x.png", "contains ':'"),
]


def test_check_name_component_accepts_api_filename():
    assert check_name_component(GOOD) == GOOD


def test_check_name_component_accepts_255_bytes():
    name = "x" * 251 + ".png"
    assert check_name_component(name) == name


@pytest.mark.parametrize(("name", "reason"), UNSAFE_NAMES)
def test_check_name_component_rejects_unsafe(name, reason):
    with pytest.raises(UnsafeFilenameError, match=reason):
        check_name_component(name)


@pytest.mark.parametrize("value", [None, 5, b"x.png", ["x.png"]])
def test_check_name_component_rejects_non_string(value):
    with pytest.raises(UnsafeFilenameError, match="not a string"):
        check_name_component(value)


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("a.png", ("a", "png")), ("a.b.jpg", ("a.b", "jpg")), ("noext", ("noext", "")), (".png", (".png", ""))],
)
def test_split_filename(filename, expected):
    assert split_filename(filename) == expected


def test_render_object_name_default_template():
    assert render_object_name("{stem}.{ext}", "a.png", ext="webp") == "a.webp"


def test_render_object_name_all_fields():
    name = render_object_name(
        "{width}x{height}/{format}/{filename}-{stem}.{ext}",
        "a.png",
        ext="webp",
        width=10,
        height=20,
        image_format="webp",
    )
    assert name == "10x20/webp/a.png-a.webp"


def test_render_object_name_unset_fields_render_empty():
    assert render_object_name("{stem}_{width}_{height}_{format}.{ext}", "a.png", ext="png") == "a___.png"


def test_render_object_name_rejects_unsafe_filename():
    with pytest.raises(UnsafeFilenameError):
        render_object_name("{stem}.{ext}", "../a.png", ext="png")


def test_render_object_name_rejects_unsafe_result():
    with pytest.raises(UnsafeFilenameError, match="empty"):
        render_object_name("{stem}/{format}/{ext}", "a.png", ext="png")


@pytest.mark.parametrize("template", ["{stem}.{ext}", "{width}/{stem}.{ext}", "{filename}"])
def test_validate_name_template_accepts(template):
    assert validate_name_template(template) == template


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{name}.{ext}", "unknown field"),
        ("{stem:>10}.{ext}", "format spec"),
        ("{stem!r}.{ext}", "conversion"),
        ("../{stem}.{ext}", "unsafe object name"),
        ("/{stem}.{ext}", "unsafe object name"),
        ("{stem}//{ext}", "unsafe object name"),
        ("", "invalid"),
    ],
)
def test_validate_name_template_rejects(template, message):
    with pytest.raises(MircateConfigError, match=message):
        validate_name_template(template)


def test_object_path_under_local_destination(tmp_path):
    destination = ObjectStoragePath(f"file://{tmp_path}")
    target = object_path_under(destination, "sub/a.png")
    assert target.path == f"{tmp_path}/sub/a.png"


def test_object_path_under_rejects_parent_component(tmp_path):
    destination = ObjectStoragePath(f"file://{tmp_path}")
    with pytest.raises(UnsafeFilenameError):
        object_path_under(destination, "sub/../../a.png")


def test_object_path_under_s3_destination():
    destination = ObjectStoragePath("s3://bucket/images/")
    assert object_path_under(destination, "a.png").path == "bucket/images/a.png"


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    filename=st.one_of(
        st.text(min_size=0, max_size=80),
        st.text(
            alphabet=st.sampled_from(["/", "\\", ".", "a", "\x00", "~", ":", "%", " ", "\u202e"]), max_size=30
        ),
        st.lists(st.sampled_from(["..", ".", "", "a", "~", "s3:", "C:"]), max_size=6).map("/".join),
    ),
    template=st.sampled_from(["{stem}.{ext}", "{filename}", "{width}/{stem}.{ext}", "x/{filename}"]),
)
def test_no_filename_resolves_outside_destination(filename, template):
    destination = ObjectStoragePath("file:///data/images")
    try:
        relative = render_object_name(template, filename, ext="png", width=10)
        target = object_path_under(destination, relative)
    except UnsafeFilenameError:
        return
    assert target.protocol == "file"
    assert posixpath.normpath(target.path) == target.path
    assert target.path.startswith("/data/images/")
    assert ".." not in target.path.split("/")


@settings(max_examples=200, deadline=None)
@given(filename=st.text(min_size=1, max_size=60))
def test_no_filename_escapes_s3_destination(filename):
    destination = ObjectStoragePath("s3://bucket/images")
    try:
        target = object_path_under(destination, render_object_name("{stem}.{ext}", filename, ext="jpg"))
    except UnsafeFilenameError:
        return
    assert target.path.startswith("bucket/images/")
    assert posixpath.normpath(target.path) == target.path


def test_chunk_filenames_from_list():
    assert chunk_filenames(["a", "b", "c", "d", "e"], 2) == [["a", "b"], ["c", "d"], ["e"]]


def test_chunk_filenames_empty_list():
    assert chunk_filenames([], 3) == []


def test_chunk_filenames_from_file(tmp_path):
    path = tmp_path / "filenames.txt"
    path.write_text("a.png\n\n  b.png  \nc.png\n")
    assert chunk_filenames(str(path), 2) == [["a.png", "b.png"], ["c.png"]]


def test_chunk_filenames_from_object_storage_path(tmp_path):
    path = tmp_path / "filenames.txt"
    path.write_text("a.png\nb.png\n")
    assert chunk_filenames(ObjectStoragePath(f"file://{path}"), 5) == [["a.png", "b.png"]]


@pytest.mark.parametrize("size", [0, -1, True, 1.5])
def test_chunk_filenames_rejects_bad_size(size):
    with pytest.raises(MircateConfigError, match="size="):
        chunk_filenames(["a"], size)
