"""Destinations through the API: only a public rtmp(s) ingest is stored, in the one form ffmpeg will get."""

from __future__ import annotations

import pytest

from playout.models import DESTINATION_PREFIX, Destination, user_pk
from tests.integration.conftest import ApiClient


def create(client: ApiClient, url: str, stream_key: str = "abcd-efgh-ijkl-mnop") -> tuple[int, dict]:
    response = client.post("/api/destinations", {"name": "Ingest", "url": url, "stream_key": stream_key})
    return response.status, response.json()


def stored(client: ApiClient, destination_id: str) -> Destination:
    return Destination.get(user_pk(str(client.user_id)), DESTINATION_PREFIX + destination_id)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("rt\tmp://ingest.example.com/live", "url must be printable ASCII"),
        ("\x00rtmp://ingest.example.com/live", "url must be printable ASCII"),
        ("rtmp://user:pw@ingest.example.com/live", "must not contain user info"),
        ("rtmp://169.254.170.2/live", "169.254.170.2 is not a public internet address"),
        ("rtmp://10.0.0.1/live", "10.0.0.1 is not a public internet address"),
        ("rtmp://[::1]:1935/live", "::1 is not a public internet address"),
        ("rtmp://100.64.0.1/live", "100.64.0.1 is not a public internet address"),
        ("rtmp://0.0.0.0/live", "0.0.0.0 is not a public internet address"),
        ("rtmp://127.0.0.1:1935/live", "127.0.0.1 is not a public internet address"),
        ("rtmp://localhost:1935/live", "localhost is not a public internet address"),
        ("file:///etc/passwd", "rtmp:// or rtmps://"),
        ("http://ingest.example.com/live", "rtmp:// or rtmps://"),
        ("rtmp://ingest.example.com/live?x=1", "must not have a query"),
        ("rtmp://2130706433/live", "not a valid IPv4 address"),
    ],
)
def test_an_unsafe_or_malformed_ingest_url_answers_422_and_stores_nothing(
    alice: ApiClient, url: str, says: str
) -> None:
    status, body = create(alice, url)
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    assert says in body["error"]["message"]
    assert "pw@" not in body["error"]["message"]
    assert alice.get("/api/destinations").json()["items"] == []


@pytest.mark.parametrize(
    ("stream_key", "says"),
    [
        ("\x00live-key-123", "a control character at character 1"),
        ("live-key\n-123", "whitespace at character 9"),
        ("live key 123", "whitespace at character 5"),
        ("k" * 513, "at most 512 characters"),
    ],
)
def test_a_stream_key_with_control_characters_answers_422_without_echoing_it(
    alice: ApiClient, stream_key: str, says: str
) -> None:
    status, body = create(alice, "rtmp://a.rtmp.youtube.com/live2", stream_key)
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    assert says in body["error"]["message"]
    assert "live-key" not in body["error"]["message"]
    assert "kkkk" not in body["error"]["message"]


def test_a_valid_rtmps_url_is_stored_and_shown_in_canonical_form(alice: ApiClient) -> None:
    status, created = create(
        alice, "  RTMPS://Live-API-S.Facebook.com:443/rtmp/\n", "FB-123-0-Ab?s_bl=1&a=Cd"
    )
    assert status == 201, created
    canonical = "rtmps://live-api-s.facebook.com:443/rtmp"
    assert created["url"] == canonical
    assert alice.get(f"/api/destinations/{created['destination_id']}").json()["url"] == canonical
    assert [d["url"] for d in alice.get("/api/destinations").json()["items"]] == [canonical]
    assert stored(alice, created["destination_id"]).url == canonical
    assert "FB-123" not in str(created) + alice.get("/api/destinations").text


def test_an_ipv6_ingest_is_stored_in_brackets(alice: ApiClient) -> None:
    status, created = create(alice, "rtmp://[2607:F8B0:4004:0C07::6A]:1935/live2")
    assert status == 201, created
    assert created["url"] == "rtmp://[2607:f8b0:4004:c07::6a]:1935/live2"


def test_a_destination_stored_with_user_info_before_it_was_refused_never_shows_it(alice: ApiClient) -> None:
    Destination(
        user_pk(str(alice.user_id)),
        DESTINATION_PREFIX + "dst_0123456789abcdef0123456789ab",
        destination_id="dst_0123456789abcdef0123456789ab",
        type="rtmp",
        name="old",
        url="rtmp://streamer:hunter2@ingest.example.com/live",
        stream_key_ciphertext=b"x",
    ).save()
    fetched = alice.get("/api/destinations/dst_0123456789abcdef0123456789ab")
    listed = alice.get("/api/destinations")
    assert fetched.json()["url"] == "rtmp://ingest.example.com/live"
    assert "hunter2" not in fetched.text + listed.text
    assert "streamer" not in fetched.text + listed.text


def test_local_mode_setting_admits_a_loopback_ingest_and_nothing_else(
    alice: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api import handler

    monkeypatch.setattr(
        handler, "SETTINGS", handler.SETTINGS.model_copy(update={"allow_loopback_ingests": True})
    )
    status, created = create(alice, "rtmp://127.0.0.1:1935/live")
    assert (status, created["url"]) == (201, "rtmp://127.0.0.1:1935/live")
    status, created = create(alice, "rtmp://[::1]:1935/live")
    assert (status, created["url"]) == (201, "rtmp://[::1]:1935/live")
    assert create(alice, "rtmp://169.254.170.2/live")[0] == 422
    assert create(alice, "rtmp://192.168.1.1/live")[0] == 422
