"""The API as a user sees it: each route through the real handler, AWS emulated by moto."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests

from tests.integration.conftest import ApiClient, RecordingLauncher
from tests.integration.helpers import CLIP, destination, dynamodb_calls, upload


def stream(client: ApiClient, **extra: object) -> dict:
    media = upload(client)
    dest = destination(client)
    response = client.post(
        "/api/streams",
        {
            "title": "Test",
            "media_ids": [media["media_id"]],
            "destination_ids": [dest["destination_id"]],
            **extra,
        },
    )
    assert response.status == 201, response.text
    return response.json()


def test_health_is_public(aws_env: RecordingLauncher) -> None:
    response = ApiClient(None).get("/api/health")
    assert (response.status, response.json()) == (200, {"status": "ok"})


def test_a_route_that_needs_a_user_refuses_an_anonymous_call(aws_env: RecordingLauncher) -> None:
    response = ApiClient(None).get("/api/me")
    assert response.status == 400
    assert response.json()["error"]["message"] == "a signed-in user is required"


def test_openapi_document_lists_every_route(aws_env: RecordingLauncher) -> None:
    document = ApiClient(None).get("/api/openapi.json").json()
    assert {
        "/api/me",
        "/api/media",
        "/api/media/{media_id}/complete",
        "/api/streams/{stream_id}/start",
    } <= set(document["paths"])


def test_me_reports_the_profile_and_limits(alice: ApiClient) -> None:
    me = alice.get("/api/me").json()
    assert me == {
        "user_id": alice.user_id,
        "email": "alice@example.com",
        "storage_used_bytes": 0,
        "storage_quota_bytes": 100 * 1024**2,
        "active_streams": 0,
        "max_concurrent_streams": 2,
        "youtube_quota": None,  # no Google client here (tests/integration/test_youtube.py has one)
    }


def test_me_knows_the_email_when_an_upload_came_first(alice: ApiClient) -> None:
    upload(alice)
    me = alice.get("/api/me").json()
    assert (me["email"], me["storage_used_bytes"]) == ("alice@example.com", len(CLIP))


def test_me_reads_the_profile_once_for_its_storage_and_its_streams_on_air(
    alice: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = stream(alice)
    assert alice.post(f"/api/streams/{created['stream_id']}/start").status == 202
    with dynamodb_calls(monkeypatch) as calls:
        me = alice.get("/api/me").json()
    assert (me["active_streams"], me["storage_used_bytes"]) == (1, len(CLIP))
    assert calls.reads_of("PROFILE") == 1
    assert "Scan" not in calls.operations


def test_presigned_parts_are_scoped_to_the_upload_and_expire(alice: ApiClient) -> None:
    size = 40 * 1024**2
    created = alice.post(
        "/api/media", {"filename": "big.mp4", "size_bytes": size, "content_type": "video/mp4"}
    )
    upload_plan = created.json()["upload"]
    assert upload_plan["part_size"] == 16 * 1024**2
    assert [p["part_number"] for p in upload_plan["parts"]] == [1, 2, 3]
    for part in upload_plan["parts"]:
        url = urlsplit(part["url"])
        query = parse_qs(url.query)
        assert url.scheme == "https"
        assert f"/{created.json()['media_id']}/source" in url.path
        assert query["uploadId"] == [upload_plan["upload_id"]]
        assert query["partNumber"] == [str(part["part_number"])]
        assert query["X-Amz-Expires"] == ["3600"]
        assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
        assert "X-Amz-Signature" in query


def test_upload_completes_counts_storage_and_delete_gives_it_back(alice: ApiClient) -> None:
    media = upload(alice)
    assert media["status"] == "ready"
    assert media["size_bytes"] == len(CLIP)
    assert alice.get("/api/me").json()["storage_used_bytes"] == len(CLIP)
    stored = boto3.client("s3").get_object(
        Bucket="playout-media-test", Key=f"media/{alice.user_id}/{media['media_id']}/source"
    )
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(CLIP).digest()
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"

    assert alice.delete(f"/api/media/{media['media_id']}").status == 204
    assert alice.get("/api/me").json()["storage_used_bytes"] == 0
    assert alice.get(f"/api/media/{media['media_id']}").status == 404


def test_a_retried_complete_counts_the_bytes_once(alice: ApiClient) -> None:
    media = upload(alice)
    again = alice.post(
        f"/api/media/{media['media_id']}/complete", {"parts": [{"part_number": 1, "etag": '"x"'}]}
    )
    assert again.status == 200
    assert alice.get("/api/me").json()["storage_used_bytes"] == len(CLIP)


def test_a_wrong_etag_is_refused_and_the_upload_can_still_complete(alice: ApiClient) -> None:
    created = alice.post(
        "/api/media", {"filename": "a.mp4", "size_bytes": len(CLIP), "content_type": "video/mp4"}
    )
    part = created.json()["upload"]["parts"][0]
    etag = requests.put(part["url"], data=CLIP, timeout=10).headers["ETag"]
    media_path = f"/api/media/{created.json()['media_id']}"
    wrong = alice.post(f"{media_path}/complete", {"parts": [{"part_number": 1, "etag": '"0000"'}]})
    assert wrong.status == 422
    assert wrong.json()["error"]["code"] == "invalid_input"
    right = alice.post(f"{media_path}/complete", {"parts": [{"part_number": 1, "etag": etag}]})
    assert right.json()["status"] == "probing"


def test_a_file_smaller_than_declared_fails_and_is_not_counted(alice: ApiClient) -> None:
    created = alice.post(
        "/api/media", {"filename": "a.mp4", "size_bytes": len(CLIP) + 10, "content_type": "video/mp4"}
    )
    part = created.json()["upload"]["parts"][0]
    etag = requests.put(part["url"], data=CLIP, timeout=10).headers["ETag"]
    media = alice.post(
        f"/api/media/{created.json()['media_id']}/complete", {"parts": [{"part_number": 1, "etag": etag}]}
    ).json()
    assert media["status"] == "failed"
    assert media["error"] == f"uploaded {len(CLIP)} bytes but {len(CLIP) + 10} were declared"
    assert alice.get("/api/me").json()["storage_used_bytes"] == 0


def test_an_upload_over_quota_is_refused_with_413(alice: ApiClient) -> None:
    response = alice.post(
        "/api/media", {"filename": "huge.mp4", "size_bytes": 100 * 1024**2 + 1, "content_type": "video/mp4"}
    )
    assert response.status == 413
    assert response.json()["error"]["code"] == "quota_exceeded"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filename": "", "size_bytes": 10, "content_type": "video/mp4"}, "filename"),
        ({"filename": "a.mp4", "size_bytes": 0, "content_type": "video/mp4"}, "size_bytes"),
        ({"filename": "a.txt", "size_bytes": 10, "content_type": "text plain"}, "content_type"),
        ({"filename": "a.mp4", "size_bytes": 10, "content_type": "video/mp4", "owner": "x"}, "owner"),
    ],
)
def test_bad_input_gets_a_clear_422(alice: ApiClient, body: dict, field: str) -> None:
    response = alice.post("/api/media", body)
    assert response.status == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert field in response.json()["error"]["message"]


def test_lists_are_paginated_newest_first(alice: ApiClient) -> None:
    made = [destination(alice, key=f"k{i}")["destination_id"] for i in range(3)]
    first = alice.get("/api/destinations", limit="2").json()
    assert [d["destination_id"] for d in first["items"]] == [made[2], made[1]]
    assert first["next_cursor"]
    second = alice.get("/api/destinations", limit="2", cursor=first["next_cursor"]).json()
    assert [d["destination_id"] for d in second["items"]] == [made[0]]
    assert second["next_cursor"] is None


def test_a_forged_cursor_is_refused(alice: ApiClient) -> None:
    response = alice.get("/api/media", cursor="U1RSRUFNI3N0cl8x")  # "STREAM#str_1": another kind's key
    assert response.status == 422


def test_a_stream_key_is_write_only_and_stored_encrypted(alice: ApiClient) -> None:
    created = destination(alice, key="super-secret-key")
    listed = alice.get("/api/destinations").text
    fetched = alice.get(f"/api/destinations/{created['destination_id']}").text
    assert "super-secret-key" not in str(created) + listed + fetched
    item = boto3.client("dynamodb").get_item(
        TableName="playout-test",
        Key={"pk": {"S": f"USER#{alice.user_id}"}, "sk": {"S": f"DEST#{created['destination_id']}"}},
    )["Item"]
    assert b"super-secret-key" not in item["stream_key_ciphertext"]["B"]


def test_an_ingest_url_must_be_rtmp(alice: ApiClient) -> None:
    response = alice.post(
        "/api/destinations", {"name": "x", "url": "http://example.com/live", "stream_key": "k"}
    )
    assert response.status == 422
    assert "rtmp://" in response.json()["error"]["message"]


def test_start_launches_one_task_however_often_it_is_called(
    alice: ApiClient, aws_env: RecordingLauncher
) -> None:
    created = stream(alice)
    assert created["status"] == "draft"
    first = alice.post(f"/api/streams/{created['stream_id']}/start")
    second = alice.post(f"/api/streams/{created['stream_id']}/start")
    assert (first.status, second.status) == (202, 202)
    assert first.json()["status"] == "starting"
    assert len(aws_env.started) == 1
    assert aws_env.started[0][:2] == (created["stream_id"], alice.user_id)
    assert alice.get("/api/me").json()["active_streams"] == 1


def test_stop_moves_a_running_stream_to_stopping_and_is_idempotent(alice: ApiClient) -> None:
    stream_id = stream(alice)["stream_id"]
    assert alice.post(f"/api/streams/{stream_id}/stop").status == 409  # a draft is not running
    alice.post(f"/api/streams/{stream_id}/start")
    assert alice.post(f"/api/streams/{stream_id}/stop").json()["status"] == "stopping"
    assert alice.post(f"/api/streams/{stream_id}/stop").status == 202
    events = [e["type"] for e in alice.get(f"/api/streams/{stream_id}/events").json()["items"]]
    assert events == ["stopping", "starting", "created"]


def test_an_active_stream_and_what_it_uses_cannot_be_deleted(alice: ApiClient) -> None:
    created = stream(alice)
    alice.post(f"/api/streams/{created['stream_id']}/start")
    assert alice.delete(f"/api/streams/{created['stream_id']}").status == 409
    assert alice.delete(f"/api/media/{created['media_ids'][0]}").status == 409
    assert alice.delete(f"/api/destinations/{created['destinations'][0]['destination_id']}").status == 409


def test_the_concurrent_stream_limit_is_enforced(alice: ApiClient) -> None:
    ids = [stream(alice)["stream_id"] for _ in range(3)]
    assert alice.post(f"/api/streams/{ids[0]}/start").status == 202
    assert alice.post(f"/api/streams/{ids[1]}/start").status == 202
    third = alice.post(f"/api/streams/{ids[2]}/start")
    assert third.status == 429
    assert third.json()["error"]["code"] == "too_many_requests"
    assert "2 streams are already active" in third.json()["error"]["message"]
    assert alice.get(f"/api/streams/{ids[2]}").json()["status"] == "draft"
    assert alice.get("/api/me").json()["active_streams"] == 2


def test_a_stream_needs_ready_media_and_own_destinations(alice: ApiClient, bob: ApiClient) -> None:
    media = upload(alice)
    bobs = destination(bob)
    response = alice.post(
        "/api/streams",
        {"title": "t", "media_ids": [media["media_id"]], "destination_ids": [bobs["destination_id"]]},
    )
    assert response.status == 404


def test_another_users_resources_answer_404_on_every_verb(alice: ApiClient, bob: ApiClient) -> None:
    created = stream(alice)
    media_id = created["media_ids"][0]
    destination_id = created["destinations"][0]["destination_id"]
    stream_id = created["stream_id"]
    calls = [
        ("GET", f"/api/media/{media_id}"),
        ("DELETE", f"/api/media/{media_id}"),
        ("POST", f"/api/media/{media_id}/complete"),
        ("GET", f"/api/destinations/{destination_id}"),
        ("DELETE", f"/api/destinations/{destination_id}"),
        ("GET", f"/api/streams/{stream_id}"),
        ("DELETE", f"/api/streams/{stream_id}"),
        ("POST", f"/api/streams/{stream_id}/start"),
        ("POST", f"/api/streams/{stream_id}/stop"),
        ("GET", f"/api/streams/{stream_id}/events"),
    ]
    for method, path in calls:
        body = {"parts": [{"part_number": 1, "etag": '"x"'}]} if path.endswith("complete") else None
        response = bob.request(method, path, body)
        assert response.status == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert bob.get("/api/media").json() == {"items": [], "next_cursor": None}
    assert alice.get(f"/api/streams/{stream_id}").json()["status"] == "draft"


def test_an_unknown_route_answers_json_404(alice: ApiClient) -> None:
    response = alice.get("/api/nothing-here")
    assert response.status == 404
    assert response.json() == {"error": {"code": "not_found", "message": "no such route"}}
