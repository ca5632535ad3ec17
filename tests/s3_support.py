"""A real S3-compatible server for tests: moto's standalone server on a free loopback port.

`s3_server` starts one per test session (in a thread of the test process, stopped at the
end); `s3_env` points the AWS environment at it with dummy credentials; `s3_root` is a fresh
bucket's StorageRef for one test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "codesweep-test",
    "AWS_SECRET_ACCESS_KEY": "codesweep-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never wait on the instance metadata service
}


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """The endpoint URL (http://127.0.0.1:PORT) of a moto S3 server for this session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS environment variables for the test server; returns its endpoint."""
    from codesweep.storage import open_filesystem

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "CODESWEEP_STORAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CODESWEEP_S3_ENDPOINT", s3_server)
    open_filesystem.cache_clear()  # filesystems hold the credentials they were opened with
    yield s3_server
    open_filesystem.cache_clear()


def make_bucket(endpoint: str) -> str:
    """Create a bucket with a fresh name on the server; return the name."""
    import boto3

    name = f"codesweep-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name=CREDENTIALS["AWS_REGION"],
                          aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_root(s3_env: str):
    """The storage root s3://<fresh bucket>/runs on the test server."""
    from codesweep.storage import resolve_storage

    return resolve_storage(f"s3://{make_bucket(s3_env)}/runs")
