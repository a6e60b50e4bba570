"""Import from URL against a real HTTP server on 127.0.0.1 and moto's S3: resumption after a dropped
connection, no splicing of a changed file, redirects checked hop by hop, the byte limit, bounded memory.

Where loopback must stay refused, a public name stands in for the server: `files.example` resolves to a
public address, and the socket opened to that address reaches the local server (the `network` fixture)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from playout import importer
from playout.errors import InvalidInput, QuotaExceeded
from playout.importer import ImportedObject, import_url
from playout.netguard import UnsafeAddress
from tests.certificates import self_signed_certificate
from tests.integration.file_server import FileServer, ServedFile, serve_files

BUCKET = "import-test"
KEY = "media/user/media/source"
MIB = 1024**2
PART = 5 * MIB  # S3's smallest part: several parts from a file of a few MB
PUBLIC_NAME = "files.example"
PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def server() -> Iterator[FileServer]:
    with serve_files() as served:
        yield served


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@dataclass
class Network:
    connected: list[str] = field(default_factory=list)  # every address the importer opened a socket to


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Network:
    network = Network()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = importer.create_connection

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == PUBLIC_NAME:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC_IP, port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        network.connected.append(address[0])
        host = "127.0.0.1" if address[0] == PUBLIC_IP else address[0]
        return real_connect((host, address[1]), *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(importer, "create_connection", connect)
    return network


def stored(s3: Any) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())


def pending_uploads(s3: Any) -> list[Any]:
    return list(s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))


def run_import(s3: Any, url: str, byte_limit: int = 100 * MIB, **kwargs: Any) -> ImportedObject:
    kwargs.setdefault("allow_loopback", True)
    return import_url(
        url, s3=s3, bucket=BUCKET, key=KEY, byte_limit=byte_limit, part_size_bytes=PART, **kwargs
    )


def test_an_import_dropped_half_way_resumes_from_the_bytes_received(server: FileServer, s3: Any) -> None:
    body = os.urandom(12 * MIB)
    half = len(body) // 2
    server.files["/clip.mp4"] = ServedFile(body, drop_after=half)
    progress: list[tuple[int, int | None]] = []

    imported = run_import(
        s3, server.url("/clip.mp4"), on_progress=lambda done, total: progress.append((done, total))
    )

    assert stored(s3) == body
    assert imported.size_bytes == len(body)
    assert imported.content_type == "video/mp4"
    assert imported.final_url == server.url("/clip.mp4")
    assert [(seen.range, seen.if_range) for seen in server.seen] == [(None, None), (f"bytes={half}-", '"v1"')]
    assert progress[-1] == (len(body), len(body))
    assert pending_uploads(s3) == []


def test_a_dropped_import_resumes_on_last_modified_when_the_etag_is_weak(server: FileServer, s3: Any) -> None:
    body = os.urandom(7 * MIB)
    modified = "Wed, 21 Oct 2015 07:28:00 GMT"
    server.files["/clip.mp4"] = ServedFile(body, etag='W/"weak"', last_modified=modified, drop_after=MIB)

    run_import(s3, server.url("/clip.mp4"))

    assert stored(s3) == body
    assert server.seen[1].if_range == modified


@pytest.mark.parametrize("honours_if_range", [True, False], ids=["if-range-honoured", "if-range-ignored"])
def test_a_file_replaced_while_importing_is_imported_again_from_zero_not_spliced(
    server: FileServer, s3: Any, honours_if_range: bool
) -> None:
    before, after = os.urandom(8 * MIB), os.urandom(9 * MIB)
    replacement = ServedFile(after, etag='"v2"', honours_if_range=honours_if_range)
    server.files["/clip.mp4"] = ServedFile(before, drop_after=6 * MIB, replaced_after_drop=replacement)

    imported = run_import(s3, server.url("/clip.mp4"))

    assert stored(s3) == after
    assert imported.size_bytes == len(after)
    # Honoured, If-Range answers the new file whole; ignored, the new ETag on the 206 sends it back to zero.
    expected_ranges = [None, f"bytes={6 * MIB}-"] + ([] if honours_if_range else [None])
    assert [seen.range for seen in server.seen] == expected_ranges
    assert pending_uploads(s3) == []


def test_a_server_without_validators_is_read_again_from_zero_after_a_drop(
    server: FileServer, s3: Any
) -> None:
    body = os.urandom(6 * MIB)
    server.files["/clip.mp4"] = ServedFile(body, etag=None, drop_after=3 * MIB)

    run_import(s3, server.url("/clip.mp4"))

    assert stored(s3) == body
    assert [seen.range for seen in server.seen] == [None, None]


def test_five_redirects_are_followed_and_a_sixth_is_refused(server: FileServer, s3: Any) -> None:
    body = os.urandom(MIB)
    server.files["/clip.mp4?token=secret"] = ServedFile(body)
    for hop in range(1, 7):
        server.redirects[f"/hop/{hop}"] = f"/hop/{hop - 1}" if hop > 1 else "/clip.mp4?token=secret"

    # The final URL is kept without its query: signed links carry their credentials there.
    assert run_import(s3, server.url("/hop/5")).final_url == server.url("/clip.mp4")
    assert stored(s3) == body
    server.seen.clear()

    with pytest.raises(InvalidInput, match="redirects more than 5 times"):
        run_import(s3, server.url("/hop/6"))
    assert "/clip.mp4?token=secret" not in [seen.path for seen in server.seen]


@pytest.mark.parametrize(
    "location",
    ["http://10.0.0.1/clip.mp4", "http://169.254.169.254/latest/meta-data/", "http://[::1]/clip.mp4"],
)
def test_a_redirect_to_an_address_off_the_internet_is_refused_before_connecting(
    server: FileServer, s3: Any, network: Network, location: str
) -> None:
    server.redirects["/clip.mp4"] = location

    with pytest.raises(
        UnsafeAddress,
        match=r"^the link redirects, and the redirect cannot be followed: .* not a public internet address",
    ):
        run_import(s3, server.url("/clip.mp4", host=PUBLIC_NAME), allow_loopback=False)

    assert network.connected == [PUBLIC_IP]
    assert server.seen[0].host == f"{PUBLIC_NAME}:{server.port}"  # the name, not the address connected
    assert pending_uploads(s3) == []


def test_a_redirect_to_metadata_is_refused_even_where_loopback_is_allowed(
    server: FileServer, s3: Any, network: Network
) -> None:
    server.redirects["/clip.mp4"] = "http://169.254.169.254/latest/meta-data/"

    with pytest.raises(UnsafeAddress):
        run_import(s3, server.url("/clip.mp4"), allow_loopback=True)

    assert network.connected == ["127.0.0.1"]


@pytest.mark.parametrize("certified_name", [PUBLIC_NAME, "other.example"])
def test_https_to_the_checked_address_still_verifies_the_certificate_for_the_host_name(
    s3: Any, network: Network, tmp_path: Path, certified_name: str
) -> None:
    certificate, key = self_signed_certificate(tmp_path, certified_name)
    body = os.urandom(MIB)
    session = importer.import_session()
    session.verify = str(certificate)  # the test's own authority
    with serve_files(tls=(certificate, key)) as tls_server:
        tls_server.files["/clip.mp4"] = ServedFile(body)
        url = tls_server.url("/clip.mp4", host=PUBLIC_NAME)
        if certified_name == PUBLIC_NAME:
            run_import(s3, url, allow_loopback=False, session=session)
            assert stored(s3) == body
        else:
            with pytest.raises(importer.ImportFailed, match=r"files\.example did not present a valid"):
                run_import(s3, url, allow_loopback=False, session=session)
    assert set(network.connected) == {PUBLIC_IP}


def test_a_file_over_the_byte_limit_is_refused_from_its_content_length(server: FileServer, s3: Any) -> None:
    server.files["/clip.mp4"] = ServedFile(os.urandom(6 * MIB))

    with pytest.raises(QuotaExceeded, match=r"the file \(6.0 MB\) is larger than the 4.0 MB left"):
        run_import(s3, server.url("/clip.mp4"), byte_limit=4 * MIB)

    assert pending_uploads(s3) == []


def test_a_file_of_unknown_length_is_stopped_at_the_byte_limit_and_its_upload_aborted(
    server: FileServer, s3: Any
) -> None:
    server.files["/live.mp4"] = ServedFile(os.urandom(12 * MIB), length_known=False)
    parts_uploaded: list[int] = []
    real_upload_part = s3.upload_part

    def upload_part(**kwargs: Any) -> Any:
        parts_uploaded.append(kwargs["PartNumber"])
        return real_upload_part(**kwargs)

    s3.upload_part = upload_part

    with pytest.raises(QuotaExceeded, match=r"larger than the 7\.0 MB left"):
        run_import(s3, server.url("/live.mp4"), byte_limit=7 * MIB)

    assert parts_uploaded == [1]  # it was under way when the limit stopped it
    assert pending_uploads(s3) == []
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_a_server_error_is_retried_on_the_same_session(server: FileServer, s3: Any) -> None:
    body = os.urandom(MIB)
    server.files["/clip.mp4"] = ServedFile(body, unavailable_times=1)

    run_import(s3, server.url("/clip.mp4"))

    assert stored(s3) == body
    assert [seen.path for seen in server.seen] == ["/clip.mp4", "/clip.mp4"]


def test_a_missing_file_fails_with_the_servers_answer(server: FileServer, s3: Any) -> None:
    with pytest.raises(importer.ImportFailed, match=r"has no file at this link; check the link \(HTTP 404\)"):
        run_import(s3, server.url("/missing.mp4"))
    assert pending_uploads(s3) == []


@pytest.fixture
def moto_process() -> Iterator[Any]:
    """moto's S3 in a process of its own: the memory measured is the importer's, not the stored object's."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        client.create_bucket(Bucket=BUCKET)
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_50_mb_import_holds_one_part_in_memory_not_the_file(server: FileServer, moto_process: Any) -> None:
    body = os.urandom(50 * MIB)
    server.files["/big.mp4"] = ServedFile(body, drop_after=30 * MIB)
    expected = hashlib.sha256(body).hexdigest()
    moto_process.list_buckets()  # botocore's models loaded before the measurement

    tracemalloc.start()
    try:
        import_url(
            server.url("/big.mp4"),
            s3=moto_process,
            bucket=BUCKET,
            key=KEY,
            byte_limit=100 * MIB,
            allow_loopback=True,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    digest = hashlib.sha256()
    for chunk in moto_process.get_object(Bucket=BUCKET, Key=KEY)["Body"].iter_chunks(MIB):
        digest.update(chunk)
    assert digest.hexdigest() == expected
    print(f"import peak traced memory: {peak / MIB:.1f} MiB for a {len(body) // MIB} MiB file")
    assert peak < 0.4 * len(body)
