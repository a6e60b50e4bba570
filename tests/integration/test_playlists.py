"""Playlists as a user sees them, and streams that play one: the real handler, AWS emulated by moto."""

from __future__ import annotations

import pytest

from playout.media import UPLOADING
from tests.integration.conftest import ApiClient, RecordingLauncher
from tests.integration.helpers import (
    destination,
    dynamodb_calls,
    playlist,
    probed_media,
    set_duration,
    upload,
)


def test_a_playlist_keeps_its_items_in_order_with_repeats(alice: ApiClient) -> None:
    a, b = probed_media(alice, 2)
    created = alice.post("/api/playlists", {"name": "  Morning mix  ", "media_ids": [a, b, a, a]})
    assert created.status == 201, created.text
    body = created.json()
    assert body["playlist_id"].startswith("pls_")
    assert (body["name"], body["media_ids"], body["shuffle"]) == ("Morning mix", [a, b, a, a], False)
    assert body["created_at"] == body["updated_at"]
    assert alice.get(f"/api/playlists/{body['playlist_id']}").json() == body


def test_an_empty_playlist_can_be_made_and_filled_later(alice: ApiClient) -> None:
    created = alice.post("/api/playlists", {"name": "Later"}).json()
    assert (created["media_ids"], created["duration_s"]) == ([], 0)
    (media_id,) = probed_media(alice, 1, duration_s=5)
    filled = alice.put(
        f"/api/playlists/{created['playlist_id']}",
        {"name": "Later", "media_ids": [media_id], "shuffle": False},
    )
    assert filled.json()["media_ids"] == [media_id]


def test_playlists_are_listed_newest_first_a_page_at_a_time(alice: ApiClient) -> None:
    made = [playlist(alice, [], name=f"List {i}")["playlist_id"] for i in range(3)]
    first = alice.get("/api/playlists", limit="2").json()
    assert [p["playlist_id"] for p in first["items"]] == [made[2], made[1]]
    assert first["next_cursor"]
    second = alice.get("/api/playlists", limit="2", cursor=first["next_cursor"]).json()
    assert [p["playlist_id"] for p in second["items"]] == [made[0]]
    assert second["next_cursor"] is None
    assert (
        alice.get("/api/playlists", cursor="TUVESUEjbWVkXzE").status == 422
    )  # "MEDIA#med_1": not a playlist


