"""DynamoDB calls per API route, held by `make test` and not only by the benchmark: every route of the OpenAPI
document, called as a user's session calls it (bench.api_calls, in a process of its own against moto),
sends at most two DynamoDB calls and never a Scan, counted by botocore's `before-call` hook
(bench.dynamo_calls). Then the paths that session does not take, counted the same way in this process."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest

from bench import api_calls
from bench.dynamo_calls import SCAN, DynamoCallCounter
from playout import aws
from playout.models import bind_table
from tests.integration.conftest import ApiClient
from tests.integration.helpers import CLIP, destination, playlist, set_duration, upload, upload_only

TARGET = api_calls.TARGET_CALLS


def test_every_route_sends_at_most_two_dynamodb_calls_and_never_a_scan() -> None:
    figures = api_calls.measure()  # raises if a route of the OpenAPI document went uncalled
    routes = {f.measure.removeprefix("DynamoDB calls: "): f for f in figures}
    assert len(routes) == len(api_calls.documented_routes())
    over = {route: figure.details["operations"] for route, figure in routes.items() if figure.ours > TARGET}
    assert over == {}
    assert all(figure.details["scans"] == 0 for figure in figures)


@pytest.fixture
def counted(aws_env: object) -> Iterator[DynamoCallCounter]:
    """Every DynamoDB call the handler sends from here on (its clients made afresh on hooked sessions)."""
    counter = DynamoCallCounter()
    with counter.every_new_session():
        aws.reset_clients()
        bind_table(os.environ["TABLE_NAME"])
        yield counter


def _calls(counter: DynamoCallCounter) -> Counter[str]:
    taken = counter.take()
    assert taken[SCAN] == 0
    return taken


def test_me_with_an_upload_under_way_looks_for_abandoned_ones_within_two_calls(
    alice: ApiClient, counted: DynamoCallCounter
) -> None:
    assert alice.get("/api/me").status == 200
    created = alice.post("/api/media", {"filename": "a.mp4", "size_bytes": 1000, "content_type": "video/mp4"})
    assert created.status == 201
    counted.take()
    me = alice.get("/api/me")
    assert me.json()["storage_used_bytes"] == 1000  # the upload's reservation
    assert _calls(counted) == Counter(TransactGetItems=1, Query=1)
    # Once it completes, nothing is open: /me reads the profile and looks no further.
    alice.delete(f"/api/media/{created.json()['media_id']}")
    counted.take()
    assert alice.get("/api/me").json()["storage_used_bytes"] == 0
    assert _calls(counted) == Counter(TransactGetItems=1)


def test_me_after_an_upload_before_the_first_visit_fills_in_the_email_within_two_calls(
    alice: ApiClient, counted: DynamoCallCounter
) -> None:
    upload_only(alice)  # the storage counter made the profile, without an email
    counted.take()
    me = alice.get("/api/me").json()
    assert (me["email"], me["storage_used_bytes"]) == ("alice@example.com", len(CLIP))
    assert sum(_calls(counted).values()) <= TARGET


def test_a_stream_from_a_playlist_with_media_not_ready_is_refused_by_its_own_write(
    alice: ApiClient, counted: DynamoCallCounter
) -> None:
    ready = upload(alice)["media_id"]
    probing = upload_only(alice)["media_id"]
    made = playlist(alice, [ready, probing])
    dest = destination(alice)
    counted.take()
    body = {"title": "Mix", "playlist_id": made["playlist_id"], "destination_ids": [dest["destination_id"]]}
    refused = alice.post("/api/streams", body)
    assert refused.status == 422, refused.text
    assert f"media {probing} is probing, not ready" in refused.json()["error"]["message"]
    # The playlist with the destination, the write its check refused, then the media read for the reason.
    assert _calls(counted) == Counter(BatchGetItem=2, TransactWriteItems=1)
    assert alice.get("/api/streams").json()["items"] == []  # nothing written


def test_the_oldest_media_of_a_library_is_deleted_in_two_calls_and_its_playlists_lose_their_length(
    alice: ApiClient, bob: ApiClient, counted: DynamoCallCounter
) -> None:
    oldest = upload_only(alice)["media_id"]
    newer = [upload_only(alice)["media_id"] for _ in range(5)]  # sort after it, in the Query's range
    for media_id in [oldest, *newer]:
        set_duration(alice, media_id, 10.0)
    listing = playlist(alice, [newer[0], oldest, newer[1]])["playlist_id"]
    other = playlist(alice, newer[2:])["playlist_id"]
    counted.take()

    assert bob.delete(f"/api/media/{oldest}").status == 404  # another user's: not found, nothing read of it
    assert alice.delete(f"/api/media/{oldest}").status == 204
    assert _calls(counted) == Counter(Query=2, TransactWriteItems=1)  # bob's Query; alice's Query and write

    assert alice.get(f"/api/media/{oldest}").status == 404
    assert [m["media_id"] for m in alice.get("/api/media").json()["items"]] == newer[::-1]
    listed = alice.get(f"/api/playlists/{listing}").json()
    assert (listed["media_ids"], listed["duration_s"]) == ([newer[0], oldest, newer[1]], None)
    unlisted = alice.get(f"/api/playlists/{other}").json()
    assert (unlisted["media_ids"], unlisted["duration_s"]) == (newer[2:], 30.0)
