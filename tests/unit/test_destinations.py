"""What an ingest URL and a stream key may be: the one form stored is the one form ffmpeg receives."""

from __future__ import annotations

import socket

import pytest

from playout.destinations import (
    MAX_INGEST_URL_LENGTH,
    MAX_STREAM_KEY_LENGTH,
    Ingest,
    IngestAddress,
    parse_ingest_url,
    public_url,
    validate_ingest_url,
    validate_stream_key,
)
from playout.errors import InvalidInput
from playout.netguard import UnsafeAddress


@pytest.fixture(autouse=True)
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """A URL is judged by its text: creating a destination never resolves its host."""

    def refuse(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("validation asked the resolver")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.parametrize(
    ("url", "stored"),
    [
        ("rtmp://a.rtmp.youtube.com/live2", "rtmp://a.rtmp.youtube.com/live2"),
        ("RTMPS://Live-API-S.Facebook.com:443/rtmp/", "rtmps://live-api-s.facebook.com:443/rtmp"),
        ("rtmp://ingest.example.com/app/inst///", "rtmp://ingest.example.com/app/inst"),
        ("rtmp://ingest.example.com", "rtmp://ingest.example.com"),
        ("rtmp://ingest.example.com:01935/live", "rtmp://ingest.example.com:1935/live"),
        ("rtmp://8.8.8.8/live", "rtmp://8.8.8.8/live"),
        ("rtmp://[2607:F8B0:4004:0C07:0:0:0:6A]:1935/live", "rtmp://[2607:f8b0:4004:c07::6a]:1935/live"),
        ("rtmp://xn--bcher-kva.example/live", "rtmp://xn--bcher-kva.example/live"),
        ("rtmp://h.example/a%2Fb/c~d_e.f-g!$&'()*+,;=:", "rtmp://h.example/a%2Fb/c~d_e.f-g!$&'()*+,;=:"),
    ],
)
def test_an_ingest_url_is_stored_in_one_canonical_form(url: str, stored: str) -> None:
    assert validate_ingest_url(url) == stored
    assert validate_ingest_url(stored) == stored  # the canonical form is a fixed point


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("rt\tmp://h.example/app", "whitespace at character 3"),
        ("\x00rtmp://h.example/app", "a control character at character 1"),
        ("rtmp://h.example/app\x7f", "a control character at character 21"),
        ("rtmp://h.example/app\n", "whitespace at character 21"),
        ("rtmp://h.example/a pp", "whitespace at character 19"),
        ("rtmp://hé.example/app", "a non-ASCII character at character 9"),
        ("rtmp://h.example/app\u200b", "a non-ASCII character"),
        ("rtmp://user:pw@h.example/app", "must not contain user info"),
        ("rtmp://@h.example/app", "must not contain user info"),
        ("rtmp://h.example/app@x", "must not contain user info"),
        ("file:///etc/passwd", "rtmp:// or rtmps://"),
        ("http://h.example/app", "rtmp:// or rtmps://"),
        ("rtmpt://h.example/app", "rtmp:// or rtmps://"),
        ("rtmp:/h.example/app", "rtmp:// or rtmps://"),
        ("live", "rtmp:// or rtmps://"),
        ("", "rtmp:// or rtmps://"),
        ("rtmp:///live", "must name a host"),
        ("rtmp://:1935/live", "must name a host"),
        ("rtmp://h.example/app?key=1", "must not have a query"),
        ("rtmp://h.example/app#x", "must not have a query"),
        ("rtmp://h.example:0/app", "port must be a number from 1 to 65535"),
        ("rtmp://h.example:65536/app", "port must be a number from 1 to 65535"),
        ("rtmp://h.example:/app", "port must be a number from 1 to 65535"),
        ("rtmp://h.example:http/app", "port must be a number from 1 to 65535"),
        ("rtmp://h.example:+80/app", "port must be a number from 1 to 65535"),
        ("rtmp://h\\evil.example/app", "must be a DNS name"),
        ("rtmp://h_x.example/app", "must be a DNS name"),
        ("rtmp://-h.example/app", "must be a DNS name"),
        ("rtmp://h..example/app", "must be a DNS name"),
        ("rtmp://h.example./app", "must be a DNS name"),
        ("rtmp://" + "a" * 64 + ".example/app", "must be a DNS name"),
        ("rtmp://127.1/app", "not a valid IPv4 address"),
        ("rtmp://2130706433/app", "not a valid IPv4 address"),
        ("rtmp://0x7f000001/app", "not a valid IPv4 address"),
        ("rtmp://0177.0.0.1/app", "not a valid IPv4 address"),
        ("rtmp://8.8.8.08/app", "not a valid IPv4 address"),
        ("rtmp://::1/app", "write it in brackets"),
        ("rtmp://[::1/app", "must be an IPv6 address"),
        ("rtmp://[fe80::1%25eth0]/app", "must be an IPv6 address"),
        ("rtmp://[8.8.8.8]/app", "must be an IPv6 address"),
        ("rtmp://[2001:4860::8888]x/app", "may only be followed by :port"),
        ("rtmp://h.example/app/%zz", "url path may hold only"),
        ("rtmp://h.example/app/<script>", "url path may hold only"),
        ("rtmp://h.example/" + "a" * MAX_INGEST_URL_LENGTH, f"at most {MAX_INGEST_URL_LENGTH} characters"),
    ],
)
def test_a_malformed_ingest_url_is_refused_with_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_ingest_url(url, allow_loopback=True)
    assert refused.value.status == 422
    assert says in refused.value.message