def test_a_reorder_replaces_the_playlist_in_one_conditional_write(
    alice: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = probed_media(alice, 3, duration_s=10)
    made = playlist(alice, [a, b, c])
    with dynamodb_calls(monkeypatch) as calls:
        replaced = alice.put(
            f"/api/playlists/{made['playlist_id']}",
            {"name": "Reordered", "media_ids": [c, a, b], "shuffle": True},
        )
    assert replaced.status == 200, replaced.text
    assert (replaced.json()["name"], replaced.json()["media_ids"], replaced.json()["shuffle"]) == (
        "Reordered",
        [c, a, b],
        True,
    )
    assert replaced.json()["created_at"] == made["created_at"]
    assert replaced.json()["updated_at"] > made["updated_at"]
    writes = [op for op in calls.operations if op not in ("BatchGetItem",)]
    assert writes == ["UpdateItem"]
    assert "ConditionExpression" in calls.named("UpdateItem")[0]
    assert alice.get(f"/api/playlists/{made['playlist_id']}").json() == replaced.json()


def test_a_put_states_the_whole_playlist(alice: ApiClient) -> None:
    made = playlist(alice, probed_media(alice, 1))
    response = alice.put(f"/api/playlists/{made['playlist_id']}", {"name": "No items given"})
    assert response.status == 422
    assert "media_ids" in response.json()["error"]["message"]
    assert alice.get(f"/api/playlists/{made['playlist_id']}").json() == made


def test_shuffle_is_kept_on_the_playlist(alice: ApiClient) -> None:
    made = playlist(alice, probed_media(alice, 2), shuffle=True)
    assert alice.get(f"/api/playlists/{made['playlist_id']}").json()["shuffle"] is True


def test_a_thousand_items_are_looked_up_in_batches_of_a_hundred(
    alice: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    distinct = probed_media(alice, 250, duration_s=2.5)
    items = (distinct * 4)[:1000]
    with dynamodb_calls(monkeypatch) as calls:
        created = alice.post("/api/playlists", {"name": "Long", "media_ids": items})
    assert created.status == 201, created.text
    assert created.json()["media_ids"] == items
    assert created.json()["duration_s"] == 2500
    batches = calls.named("BatchGetItem")
    assert sorted(len(b["RequestItems"]["playout-test"]["Keys"]) for b in batches) == [50, 100, 100]
    assert set(calls.operations) == {"BatchGetItem", "PutItem"}  # no GetItem per entry, no Scan


def test_a_thousand_and_one_items_are_refused(alice: ApiClient) -> None:
    (media_id,) = probed_media(alice, 1)
    too_many = alice.post("/api/playlists", {"name": "Too long", "media_ids": [media_id] * 1001})
    assert too_many.status == 422
    assert "media_ids" in too_many.json()["error"]["message"]
    assert "1000" in too_many.json()["error"]["message"]
    made = playlist(alice, [media_id] * 1000)
    replaced = alice.put(
        f"/api/playlists/{made['playlist_id']}",
        {"name": "x", "media_ids": [media_id] * 1001, "shuffle": False},
    )
    assert replaced.status == 422
    assert len(alice.get(f"/api/playlists/{made['playlist_id']}").json()["media_ids"]) == 1000


def test_duration_is_the_sum_of_every_item_played(alice: ApiClient) -> None:
    a, b = probed_media(alice, 2, duration_s=12.5)
    made = playlist(alice, [a, b, a])
    assert made["duration_s"] == 37.5
    (c,) = probed_media(alice, 1, duration_s=None)
    replaced = alice.put(
        f"/api/playlists/{made['playlist_id']}", {"name": "Mix", "media_ids": [a, c], "shuffle": False}
    )
    assert replaced.json()["duration_s"] is None  # c has not been probed yet


def test_duration_appears_once_the_last_item_has_been_probed(alice: ApiClient) -> None:
    a, b = probed_media(alice, 2, duration_s=None)
    made = playlist(alice, [a, b, b])
    assert made["duration_s"] is None
    set_duration(alice, a, 3.25)
    assert alice.get(f"/api/playlists/{made['playlist_id']}").json()["duration_s"] is None
    set_duration(alice, b, 10)
    fetched = alice.get(f"/api/playlists/{made['playlist_id']}").json()
    assert fetched["duration_s"] == 23.25
    assert fetched["updated_at"] == made["updated_at"]  # the user changed nothing
    assert alice.get("/api/playlists").json()["items"][0]["duration_s"] == 23.25


def test_a_playlist_may_list_media_still_processing(alice: ApiClient) -> None:
    (media_id,) = probed_media(alice, 1, status=UPLOADING)
    assert playlist(alice, [media_id])["media_ids"] == [media_id]


def test_unknown_media_is_named_as_bad_input(alice: ApiClient) -> None:
    (known,) = probed_media(alice, 1)
    unknown = "med_" + "0" * 28
    response = alice.post("/api/playlists", {"name": "Mix", "media_ids": [known, unknown, unknown]})
    assert response.status == 422
    assert response.json()["error"] == {"code": "invalid_input", "message": f"media {unknown} not found"}
    assert alice.get("/api/playlists").json()["items"] == []


def test_a_long_list_of_unknown_media_gives_a_short_message(alice: ApiClient) -> None:
    unknown = [f"med_{i:028x}" for i in range(40)]
    message = alice.post("/api/playlists", {"name": "Mix", "media_ids": unknown}).json()["error"]["message"]
    assert message == f"media {', '.join(unknown[:5])} and 35 more not found"


def test_another_users_playlist_answers_404_on_every_verb(alice: ApiClient, bob: ApiClient) -> None:
    alices_media = probed_media(alice, 1)
    made = playlist(alice, alices_media)
    path = f"/api/playlists/{made['playlist_id']}"
    (bobs_media,) = probed_media(bob, 1)
    replacement = {"name": "Mine now", "media_ids": [bobs_media], "shuffle": True}
    for response in (bob.get(path), bob.put(path, replacement), bob.delete(path)):
        assert response.status == 404, response.text
        assert response.json()["error"] == {
            "code": "not_found",
            "message": f"playlist {made['playlist_id']} not found",
        }
    assert bob.get("/api/playlists").json() == {"items": [], "next_cursor": None}
    assert alice.get(path).json() == made
    # nor can bob put alice's media into a playlist of his own
    stolen = bob.post("/api/playlists", {"name": "Theirs", "media_ids": alices_media})
    assert stolen.status == 422  # as for media that never existed: nothing tells bob that alice's does
    assert stolen.json()["error"]["message"] == f"media {alices_media[0]} not found"


def test_a_deleted_playlist_is_gone(alice: ApiClient) -> None:
    made = playlist(alice, probed_media(alice, 1))
    path = f"/api/playlists/{made['playlist_id']}"
    assert alice.delete(path).status == 204
    assert alice.get(path).status == 404
    assert alice.delete(path).status == 404
    assert alice.put(path, {"name": "Back", "media_ids": [], "shuffle": False}).status == 404
    assert alice.get("/api/playlists").json()["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"media_ids": []}, "name"),
        ({"name": "   ", "media_ids": []}, "name"),
        ({"name": "x" * 201, "media_ids": []}, "name"),
        ({"name": "Mix", "media_ids": "med_0"}, "media_ids"),
        ({"name": "Mix", "media_ids": ["dst_" + "0" * 28]}, "media_ids"),
        ({"name": "Mix", "media_ids": ["med_" + "0" * 28 + "x" * 2000]}, "media_ids"),
        ({"name": "Mix", "shuffle": "sometimes"}, "shuffle"),
        ({"name": "Mix", "owner": "someone"}, "owner"),
    ],
)
def test_a_bad_playlist_gets_a_clear_422(alice: ApiClient, body: dict, field: str) -> None:
    response = alice.post("/api/playlists", body)
    assert response.status == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert field in response.json()["error"]["message"]


def test_a_name_of_200_characters_is_accepted(alice: ApiClient) -> None:
    assert playlist(alice, [], name="x" * 200)["name"] == "x" * 200


def test_a_malformed_playlist_id_in_the_path_is_refused(alice: ApiClient) -> None:
    assert alice.get("/api/playlists/not-an-id").status == 422


def test_the_openapi_document_describes_playlists(aws_env: RecordingLauncher) -> None:
    document = ApiClient(None).get("/api/openapi.json").json()
    assert set(document["paths"]["/api/playlists"]) >= {"get", "post"}
    assert set(document["paths"]["/api/playlists/{playlist_id}"]) >= {"get", "put", "delete"}
    schemas = document["components"]["schemas"]
    assert {"CreatePlaylistRequest", "ReplacePlaylistRequest", "PlaylistOut", "PlaylistPageOut"} <= set(
        schemas
    )
    assert set(schemas["PlaylistOut"]["properties"]) == {
        "playlist_id",
        "name",
        "media_ids",
        "shuffle",
        "duration_s",
        "created_at",
        "updated_at",
    }
    stream_request = set(schemas["CreateStreamRequest"]["properties"])
    assert {"playlist_id", "media_ids", "shuffle", "loop", "loops", "handover_after_h"} <= stream_request


# --- streams that play a playlist ---


def _stream(client: ApiClient, **what: object) -> tuple[int, dict]:
    dest = destination(client)
    response = client.post(
        "/api/streams", {"title": "On air", "destination_ids": [dest["destination_id"]], **what}
    )
    return response.status, response.json()


def test_a_stream_plays_a_copy_of_the_playlist(alice: ApiClient) -> None:
    a, b = probed_media(alice, 2)
    made = playlist(alice, [a, b, a], shuffle=True)
    status, created = _stream(alice, playlist_id=made["playlist_id"], loop=True)
    assert status == 201, created
    assert (created["playlist_id"], created["media_ids"], created["shuffle"], created["loop"]) == (
        made["playlist_id"],
        [a, b, a],
        True,
        True,
    )
    # editing or deleting the playlist afterwards leaves the stream as it was made
    alice.put(f"/api/playlists/{made['playlist_id']}", {"name": "Mix", "media_ids": [b], "shuffle": False})
    alice.delete(f"/api/playlists/{made['playlist_id']}")
    fetched = alice.get(f"/api/streams/{created['stream_id']}").json()
    assert (fetched["media_ids"], fetched["shuffle"]) == ([a, b, a], True)
    events = alice.get(f"/api/streams/{created['stream_id']}/events").json()["items"]
    assert events[0]["message"] == f'3 media from playlist "{made["name"]}" to 1 destination'


def test_a_stream_of_media_ids_can_shuffle_and_play_n_times(alice: ApiClient) -> None:
    a, b = probed_media(alice, 2)
    status, created = _stream(alice, media_ids=[a, b], shuffle=True, loops=3, handover_after_h=6.5)
    assert status == 201, created
    assert (created["playlist_id"], created["shuffle"], created["loop"], created["loops"]) == (
        None,
        True,
        False,
        3,
    )
    assert created["handover_after_h"] == 6.5
    fetched = alice.get(f"/api/streams/{created['stream_id']}").json()
    assert (fetched["shuffle"], fetched["loops"], fetched["handover_after_h"]) == (True, 3, 6.5)


def test_a_stream_plays_once_in_order_with_a_12_hour_handover_unless_told_otherwise(alice: ApiClient) -> None:
    status, created = _stream(alice, media_ids=probed_media(alice, 1))
    assert status == 201, created
    assert (created["shuffle"], created["loop"], created["loops"], created["handover_after_h"]) == (
        False,
        False,
        None,
        12,
    )


@pytest.mark.parametrize(
    ("what", "complaint"),
    [
        ({}, "either media_ids or playlist_id"),
        (
            {"media_ids": ["med_" + "1" * 28], "playlist_id": "pls_" + "1" * 28},
            "either media_ids or playlist_id",
        ),
        ({"media_ids": []}, "media_ids"),
        ({"playlist_id": "pls_" + "1" * 28, "shuffle": False}, "shuffle"),
        ({"media_ids": ["med_" + "1" * 28], "loop": True, "loops": 2}, "exclude each other"),
        ({"media_ids": ["med_" + "1" * 28], "loops": 0}, "loops"),
        ({"media_ids": ["med_" + "1" * 28], "loops": 100_001}, "loops"),
        ({"media_ids": ["med_" + "1" * 28], "handover_after_h": 0.5}, "handover_after_h"),
        ({"media_ids": ["med_" + "1" * 28], "handover_after_h": 24.5}, "handover_after_h"),
        ({"media_ids": ["med_" + "1" * 28] * 1001}, "media_ids"),
    ],
)
def test_a_stream_that_does_not_say_clearly_what_to_play_gets_a_422(
    alice: ApiClient, what: dict, complaint: str
) -> None:
    status, body = _stream(alice, **what)
    assert status == 422
    assert body["error"]["code"] == "invalid_input"
    assert complaint in body["error"]["message"]


def test_a_stream_accepts_the_edges_of_its_ranges(alice: ApiClient) -> None:
    (media_id,) = probed_media(alice, 1)
    for what in ({"loops": 1, "handover_after_h": 1}, {"loops": 100_000, "handover_after_h": 24}):
        status, created = _stream(alice, media_ids=[media_id], **what)
        assert status == 201, created
        assert (created["loops"], created["handover_after_h"]) == (what["loops"], what["handover_after_h"])


def test_a_stream_of_an_empty_playlist_is_refused(alice: ApiClient) -> None:
    made = playlist(alice, [])
    status, body = _stream(alice, playlist_id=made["playlist_id"])
    assert status == 422
    assert body["error"]["message"] == f"playlist {made['playlist_id']} is empty; add media to it first"


def test_a_stream_of_a_playlist_waits_for_every_item_to_be_ready(alice: ApiClient) -> None:
    (ready,) = probed_media(alice, 1)
    (uploading,) = probed_media(alice, 1, status=UPLOADING)
    made = playlist(alice, [ready, uploading])
    status, body = _stream(alice, playlist_id=made["playlist_id"])
    assert status == 422
    assert body["error"]["message"] == f"media {uploading} is uploading, not ready"


def test_another_users_playlist_cannot_be_streamed(alice: ApiClient, bob: ApiClient) -> None:
    made = playlist(alice, probed_media(alice, 1))
    status, body = _stream(bob, playlist_id=made["playlist_id"])
    assert status == 404
    assert body["error"]["message"] == f"playlist {made['playlist_id']} not found"


def test_media_playing_from_a_playlist_cannot_be_deleted(
    alice: ApiClient, aws_env: RecordingLauncher
) -> None:
    media = upload(alice)
    made = playlist(alice, [media["media_id"]])
    status, created = _stream(alice, playlist_id=made["playlist_id"])
    assert status == 201, created
    assert alice.post(f"/api/streams/{created['stream_id']}/start").status == 202
    assert len(aws_env.started) == 1
    refused = alice.delete(f"/api/media/{media['media_id']}")
    assert refused.status == 409
    assert refused.json()["error"]["code"] == "invalid_state"
    assert alice.get(f"/api/media/{media['media_id']}").status == 200


def test_media_listed_by_a_playlist_may_be_deleted_and_a_later_stream_names_it(alice: ApiClient) -> None:
    kept, deleted = probed_media(alice, 2, duration_s=4)
    made = playlist(alice, [kept, deleted, kept])
    assert made["duration_s"] == 12
    assert alice.delete(f"/api/media/{deleted}").status == 204
    shown = alice.get(f"/api/playlists/{made['playlist_id']}").json()
    assert (shown["media_ids"], shown["duration_s"]) == ([kept, deleted, kept], None)  # no longer 12 s
    assert [p["duration_s"] for p in alice.get("/api/playlists").json()["items"]] == [None]
    status, body = _stream(alice, playlist_id=made["playlist_id"])
    assert status == 422
    assert body["error"] == {
        "code": "invalid_input",
        "message": f"playlist {made['playlist_id']} lists media that no longer exist: {deleted}; "
        "remove them from the playlist",
    }
    assert alice.get("/api/streams").json()["items"] == []


def test_a_stream_of_a_thousand_item_playlist_reads_its_media_in_batches(
    alice: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = (probed_media(alice, 250) * 4)[:1000]
    made = playlist(alice, items)
    dest = destination(alice)
    body = {
        "title": "Marathon",
        "playlist_id": made["playlist_id"],
        "destination_ids": [dest["destination_id"]],
    }
    with dynamodb_calls(monkeypatch) as calls:
        response = alice.post("/api/streams", body)
    assert response.status == 201, response.text
    assert response.json()["media_ids"] == items
    batches = calls.named("BatchGetItem")
    keys = [[k["sk"]["S"] for k in b["RequestItems"]["playout-test"]["Keys"]] for b in batches]
    # The playlist with the destinations first; then its 250 distinct media, too many for the write to check.
    assert sorted(keys[0]) == [f"DEST#{dest['destination_id']}", f"PLAYLIST#{made['playlist_id']}"]
    assert sorted(len(k) for k in keys[1:]) == [50, 100, 100]
    assert calls.named("GetItem") == []
    assert "Scan" not in calls.operations
