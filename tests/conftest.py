"""Test-session setup: an Airflow home inside the repository, no cloud lookups, a moto S3 server."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads these when it is first imported, so they are set before any test module imports it.
os.environ["AIRFLOW_HOME"] = os.environ.get("MIRCATE_TEST_AIRFLOW_HOME", str(ROOT / ".airflow" / "test"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
# Without credentials boto would probe a cloud metadata address; these tests reach only 127.0.0.1.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["AWS_ACCESS_KEY_ID"] = "mircate-test-access-key"
os.environ["AWS_SECRET_ACCESS_KEY"] = "mircate-test-secret-key"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(proxy, None)
Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)

AWS_CONN_ID = "mircate_test_s3"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 for the session and return its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """
    Create a fresh bucket on the moto server and an ``aws`` connection that reaches it.

    The connection id is ``mircate_test_s3``; object storage paths use ``s3://mircate_test_s3@BUCKET/``
    or ``ObjectStoragePath("s3://BUCKET/", conn_id="mircate_test_s3")``. Returns the bucket name.
    """
    import boto3

    bucket = f"mircate-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    conn = {
        "conn_type": "aws",
        "login": os.environ["AWS_ACCESS_KEY_ID"],
        "password": os.environ["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(conn))
    return bucket


@pytest.fixture
def s3_client(s3_endpoint: str):
    """A boto3 S3 client on the moto server, for asserting what a test stored."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name="us-east-1",
    )
