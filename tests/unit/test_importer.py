"""Import from URL without a network: links refused before any socket, DNS rebinding caught at connect
(the resolver stood in for), and the part sizes of the multipart upload. No socket is opened here."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

import pytest

from playout import importer
from playout.errors import InvalidInput
from playout.importer import check_import_url, import_url
from playout.netguard import UnsafeAddress

PUBLIC_IP = "93.184.216.34"


@dataclass
class RecordingS3:
    calls: list[str] = field(default_factory=list)
    part_sizes: list[int] = field(default_factory=list)

    def create_multipart_upload(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append("create_multipart_upload")
        return {"UploadId": "upload-1"}

    def upload_part(self, *, PartNumber: int, Body: Any, **kwargs: Any) -> dict[str, str]:
        self.part_sizes.append(len(Body.read()))
        return {"ETag": f'"{PartNumber}"'}

    def complete_multipart_upload(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append("complete_multipart_upload")
        return {"ETag": '"done"'}

    def abort_multipart_upload(self, **kwargs: Any) -> None:
        self.calls.append("abort_multipart_upload")


@dataclass
class Resolver:
    """Stands in for DNS: each name answers its addresses in turn, the last one from then on."""

    answers: dict[str, list[str]]
    asked: list[str] = field(default_factory=list)

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(host)
        queue = self.answers.get(host)
        if not queue:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        address = queue.pop(0) if len(queue) > 1 else queue[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
        return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]


@dataclass
class NoSockets:
    attempted: list[tuple[str, int]] = field(default_factory=list)

    def create_connection(self, address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        self.attempted.append(address)
        raise AssertionError(f"a connection to {address} was attempted")


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> NoSockets:
    guard = NoSockets()
    monkeypatch.setattr(importer, "create_connection", guard.create_connection)
    return guard


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    stand_in = Resolver({})
    monkeypatch.setattr(socket, "getaddrinfo", stand_in.getaddrinfo)
    return stand_in


def run_import(url: str, s3: RecordingS3, *, allow_loopback: bool = False) -> None:
    import_url(url, s3=s3, bucket="b", key="k", byte_limit=10**9, allow_loopback=allow_loopback)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "only http:// and https:// links"),
        ("ftp://example.com/clip.mp4", "only http:// and https:// links"),
        ("gopher://example.com/", "only http:// and https:// links"),
        ("http:///clip.mp4", "no host name"),
        ("http://example.com:99999/clip.mp4", "not a valid URL"),
        ("http://169.254.169.254/latest/meta-data/", "not a public internet address"),
        ("http://169.254.170.2/v2/credentials", "not a public internet address"),
        ("http://127.0.0.1/clip.mp4", "not a public internet address"),
        ("http://[::1]/clip.mp4", "not a public internet address"),
        ("http://0.0.0.0/clip.mp4", "not a public internet address"),
        ("http://[::]/clip.mp4", "not a public internet address"),
        ("http://[::ffff:127.0.0.1]/clip.mp4", "not a public internet address"),
        ("http://[::ffff:169.254.169.254]/clip.mp4", "not a public internet address"),
        ("http://10.0.0.1/clip.mp4", "not a public internet address"),
        ("http://192.168.1.1/clip.mp4", "not a public internet address"),
        ("http://100.64.0.1/clip.mp4", "not a public internet address"),
        ("http://224.0.0.1/clip.mp4", "not a public internet address"),
        ("http://240.0.0.1/clip.mp4", "not a public internet address"),
        ("http://[fe80::1]/clip.mp4", "not a public internet address"),
        ("http://[fd00::1]/clip.mp4", "not a public internet address"),
    ],
)
def test_a_link_off_the_public_web_is_refused_before_any_connection(
    url: str, reason: str, no_sockets: NoSockets, resolver: Resolver
) -> None:
    s3 = RecordingS3()
    with pytest.raises(InvalidInput, match=reason):
        run_import(url, s3)
    assert s3.calls == []
    assert no_sockets.attempted == []


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "http://[fe80::1]/"]
)
def test_allowing_loopback_still_refuses_link_local_and_private_addresses(
    url: str, no_sockets: NoSockets, resolver: Resolver
) -> None:
    with pytest.raises(UnsafeAddress):
        run_import(url, RecordingS3(), allow_loopback=True)
    assert no_sockets.attempted == []


def test_a_name_that_resolves_to_a_private_address_is_refused(
    resolver: Resolver, no_sockets: NoSockets
) -> None:
    resolver.answers["intranet.example"] = ["10.1.2.3"]
    with pytest.raises(UnsafeAddress, match=r"intranet\.example resolves to an address that is not"):
        run_import("https://intranet.example/clip.mp4", RecordingS3())
    assert no_sockets.attempted == []


def test_a_link_with_credentials_is_refused_without_repeating_them(
    resolver: Resolver, no_sockets: NoSockets
) -> None:
    with pytest.raises(InvalidInput, match="user name or password") as refused:
        run_import("https://alice:s3cret@files.example/clip.mp4", RecordingS3())
    assert "s3cret" not in str(refused.value)
    assert "alice" not in str(refused.value)
    assert resolver.asked == []


@pytest.mark.parametrize("rebound_to", ["10.0.0.1", "169.254.169.254", "127.0.0.1", "::1"])
def test_a_name_rebound_to_a_private_address_after_the_check_is_refused_at_connect(
    resolver: Resolver, no_sockets: NoSockets, rebound_to: str
) -> None:
    resolver.answers["rebind.example"] = [PUBLIC_IP, rebound_to]
    s3 = RecordingS3()

    with pytest.raises(UnsafeAddress, match=r"rebind\.example resolves to an address"):
        run_import("http://rebind.example/clip.mp4", s3)

    assert resolver.asked == ["rebind.example", "rebind.example"]  # the link check, then the connection
    assert no_sockets.attempted == []
    assert s3.calls == []


def test_check_import_url_accepts_a_public_https_link(resolver: Resolver) -> None:
    resolver.answers["files.example"] = [PUBLIC_IP]
    check_import_url("https://files.example/clip.mp4?token=abc")


def test_parts_keep_their_size_when_the_length_is_known() -> None:
    s3 = RecordingS3()
    writer = importer._MultipartWriter(s3, "b", "k", part_size=4, total=10, object_args={})
    for _ in range(10):
        writer.write(b"x")
    writer.complete()
    assert s3.part_sizes == [4, 4, 2]


def test_parts_of_a_body_of_unknown_length_double_every_thousand_parts() -> None:
    s3 = RecordingS3()
    writer = importer._MultipartWriter(s3, "b", "k", part_size=1, total=None, object_args={})
    for _ in range(1000 + 2 * 1000 + 4):
        writer.write(b"x")
    writer.complete()
    assert s3.part_sizes == [1] * 1000 + [2] * 1000 + [4]


def test_ten_thousand_doubling_parts_of_the_default_size_hold_more_than_s3s_largest_object() -> None:
    largest_object = 5 * 1024**4
    held = sum(importer.PART_SIZE_BYTES * 2 ** (number // 1000) for number in range(importer.MAX_PARTS))
    assert held > largest_object
    assert importer.PART_SIZE_BYTES * 2**9 <= 5 * 1024**3  # and no part beyond S3's 5 GiB
