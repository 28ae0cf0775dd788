from __future__ import annotations

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_mircate.utils.storage import atomic_writer, to_object_path


def test_local_path_becomes_file_uri(tmp_path):
    path = to_object_path(str(tmp_path / "a.txt"))
    assert path.protocol == "file"
    assert path.path == str(tmp_path / "a.txt")


def test_local_write_appears_only_on_success(tmp_path):
    target = to_object_path(tmp_path / "out" / "a.bin")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"partial")
        raise RuntimeError("interrupted")
    assert not (tmp_path / "out" / "a.bin").exists()
    assert list((tmp_path / "out").iterdir()) == []
    with atomic_writer(target) as handle:
        handle.write(b"whole")
    assert (tmp_path / "out" / "a.bin").read_bytes() == b"whole"


def test_local_write_handles_name_at_length_limit(tmp_path):
    name = "n" * 251 + ".png"
    with atomic_writer(to_object_path(tmp_path / name)) as handle:
        handle.write(b"x")
    assert (tmp_path / name).read_bytes() == b"x"


@pytest.mark.s3
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_s3_write_discarded_on_failure(s3_bucket, s3_client):
    target = ObjectStoragePath(f"s3://{s3_bucket}/images/a.bin", conn_id="mircate_test_s3")
    with pytest.raises(RuntimeError), atomic_writer(target) as handle:
        handle.write(b"partial" * 1000)
        raise RuntimeError("interrupted")
    listing = s3_client.list_objects_v2(Bucket=s3_bucket)
    assert listing.get("KeyCount", 0) == 0
    with atomic_writer(target) as handle:
        handle.write(b"whole")
    assert s3_client.get_object(Bucket=s3_bucket, Key="images/a.bin")["Body"].read() == b"whole"
