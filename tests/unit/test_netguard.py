"""Which addresses Playout connects to for a user: literal addresses and a resolver stood in for (no DNS)."""

from __future__ import annotations

import socket

import pytest

from playout.errors import InvalidInput
from playout.netguard import (
    UnresolvableHost,
    UnsafeAddress,
    check_public_address,
    is_public,
    parse_ip,
    resolve_public,
)

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "142.250.74.110",  # a YouTube ingest
    "100.63.255.255",  # just below carrier-grade NAT
    "100.128.0.0",  # just above it
    "172.15.255.255",
    "172.32.0.0",
    "192.0.3.1",
    "198.17.255.255",
    "223.255.255.255",
    "2607:f8b0:4004:c07::6a",
    "2a03:2880:f10e:83:face:b00c:0:25de",
    "::ffff:8.8.8.8",  # IPv4-mapped form of a public address
    "64:ff9b::808:808",  # NAT64 (DNS64) form of 8.8.8.8
]

NOT_PUBLIC = [
    "0.0.0.0",  # noqa: S104  # an address under test, not a bind
    "0.1.2.3",
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",  # instance metadata
    "169.254.170.2",  # ECS task metadata and credentials
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "192.88.99.1",
    "192.168.1.1",
    "198.18.0.1",
    "198.19.255.255",
    "198.51.100.7",
    "203.0.113.7",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::ffff:127.0.0.1",
    "::ffff:169.254.170.2",
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:aa02",  # NAT64 form of 169.254.170.2
    "64:ff9b::7f00:1",
    "64:ff9b:1::808:808",  # local-use NAT64
    "100::1",
    "fc00::1",
    "fd12:3456:789a::1",
    "fe80::1",
    "fe80::1%eth0",
    "fec0::1",
    "ff02::1",
    "2001::1",  # Teredo
    "2001:2::1",  # benchmarking
    "2001:db8::1",
    "2002:a9fe:aa02::1",  # 6to4 of 169.254.170.2
    "2002:808:808::1",  # 6to4 as a whole
    "3fff::1",
    "4000::1",  # outside global unicast
]


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("a unit test asked the real resolver")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def fake_resolver(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[tuple[object, ...]]:
    calls: list[tuple[object, ...]] = []

    def getaddrinfo(host: str, port: object, *args: int) -> list[tuple[object, ...]]:
        calls.append((host, port, *args))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos: list[tuple[object, ...]] = []
        for address in answers[host]:
            if ":" in address:
                literal, _, scope = address.partition("%")
                infos.append(
                    (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (literal, port, 0, int(scope or 0)))
                )
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


@pytest.mark.parametrize("ip", PUBLIC)
def test_public_addresses_pass(ip: str) -> None:
    assert is_public(ip)
    assert str(check_public_address(ip)) == str(parse_ip(ip))


@pytest.mark.parametrize("ip", NOT_PUBLIC)
def test_every_address_that_is_not_public_is_refused(ip: str) -> None:
    assert not is_public(ip)
    with pytest.raises(UnsafeAddress) as refused:
        check_public_address(ip)
    assert refused.value.status == 422
    assert "not a public internet address" in refused.value.message


@pytest.mark.parametrize("ip", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
def test_the_loopback_setting_admits_loopback(ip: str) -> None:
    assert not is_public(ip)
    assert is_public(ip, allow_loopback=True)


@pytest.mark.parametrize(
    "ip", ["169.254.170.2", "10.0.0.1", "0.0.0.1", "::", "fe80::1", "64:ff9b::7f00:1", "192.168.0.1"]
)
def test_the_loopback_setting_admits_nothing_else(ip: str) -> None:
    with pytest.raises(UnsafeAddress):
        check_public_address(ip, allow_loopback=True)


def test_url_hosts_are_read_as_addresses_with_or_without_brackets() -> None:
    assert str(parse_ip("[2001:4860::8888]")) == "2001:4860::8888"
    assert str(parse_ip("203.0.113.7")) == "203.0.113.7"
    assert parse_ip("a.rtmp.youtube.com") is None
    assert parse_ip("127.1") is None  # a resolver would read it; resolve_public then checks what it gives


def test_a_public_host_resolves_to_all_its_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_resolver(
        monkeypatch,
        {"a.rtmp.youtube.com": ["142.250.74.110", "2607:f8b0:4004:c07::6a", "142.250.74.110"]},
    )
    addresses = resolve_public("a.rtmp.youtube.com", 1935, allow_loopback=False)
    assert addresses == ["142.250.74.110", "2607:f8b0:4004:c07::6a"]
    # Both families are asked for, for a TCP connection to the ingest's port.
    assert calls == [("a.rtmp.youtube.com", 1935, socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP)]


@pytest.mark.parametrize(
    "answer",
    [
        ["169.254.170.2"],
        ["142.250.74.110", "10.0.0.5"],  # one bad address among good ones refuses the host
        ["2607:f8b0:4004:c07::6a", "fd00::5"],
        ["::ffff:127.0.0.1"],
        ["fe80::1%2"],  # scoped link-local
        ["64:ff9b::a9fe:aa02"],
    ],
)
def test_a_host_with_any_address_that_is_not_public_is_refused_without_saying_which(
    monkeypatch: pytest.MonkeyPatch, answer: list[str]
) -> None:
    fake_resolver(monkeypatch, {"rebind.example.net": answer})
    with pytest.raises(UnsafeAddress) as refused:
        resolve_public("rebind.example.net", 1935, allow_loopback=False)
    message = refused.value.message
    assert message == (
        "host rebind.example.net resolves to an address that is not on the public internet; "
        "only public hosts are allowed"
    )
    assert not any(address.split("%")[0] in message for address in answer)


def test_a_host_that_resolves_to_loopback_passes_only_with_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_resolver(monkeypatch, {"localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(UnsafeAddress):
        resolve_public("localhost", 1935, allow_loopback=False)
    assert resolve_public("localhost", 1935, allow_loopback=True) == ["127.0.0.1", "::1"]


def test_a_literal_address_is_checked_without_asking_the_resolver() -> None:
    # the autouse fixture fails the test if getaddrinfo is called
    assert resolve_public("142.250.74.110", 1935, allow_loopback=False) == ["142.250.74.110"]
    assert resolve_public("[2607:f8b0:4004:c07::6a]", 443, allow_loopback=False) == ["2607:f8b0:4004:c07::6a"]
    assert resolve_public("[::1]", 1935, allow_loopback=True) == ["::1"]
    with pytest.raises(UnsafeAddress):
        resolve_public("169.254.170.2", 80, allow_loopback=True)


@pytest.mark.parametrize(
    "error",
    [
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        UnicodeError("label too long"),
    ],
)
def test_a_name_that_does_not_resolve_is_its_own_error(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def failing(*_args: object, **_kwargs: object) -> object:
        raise error

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(UnresolvableHost) as refused:
        resolve_public("nowhere.example.net", 1935, allow_loopback=False)
    assert refused.value.message == "host nowhere.example.net could not be resolved"
    assert isinstance(refused.value, InvalidInput)
    assert not isinstance(refused.value, UnsafeAddress)


def test_an_empty_answer_or_host_is_unresolvable(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, {"empty.example.net": []})
    with pytest.raises(UnresolvableHost):
        resolve_public("empty.example.net", 1935, allow_loopback=False)
    with pytest.raises(UnresolvableHost):
        resolve_public("", 1935, allow_loopback=False)


def test_a_hostile_host_name_is_not_echoed_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_resolver(monkeypatch, {})
    with pytest.raises(UnresolvableHost) as refused:
        resolve_public("evil\r\nInjected: " + "x" * 200, 80, allow_loopback=False)
    assert "\r" not in refused.value.message
    assert "\n" not in refused.value.message
    assert len(refused.value.message) < 130


def test_other_address_families_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    def getaddrinfo(*_args: object, **_kwargs: object) -> list[tuple[object, ...]]:
        return [
            (socket.AF_UNIX, socket.SOCK_STREAM, 0, "", "/run/x.sock"),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 80)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert resolve_public("dns.example", 80, allow_loopback=False) == ["8.8.8.8"]