@pytest.mark.parametrize(
    "host",
    [
        "169.254.170.2",
        "169.254.169.254",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.10",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104  # an address under test, not a bind
        "127.0.0.1",
        "224.0.0.1",
        "[::1]",
        "[::]",
        "[::ffff:169.254.170.2]",
        "[64:ff9b::a9fe:aa02]",
        "[fd00::1]",
        "[fe80::1]",
        "localhost",
        "live.localhost",
    ],
)
def test_an_ingest_on_an_internal_address_is_refused(host: str) -> None:
    with pytest.raises(UnsafeAddress) as refused:
        validate_ingest_url(f"rtmp://{host}:1935/live")
    assert refused.value.status == 422
    assert "not a public internet address" in refused.value.message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "[::1]", "localhost"])
def test_the_loopback_setting_admits_a_local_rtmp_server(host: str) -> None:
    assert validate_ingest_url(f"rtmp://{host}:1935/live", allow_loopback=True) == (
        f"rtmp://{host}:1935/live"
    )


@pytest.mark.parametrize("host", ["169.254.170.2", "10.0.0.1", "[fd00::1]", "0.0.0.0"])  # noqa: S104
def test_the_loopback_setting_admits_nothing_else(host: str) -> None:
    with pytest.raises(UnsafeAddress):
        validate_ingest_url(f"rtmp://{host}/live", allow_loopback=True)


def test_a_refusal_never_repeats_the_password_it_found() -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_ingest_url("rtmp://streamer:hunter2-secret@h.example/app")
    assert "hunter2" not in refused.value.message
    assert "streamer" not in refused.value.message


def test_an_ingest_url_is_taken_apart_for_the_connection_check() -> None:
    assert parse_ingest_url("RTMPS://Live.Example:443/app/") == IngestAddress(
        "rtmps", "live.example", 443, "/app"
    )
    assert parse_ingest_url("rtmp://[2001:4860::8888]/live").host == "2001:4860::8888"
    assert parse_ingest_url("rtmp://h.example/live").connect_port == 1935
    assert parse_ingest_url("rtmps://h.example/live").connect_port == 443
    assert parse_ingest_url("rtmps://h.example:8443/live").connect_port == 8443


def test_the_task_finds_where_to_connect_without_the_key() -> None:
    ingest = Ingest("dst_1", "rtmps://live.example:443/app/key?with=query", "key?with=query")
    assert ingest.address == IngestAddress("rtmps", "live.example", 443, "/app")
    legacy = Ingest("dst_2", "rtmp://user:pw@h.example/app/key", "key")
    with pytest.raises(InvalidInput):
        _ = legacy.address


@pytest.mark.parametrize(
    "key",
    [
        "abcd-efgh-ijkl-mnop-qrst",
        "m",
        "live_123456789_AbCdEfGhIjKlMnOpQrStUvWxYz0123",
        "FB-1234567890-0-AbCdEf?s_bl=1&s_ps=1&a=AbCd",  # Facebook keys carry a query
        "k|[e]y'\"\\%",
        "x" * MAX_STREAM_KEY_LENGTH,
    ],
)
def test_a_stream_key_is_stored_as_given(key: str) -> None:
    assert validate_stream_key(key) == key


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("", "1 to 512 characters"),
        ("x" * (MAX_STREAM_KEY_LENGTH + 1), "1 to 512 characters"),
        ("\x00abc", "a control character at character 1"),
        ("abc\x1b[2J", "a control character at character 4"),
        ("ab cd", "whitespace at character 3"),
        ("abcd\n", "whitespace at character 5"),
        ("abcd\tefgh", "whitespace at character 5"),
        ("abc\u00a0d", "whitespace at character 4"),
        ("abc\u202edcba", "a non-ASCII character at character 4"),
    ],
)
def test_a_stream_key_with_control_characters_or_whitespace_is_refused(key: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate_stream_key(key)
    assert refused.value.status == 422
    assert refused.value.message.startswith("stream_key must be")
    assert says in refused.value.message
    if len(key) > 2:
        assert key.strip() not in refused.value.message


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("rtmp://user:pw@h.example/app", "rtmp://h.example/app"),
        ("rtmp://a@b@h.example:1935/app", "rtmp://h.example:1935/app"),
        ("rtmp://h.example/app", "rtmp://h.example/app"),
        ("rtmp://h.example/app@x", "rtmp://h.example/app@x"),
    ],
)
def test_the_api_never_shows_user_info_even_from_an_old_record(stored: str, shown: str) -> None:
    assert public_url(stored) == shown
