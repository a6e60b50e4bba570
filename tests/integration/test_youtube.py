"""YouTube through the API, against the emulator in this process (Google OAuth and the YouTube Data API with a
real RTMP(S) ingest) and moto: connecting channels, the callback's refusals, the grant's life (refresh,
revocation, disconnect), a stream's broadcast from start to end, and the quota ledger in front of it all."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from local.youtube_emulator import RunningEmulator, running_youtube_emulator
from playout import crypto, destinations, watchdog
from playout.launcher import RunState
from playout.media import get_media
from playout.media import thumbnail_key as media_thumbnail_key
from playout.models import OAuthState, Stream, YouTubeBroadcast, YouTubeQuotaDay, user_pk
from playout.resources import ENDED_RUNS_INDEX_VALUE
from playout.settings import get_settings, get_youtube_settings
from playout.streams import FAILED, finish, get_stream, start_scheduled_stream
from playout.youtube import broadcasts as youtube_broadcasts
from playout.youtube.broadcasts import ENDING_ABANDONED_AFTER, broadcasts_for, run_items
from playout.youtube.endpoints import CALLBACK_PATH
from playout.youtube.google import REFRESH_TOKEN_PURPOSE, SECRET_MAX_AGE_S
from playout.youtube.quota import COST_UNITS, YouTubeCall, pacific_day
from stream_task.broadcast_thumbnail import jpeg_from_webp
from tests.integration.conftest import ApiClient, ApiResponse, RecordingLauncher
from tests.integration.helpers import STREAM_READY_FACTS, job_steps, upload
from tests.integration.youtube_world import (
    APP_ORIGIN,
    broadcasts,
    callback,
    connect_channel,
    consent,
    control,
    forget_settings,
    new_stream,
    point_the_api_at,
    project,
    publishing,
    start_connect,
    studio_broadcasts,
    units_by_method,
)

STARTING_DELAY_S = 0.3


@pytest.fixture(scope="module")
def emulator() -> Iterator[RunningEmulator]:
    with running_youtube_emulator(
        redirect_uris=[APP_ORIGIN + CALLBACK_PATH], starting_delay_s=STARTING_DELAY_S, auto_stop_delay_s=1.0
    ) as running:
        yield running


@pytest.fixture
def alice(google: RunningEmulator) -> ApiClient:
    return ApiClient(f"alice-{uuid.uuid4()}", "alice@example.com")


def wait_until(condition: Any, what: str, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout_s} s"
        time.sleep(0.1)


def youtube_destinations(client: ApiClient) -> list[dict[str, Any]]:
    listed = client.get("/api/destinations").json()["items"]
    return [d for d in listed if d["type"] == "youtube"]


def stream_to_a_connected_channel(
    client: ApiClient, google: RunningEmulator
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A channel connected through the consent page, and a new stream to it: (destination, stream)."""
    _, destination = connect_channel(client, google)
    return destination, new_stream(client, [destination["destination_id"]])


def start_new_stream(client: ApiClient, destination_id: str) -> ApiResponse:
    return client.post(f"/api/streams/{new_stream(client, [destination_id])['stream_id']}/start")


def media_bucket() -> str:
    return get_settings().media_bucket


def quota_used() -> int:
    return project().ledger().today().used


# --- connecting a channel ---


def test_connecting_a_channel_through_the_consent_page_adds_a_youtube_destination(
    alice: ApiClient, google: RunningEmulator
) -> None:
    started = start_connect(alice)
    assert started.authorization_url.startswith(google.urls.authorization_endpoint + "?")
    for expected in ("access_type=offline", "prompt=consent", "code_challenge_method=S256", "state="):
        assert expected in started.authorization_url

    came_back = callback(consent(google, started.authorization_url), started.nonce)

    assert came_back.status == 302
    assert came_back.location.startswith(APP_ORIGIN + "/#")
    assert came_back.fragment["youtube"] == "connected"
    assert "code" not in came_back.location
    assert "token" not in came_back.location
    [destination] = youtube_destinations(alice)
    assert destination["destination_id"] == came_back.fragment["destination_id"]
    assert destination["state"] == "ready"
    assert destination["name"] == "Emulated Channel"
    assert destination["channel"]["channel_id"] == google.channel.channel_id
    assert destination["channel"]["thumbnail_url"].startswith(google.urls.plain_base)
    assert destination["url"] == f"https://www.youtube.com/channel/{google.channel.channel_id}"
    assert "refresh" not in str(destination)
    # The refresh token is stored encrypted, bound to the user and the destination.
    item = destinations.get_destination(str(alice.user_id), destination["destination_id"])
    assert item.refresh_token_ciphertext is not None
    token = crypto.decrypt(
        bytes(item.refresh_token_ciphertext),
        str(alice.user_id),
        destination["destination_id"],
        purpose=REFRESH_TOKEN_PURPOSE,
    )
    assert token.startswith("1//")
    assert token.encode() not in bytes(item.refresh_token_ciphertext)
    with pytest.raises(Exception, match="InvalidCiphertext"):
        crypto.decrypt(bytes(item.refresh_token_ciphertext), "someone-else", destination["destination_id"])
    assert quota_used() == COST_UNITS[YouTubeCall.CHANNELS_LIST]


def test_a_replayed_an_expired_and_a_foreign_callback_connect_nothing(
    alice: ApiClient, google: RunningEmulator
) -> None:
    # Another browser (no cookie, or another one's) brings back Alice's consent: refused, the state kept.
    started = start_connect(alice)
    back_url = consent(google, started.authorization_url)
    for nonce in (None, start_connect(alice).nonce):
        foreign = callback(back_url, nonce)
        assert foreign.fragment["youtube"] == "failed", foreign
        assert "another browser" in foreign.fragment["message"]
    assert youtube_destinations(alice) == []

    assert callback(back_url, started.nonce).fragment["youtube"] == "connected"
    replayed = callback(back_url, started.nonce)
    assert replayed.status == 302
    assert replayed.fragment["youtube"] == "expired"
    assert "already used" in replayed.fragment["message"]

    late = start_connect(alice)
    late_url = consent(google, late.authorization_url)
    state = dict(item.split("=", 1) for item in late_url.split("?", 1)[1].split("&"))["state"]
    OAuthState(OAuthState.key_of(state), OAuthState.SK).update(
        actions=[OAuthState.expires_at.set(datetime.now(UTC) - timedelta(seconds=1))]
    )
    expired = callback(late_url, late.nonce)
    assert expired.fragment["youtube"] == "expired"
    forged = callback(f"{APP_ORIGIN}{CALLBACK_PATH}?state=made-up&code=4/abc", late.nonce)
    assert forged.fragment["youtube"] == "expired"
    assert len(youtube_destinations(alice)) == 1  # only the one good round trip


def test_a_denied_consent_connects_nothing(alice: ApiClient, google: RunningEmulator) -> None:
    started = start_connect(alice)
    denied = callback(consent(google, started.authorization_url, allow=False), started.nonce)

    assert denied.status == 302
    assert denied.fragment["youtube"] == "denied"
    assert denied.fragment["message"] == "the YouTube connection was not allowed; nothing was connected"
    assert youtube_destinations(alice) == []
    replayed = callback(consent(google, started.authorization_url), started.nonce)
    assert replayed.fragment["youtube"] == "expired"


def test_a_callback_that_cannot_store_the_grant_goes_back_to_the_app_with_words(
    alice: ApiClient, google: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kms_down(*args: Any, **kwargs: Any) -> bytes:
        raise ClientError({"Error": {"Code": "KMSInternalException", "Message": "down"}}, "Encrypt")

    started = start_connect(alice)
    monkeypatch.setattr(crypto, "encrypt", kms_down)

    back = callback(consent(google, started.authorization_url), started.nonce)

    assert back.status == 302, back
    assert back.fragment == {"youtube": "failed", "message": "Playout could not save the channel; try again"}
    assert youtube_destinations(alice) == []


def test_the_same_channel_twice_is_one_destination_and_a_reconnect_clears_needs_reconnect(
    alice: ApiClient, google: RunningEmulator
) -> None:
    first, destination = connect_channel(alice, google)
    control(google, "POST", "/grants/revoke", {"channel_id": google.channel.channel_id})
    stream = new_stream(alice, [destination["destination_id"]])
    refused = alice.post(f"/api/streams/{stream['stream_id']}/start")
    assert refused.status == 409, refused.text  # the refresh answered invalid_grant
    assert refused.json()["error"]["code"] == "youtube_channel_needs_action"
    [marked] = youtube_destinations(alice)
    assert marked["state"] == "needs_reconnect"

    second, again = connect_channel(alice, google)

    assert second.fragment["destination_id"] == first.fragment["destination_id"]
    assert [d["destination_id"] for d in youtube_destinations(alice)] == [destination["destination_id"]]
    assert again["state"] == "ready"
    assert again["created_at"] == destination["created_at"]
    bob = ApiClient(f"bob-{uuid.uuid4()}")
    _, bobs = connect_channel(bob, google)  # the same channel for another user: that user's own destination
    assert bobs["destination_id"] != destination["destination_id"]


def test_two_channels_of_one_user(alice: ApiClient, google: RunningEmulator) -> None:
    second = control(google, "POST", "/channels", {"title": "Second Channel"})
    _, one = connect_channel(alice, google)
    _, two = connect_channel(alice, google, account=second["email"])

    listed = youtube_destinations(alice)
    assert {d["name"] for d in listed} == {"Emulated Channel", "Second Channel"}
    assert {d["channel"]["channel_id"] for d in listed} == {google.channel.channel_id, second["channel_id"]}

    stream = new_stream(alice, [one["destination_id"], two["destination_id"]])
    started = alice.post(f"/api/streams/{stream['stream_id']}/start")
    assert started.status == 202, started.text
    body = started.json()
    watch = {d["destination_id"]: d["watch_url"] for d in body["destinations"]}
    assert all(url.startswith("https://www.youtube.com/watch?v=") for url in watch.values())
    assert len(set(watch.values())) == 2
    channels = {b.channel_id for b in studio_broadcasts(google)}
    assert channels == {google.channel.channel_id, second["channel_id"]}


def test_deleting_a_youtube_destination_deletes_its_keys_and_revokes_its_grant_at_google(
    alice: ApiClient, google: RunningEmulator
) -> None:
    destination, stream = stream_to_a_connected_channel(alice, google)
    assert alice.post(f"/api/streams/{stream['stream_id']}/start").status == 202
    run = get_stream(str(alice.user_id), stream["stream_id"], consistent=True)
    assert finish(run, "ended")
    assert broadcasts().end_broadcasts(str(alice.user_id), stream["stream_id"], str(run.run_id)) == []
    item = destinations.get_destination(str(alice.user_id), destination["destination_id"])
    made = [item.live_stream_id, item.spare_live_stream_id]
    assert all(google.app.studio.stream(str(live_stream_id)) for live_stream_id in made)
    token = crypto.decrypt(
        bytes(item.refresh_token_ciphertext or b""),
        str(alice.user_id),
        destination["destination_id"],
        purpose=REFRESH_TOKEN_PURPOSE,
    )

    deleted = alice.delete(f"/api/destinations/{destination['destination_id']}")

    assert deleted.status == 204, deleted.text
    assert youtube_destinations(alice) == []
    # The channel's liveStreams Playout made are gone: their keys take no stream any more.
    assert [google.app.studio.stream(str(live_stream_id)) for live_stream_id in made] == [None, None]
    assert units_by_method(google)["youtube.liveStreams.delete"] == 100
    # Google no longer knows the grant: nothing is left to revoke, and its refresh token is refused.
    assert control(google, "POST", "/grants/revoke", {"refresh_token": token}) == {"revoked": 0}
    refused = google.app.accounts._refresh_tokens[token].revoked
    assert refused is True


def test_an_expired_access_token_is_refreshed_by_itself(alice: ApiClient, google: RunningEmulator) -> None:
    _, destination = connect_channel(alice, google)
    first = start_new_stream(alice, destination["destination_id"])
    assert first.status == 202, first.text
    finish(get_stream(str(alice.user_id), first.json()["stream_id"], consistent=True), "ended")
    [credentials] = project()._credentials.values()  # kept by the warm "Lambda" between requests
    token_before = credentials.token

    assert control(google, "POST", "/tokens/expire")["expired"] >= 1
    second = start_new_stream(alice, destination["destination_id"])

    assert second.status == 202, second.text  # YouTube said 401; google-auth refreshed, the call went again
    assert second.json()["watch_url"]
    assert credentials.token != token_before
    [after] = youtube_destinations(alice)
    assert after["state"] == "ready"


# --- a stream's broadcast ---


def test_a_start_makes_a_broadcast_bound_to_the_channels_reusable_stream_and_the_task_pushes_there(
    alice: ApiClient, google: RunningEmulator, aws_env: RecordingLauncher
) -> None:
    _, destination = connect_channel(alice, google)
    stream = new_stream(
        alice,
        [destination["destination_id"]],
        privacy="public",
        youtube={"made_for_kids": True, "latency_preference": "low", "enable_dvr": False},
    )
    assert stream["destinations"][0]["type"] == "youtube"

    started = alice.post(f"/api/streams/{stream['stream_id']}/start")

    assert started.status == 202, started.text
    body = started.json()
    [broadcast] = studio_broadcasts(google)
    assert body["watch_url"] == f"https://www.youtube.com/watch?v={broadcast.broadcast_id}"
    assert body["destinations"][0]["watch_url"] == body["watch_url"]
    assert broadcast.snippet["title"] == "Loop \u2039one\u203a"  # YouTube refuses < and >
    assert broadcast.snippet["description"] == "A quiet loop"
    assert broadcast.status == {"privacyStatus": "public", "selfDeclaredMadeForKids": True}
    details = broadcast.content_details
    assert (details["enableAutoStart"], details["enableAutoStop"]) == (True, False)
    assert (details["latencyPreference"], details["enableDvr"]) == ("low", False)
    assert broadcast.life_cycle.value == "ready"
    bound = google.app.studio.stream(str(broadcast.bound_stream_id))
    assert bound is not None
    assert bound.is_reusable
    assert len(aws_env.started) == 1  # the task is launched after the broadcast is bound
    # The task's ingest: the bound liveStream's RTMPS address and key, like any RTMPS destination's.
    ingest = destinations.resolve_ingest(str(alice.user_id), destination["destination_id"])
    assert ingest.url == f"{google.urls.rtmps_ingest}/{bound.stream_name}"
    assert bound.stream_name not in started.text
    assert bound.stream_name not in alice.get("/api/destinations").text

    # The first start made the channel's two reusable liveStreams (the second for broadcast rotations), its
    # key stored apart (the channel's next stream reuses them: the stopping test below).
    item = destinations.get_destination(str(alice.user_id), destination["destination_id"])
    assert item.spare_live_stream_id not in (None, bound.stream_id)
    spare = destinations.resolve_ingest(
        str(alice.user_id), destination["destination_id"], item.spare_live_stream_id
    )
    spare_stream = google.app.studio.stream(str(item.spare_live_stream_id))
    assert spare_stream is not None
    assert spare.url == f"{google.urls.rtmps_ingest}/{spare_stream.stream_name}"
    assert units_by_method(google)["youtube.liveStreams.insert"] == 100

    # A second start of a live run asks YouTube nothing.
    before = quota_used()
    assert alice.post(f"/api/streams/{stream['stream_id']}/start").status == 202
    assert quota_used() == before
    assert len(studio_broadcasts(google)) == 1

    # Another stream on the channel while this one is on air would push to the same liveStream, which takes
    # one encoder: refused, having made nothing.
    second = new_stream(alice, [destination["destination_id"]])
    refused = alice.post(f"/api/streams/{second['stream_id']}/start")
    assert refused.status == 409, refused.text
    message = refused.json()["error"]["message"]
    assert message.startswith('YouTube channel Emulated Channel is on air from your stream "Loop'), message
    assert alice.get(f"/api/streams/{second['stream_id']}").json()["status"] == "draft"
    assert (len(studio_broadcasts(google)), quota_used(), len(aws_env.started)) == (1, before, 1)


def test_a_start_that_raced_another_on_the_same_channel_gives_way_once_both_are_written(
    alice: ApiClient, google: RunningEmulator, aws_env: RecordingLauncher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two clicks at once: each start's first check read the streams before the other's run was written."""
    destination, first = stream_to_a_connected_channel(alice, google)
    assert alice.post(f"/api/streams/{first['stream_id']}/start").status == 202
    second = new_stream(alice, [destination["destination_id"]])
    real = youtube_broadcasts.active_streams
    monkeypatch.setattr(
        youtube_broadcasts,
        "active_streams",
        lambda user_id, consistent=False: real(user_id) if consistent else [],
    )

    raced = alice.post(f"/api/streams/{second['stream_id']}/start")

    assert raced.status == 409, raced.text
    assert "is on air from your stream" in raced.json()["error"]["message"]
    shown = alice.get(f"/api/streams/{second['stream_id']}").json()
    assert shown["status"] == "failed"
    assert shown["error"].startswith("YouTube: YouTube channel Emulated Channel is on air from your stream")
    assert len(studio_broadcasts(google)) == 1  # the first stream's only
    assert len(aws_env.started) == 1
    assert int(alice.get("/api/me").json()["active_streams"]) == 1
    assert alice.get(f"/api/streams/{first['stream_id']}").json()["status"] == "starting"


def test_the_broadcast_gets_the_first_medias_thumbnail(
    alice: ApiClient, google: RunningEmulator, tmp_path: Path
) -> None:
    _, destination = connect_channel(alice, google)
    media = upload(alice, probed=False)
    webp = tmp_path / "thumbnail.webp"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180", "-frames:v", "1",
         "-c:v", "libwebp", str(webp)],
        check=True,
        timeout=30,
    )  # fmt: skip
    key = media_thumbnail_key(str(alice.user_id), media["media_id"])
    boto3.client("s3").put_object(Bucket=media_bucket(), Key=key, Body=webp.read_bytes())
    steps = job_steps()
    item = get_media(str(alice.user_id), media["media_id"], consistent=True)
    loaded = steps.load(str(alice.user_id), media["media_id"], str(item.job_id))
    loaded = steps.record_facts(loaded, STREAM_READY_FACTS, key, webp.stat().st_size)
    steps.finish_ready(loaded, str(loaded.object_key), int(loaded.size_bytes))
    created = alice.post(
        "/api/streams",
        {
            "title": "with a picture",
            "media_ids": [media["media_id"]],
            "destination_ids": [destination["destination_id"]],
        },
    )
    started = alice.post(f"/api/streams/{created.json()['stream_id']}/start").json()
    stream = get_stream(str(alice.user_id), started["stream_id"], consistent=True)

    # What the stream task does once it plays: the WebP from S3, a JPEG from it, thumbnails.set.
    jpegs: list[bytes] = []

    def jpeg() -> bytes:
        webp = boto3.client("s3").get_object(Bucket=media_bucket(), Key=key)["Body"].read()
        data = jpeg_from_webp("ffmpeg", webp, tmp_path)
        jpegs.append(data)
        return data

    broadcasts().set_thumbnails(str(alice.user_id), stream, jpeg)
    broadcasts().set_thumbnails(str(alice.user_id), stream, jpeg)  # a resumed task: already set

    [broadcast] = studio_broadcasts(google)
    assert broadcast.thumbnail is not None
    assert broadcast.thumbnail.data[:3] == b"\xff\xd8\xff"  # a JPEG
    assert len(jpegs) == 1
    [record] = run_items(str(alice.user_id), stream.stream_id, str(stream.run_id))
    assert record.thumbnail == "set"
    assert units_by_method(google)["youtube.thumbnails.set"] == 50


def test_stopping_completes_the_broadcast_that_went_live_and_the_units_of_one_stream(
    alice: ApiClient, google: RunningEmulator, tmp_path: Path
) -> None:
    destination, stream = stream_to_a_connected_channel(alice, google)
    before = quota_used()

    started = alice.post(f"/api/streams/{stream['stream_id']}/start")
    assert started.status == 202, started.text
    [broadcast] = studio_broadcasts(google)
    ingest = destinations.resolve_ingest(str(alice.user_id), destination["destination_id"])
    run = get_stream(str(alice.user_id), stream["stream_id"], consistent=True)
    broadcasts().set_thumbnails(str(alice.user_id), run, lambda: _png())
    with publishing(ingest.url, seconds=30) as encoder:  # what the stream task pushes
        wait_until(lambda: broadcast.life_cycle.value == "live", "live by auto-start")
        assert alice.post(f"/api/streams/{stream['stream_id']}/stop").status == 202
        # The task, told to stop: it stops pushing, ends the run's broadcasts, writes `ended`.
        encoder.terminate()
        encoder.wait(timeout=10)
        problems = broadcasts().end_broadcasts(str(alice.user_id), stream["stream_id"], str(run.run_id))
    assert problems == []
    finish(get_stream(str(alice.user_id), stream["stream_id"], consistent=True), "ended")

    assert broadcast.life_cycle.value == "complete"
    [record] = run_items(str(alice.user_id), stream["stream_id"], str(run.run_id))
    assert record.state == "complete"
    # Ending twice (the watchdog after the task, say) asks YouTube nothing more.
    assert broadcasts().end_broadcasts(str(alice.user_id), stream["stream_id"], str(run.run_id)) == []
    wait_until(lambda: bool(google.archive(broadcast.broadcast_id)), "archived")

    used = quota_used() - before
    youtube_says = google.app.ledger.report(google.client.project)
    print(f"\nYouTube units of one stream, start to stop (its channel's first): {used}")
    print(f"YouTube's own count of the same calls (with the connect's channels.list): {youtube_says['used']}")
    assert used == sum(
        COST_UNITS[call]
        for call in (
            YouTubeCall.STREAMS_INSERT,  # the channel's first start only: its liveStream
            YouTubeCall.STREAMS_INSERT,  # and its second, for broadcast rotations
            YouTubeCall.BROADCASTS_INSERT,
            YouTubeCall.BROADCASTS_BIND,
            YouTubeCall.THUMBNAILS_SET,
            YouTubeCall.BROADCASTS_LIST,
            YouTubeCall.BROADCASTS_TRANSITION,
        )
    )
    assert used == 301
    assert youtube_says["used"] == used + COST_UNITS[YouTubeCall.CHANNELS_LIST]

    # The channel's next stream reuses its liveStream: start, thumbnail, end.
    before = quota_used()
    again = new_stream(alice, [destination["destination_id"]])
    assert alice.post(f"/api/streams/{again['stream_id']}/start").status == 202
    run = get_stream(str(alice.user_id), again["stream_id"], consistent=True)
    broadcasts().set_thumbnails(str(alice.user_id), run, lambda: _png())
    assert broadcasts().end_broadcasts(str(alice.user_id), again["stream_id"], str(run.run_id)) == []
    next_used = quota_used() - before
    print(f"YouTube units of each next stream on the channel, start to stop: {next_used}")
    assert next_used == 201


def _png() -> bytes:
    from local.youtube_emulator.app import solid_png

    return solid_png(160, 90, (0, 90, 200))


def test_a_scheduled_stream_gets_its_broadcast_from_the_scheduled_start_for_its_time(
    alice: ApiClient, google: RunningEmulator, aws_env: RecordingLauncher
) -> None:
    _, destination = connect_channel(alice, google)
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    stream = new_stream(alice, [destination["destination_id"]], scheduled_start=at.isoformat())
    assert stream["status"] == "scheduled"
    assert studio_broadcasts(google) == []  # nothing on YouTube until the scheduled start fires

    # What the scheduled-start Lambda (and local mode's scheduler) does at the pre-warm time.
    started = start_scheduled_stream(
        str(alice.user_id), stream["stream_id"], at, broadcasts_for(get_youtube_settings(), get_settings())
    )

    assert started is not None
    assert started.status == "starting"
    [broadcast] = studio_broadcasts(google)
    assert broadcast.snippet["scheduledStartTime"] == at.strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = alice.get(f"/api/streams/{stream['stream_id']}").json()
    assert shown["watch_url"].endswith(broadcast.broadcast_id)
    assert len(aws_env.started) == 1


def test_a_run_that_never_went_live_deletes_its_broadcast_at_the_end(
    alice: ApiClient, google: RunningEmulator
) -> None:
    _, stream = stream_to_a_connected_channel(alice, google)
    assert alice.post(f"/api/streams/{stream['stream_id']}/start").status == 202
    run = get_stream(str(alice.user_id), stream["stream_id"], consistent=True)

    assert broadcasts().end_broadcasts(str(alice.user_id), stream["stream_id"], str(run.run_id)) == []

    assert studio_broadcasts(google) == []
    [record] = run_items(str(alice.user_id), stream["stream_id"], str(run.run_id))
    assert record.state == "deleted"


class _TaskDied:
    """The workflow of the run is over, and its task wrote nothing (killed, crashed for good)."""

    def run_state(self, run_id: str) -> RunState:
        return RunState.ENDED

    def stop_run_task(self, run_id: str, task_arn: str | None, reason: str) -> None:
        raise AssertionError("nothing to stop")


def test_the_watchdog_ends_the_broadcasts_of_a_run_whose_task_died(
    alice: ApiClient, google: RunningEmulator
) -> None:
    destination, stream = stream_to_a_connected_channel(alice, google)
    assert alice.post(f"/api/streams/{stream['stream_id']}/start").status == 202
    [broadcast] = studio_broadcasts(google)
    ingest = destinations.resolve_ingest(str(alice.user_id), destination["destination_id"])
    with publishing(ingest.url, seconds=30):
        wait_until(lambda: broadcast.life_cycle.value == "live", "live by auto-start")
        # The task is gone; the watchdog's sweep finds its run over with nothing written.
        findings = watchdog.sweep(_TaskDied(), end_broadcasts=broadcasts().end_broadcasts)

    assert [f.action for f in findings] == [watchdog.SETTLED]
    assert alice.get(f"/api/streams/{stream['stream_id']}").json()["status"] == "failed"
    assert broadcast.life_cycle.value == "complete"


def test_a_run_the_workflow_failed_with_no_task_has_its_broadcast_ended_when_the_execution_ends(
    alice: ApiClient, google: RunningEmulator
) -> None:
    """No capacity even on demand: the workflow settles the run `failed` and no task ever ran, so no STOPPED
    event comes; the execution's end (EventBridge) has the watchdog Lambda end the broadcast."""
    from stream_watchdog.handler import run_of_execution

    _, destination = connect_channel(alice, google)
    stream = new_stream(alice, [destination["destination_id"]])
    assert alice.post(f"/api/streams/{stream['stream_id']}/start").status == 202
    run = get_stream(str(alice.user_id), stream["stream_id"], consistent=True)
    assert finish(run, FAILED, "no Fargate capacity")  # the workflow's SettleFailed
    assert [b.life_cycle.value for b in studio_broadcasts(google)] == ["ready"]
    execution_input = json.dumps(
        {"stream_id": stream["stream_id"], "user_id": alice.user_id, "run_id": str(run.run_id)}
    )

    found = run_of_execution({"status": "FAILED", "input": execution_input})
    assert found is not None
    assert watchdog.check_run(*found, _TaskDied(), end_broadcasts=broadcasts().end_broadcasts) is None

    assert studio_broadcasts(google) == []  # never live: deleted, not left as an upcoming event
    [record] = run_items(str(alice.user_id), stream["stream_id"], str(run.run_id))
    assert record.state == "deleted"
    for unreadable in ("", "[]", '{"stream_id": 1}', "not json"):
        assert run_of_execution({"input": unreadable}) is None


TRANSITION = "youtube.liveBroadcasts.transition"


@contextmanager
def a_live_broadcast(client: ApiClient, google: RunningEmulator) -> Iterator[tuple[Stream, Any]]:
    """A stream started on a connected channel, its broadcast live by auto-start while an encoder pushes to
    its ingest (what the stream task does): (the run, the emulator's broadcast)."""
    destination, stream = stream_to_a_connected_channel(client, google)
    assert client.post(f"/api/streams/{stream['stream_id']}/start").status == 202
    [broadcast] = studio_broadcasts(google)
    ingest = destinations.resolve_ingest(str(client.user_id), destination["destination_id"])
    run = get_stream(str(client.user_id), stream["stream_id"], consistent=True)
    with publishing(ingest.url, seconds=30):
        wait_until(lambda: broadcast.life_cycle.value == "live", "live by auto-start")
        yield run, broadcast


def _ended_runs() -> set[str]:
    return {s.stream_id for s in Stream.active_index.query(ENDED_RUNS_INDEX_VALUE)}


def test_an_end_youtube_refuses_for_now_is_tried_again_by_the_sweep_until_the_broadcast_completes(
    alice: ApiClient, google: RunningEmulator
) -> None:
    with a_live_broadcast(alice, google) as (run, broadcast):
        # The task's end: YouTube answers 503 to the transition and to its one retry.
        control(google, "POST", "/faults", {"reason": "backendError", "method": TRANSITION, "times": 2})
        [problem] = broadcasts().end_broadcasts(str(alice.user_id), run.stream_id, str(run.run_id))
        assert "could not be ended" in problem
        assert finish(get_stream(str(alice.user_id), run.stream_id, consistent=True), "ended")
        assert broadcast.life_cycle.value == "live"
        assert run.stream_id in _ended_runs()

        # The next sweep: YouTube refuses the transition (`invalidTransition`), and the broadcast still reads
        # live: the end is put back, not given up.
        control(google, "POST", "/faults", {"reason": "invalidTransition", "method": TRANSITION})
        watchdog.sweep(_TaskDied(), end_broadcasts=broadcasts().end_broadcasts)
        assert broadcast.life_cycle.value == "live"
        assert run.stream_id in _ended_runs()

        watchdog.sweep(_TaskDied(), end_broadcasts=broadcasts().end_broadcasts)  # YouTube answers now

    assert broadcast.life_cycle.value == "complete"
    [record] = run_items(str(alice.user_id), run.stream_id, str(run.run_id))
    assert record.state == "complete"
    assert run.stream_id not in _ended_runs()  # nothing left to try: out of the sweep's way


def test_an_end_claimed_by_a_task_that_died_mid_way_is_taken_over_once_abandoned(
    alice: ApiClient, google: RunningEmulator
) -> None:
    with a_live_broadcast(alice, google) as (run, broadcast):
        # The task claimed the end (`ending`), wrote the stream ended, and was killed before asking YouTube.
        [item] = run_items(str(alice.user_id), run.stream_id, str(run.run_id))
        item.update(actions=[YouTubeBroadcast.state.set("ending")])
        assert finish(get_stream(str(alice.user_id), run.stream_id, consistent=True), "ended")

        watchdog.sweep(_TaskDied(), end_broadcasts=broadcasts().end_broadcasts)
        assert broadcast.life_cycle.value == "live"  # a claim this fresh may still be at work

        item.update(
            actions=[
                YouTubeBroadcast.updated_at.set(
                    datetime.now(UTC) - ENDING_ABANDONED_AFTER - timedelta(seconds=1)
                )
            ]
        )
        watchdog.sweep(_TaskDied(), end_broadcasts=broadcasts().end_broadcasts)

    assert broadcast.life_cycle.value == "complete"
    [record] = run_items(str(alice.user_id), run.stream_id, str(run.run_id))
    assert record.state == "complete"


def test_a_failure_part_way_leaves_no_broadcast_and_a_reason_on_the_stream(
    alice: ApiClient, google: RunningEmulator, aws_env: RecordingLauncher
) -> None:
    _, stream = stream_to_a_connected_channel(alice, google)
    fault = {"reason": "liveStreamingNotEnabled", "method": "youtube.liveBroadcasts.bind"}
    control(google, "POST", "/faults", fault)

    refused = alice.post(f"/api/streams/{stream['stream_id']}/start")

    assert refused.status == 409, refused.text
    assert "youtube.com/features" in refused.json()["error"]["message"]
    assert studio_broadcasts(google) == []  # made, then deleted when the bind failed
    after = alice.get(f"/api/streams/{stream['stream_id']}").json()
    assert after["status"] == "failed"
    assert after["error"].startswith("YouTube: live streaming is not enabled on this YouTube channel")
    assert after["watch_url"] is None
    assert aws_env.started == []  # no task
    assert int(alice.get("/api/me").json()["active_streams"]) == 0
    assert units_by_method(google)["youtube.liveBroadcasts.delete"] == 50

    retried = alice.post(f"/api/streams/{stream['stream_id']}/start")  # the fault was once: it starts now
    assert retried.status == 202, retried.text
    assert retried.json()["status"] == "starting"


def test_a_launch_that_fails_ends_the_broadcast_it_had(
    alice: ApiClient, google: RunningEmulator, aws_env: RecordingLauncher
) -> None:
    _, stream = stream_to_a_connected_channel(alice, google)
    aws_env.fail_with = RuntimeError("no capacity")

    started = alice.post(f"/api/streams/{stream['stream_id']}/start")

    assert started.json()["status"] == "failed"
    assert studio_broadcasts(google) == []


# --- quota ---


def test_me_shows_the_days_youtube_quota(alice: ApiClient, google: RunningEmulator) -> None:
    connect_channel(alice, google)
    quota = alice.get("/api/me").json()["youtube_quota"]
    assert quota["used"] == 1
    assert quota["limit"] == 10_000
    resets_at = datetime.fromisoformat(quota["resets_at"])
    assert resets_at.astimezone(UTC).hour in (7, 8)  # midnight Pacific
    assert timedelta(0) < resets_at - datetime.now(UTC) <= timedelta(hours=24)


def test_a_start_the_quota_cannot_pay_for_answers_429_with_the_reset_time_and_changes_nothing(
    alice: ApiClient, google: RunningEmulator, aws_env: RecordingLauncher
) -> None:
    _, stream = stream_to_a_connected_channel(alice, google)
    ledger = project().ledger()
    ledger.spend(YouTubeCall.BROADCASTS_LIST, times=ledger.daily_limit - ledger.today().used - 100)

    refused = alice.post(f"/api/streams/{stream['stream_id']}/start")

    assert refused.status == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "youtube_quota_exhausted"
    assert "100 of 10000 units left" in error["message"]
    resets_at = datetime.fromisoformat(error["resets_at"].replace("Z", "+00:00"))
    assert resets_at == ledger.today().resets_at
    assert 0 < int(refused.headers["Retry-After"]) <= 24 * 3600
    assert alice.get(f"/api/streams/{stream['stream_id']}").json()["status"] == "draft"
    assert studio_broadcasts(google) == []
    assert aws_env.started == []


def test_youtube_saying_quota_exceeded_marks_the_day_spent(alice: ApiClient, google: RunningEmulator) -> None:
    destination, stream = stream_to_a_connected_channel(alice, google)
    control(google, "POST", "/quota/exhaust")  # units spent elsewhere in the project

    refused = alice.post(f"/api/streams/{stream['stream_id']}/start")

    assert refused.status == 429, refused.text
    assert "midnight Pacific" in refused.json()["error"]["message"]
    assert alice.get(f"/api/streams/{stream['stream_id']}").json()["status"] == "failed"
    day = YouTubeQuotaDay.get_or_none(project().oauth_client().client_id, pacific_day(datetime.now(UTC)))
    assert day is not None
    assert int(day.used) == 10_000
    assert alice.get("/api/me").json()["youtube_quota"]["used"] == 10_000
    again = start_new_stream(alice, destination["destination_id"])
    assert again.status == 429  # refused by the ledger now, before anything is asked of YouTube


def test_youtube_without_a_client_is_a_plain_503(
    aws_env: RecordingLauncher, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("YOUTUBE_CLIENT_ID", "YOUTUBE_CLIENT_SECRET_NAME"):
        monkeypatch.delenv(name, raising=False)
    forget_settings()
    client = ApiClient(f"carol-{uuid.uuid4()}")
    try:
        refused = client.post("/api/youtube/connect")
        assert refused.status == 503
        assert refused.json()["error"]["code"] == "youtube_not_configured"
        assert client.get("/api/me").json()["youtube_quota"] is None
    finally:
        forget_settings()


def test_the_client_comes_from_secrets_manager_in_aws(
    aws_env: RecordingLauncher, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_the_api_at(emulator, monkeypatch, YOUTUBE_CLIENT_SECRET_NAME="playout/test/youtube-oauth-client")
    monkeypatch.delenv("YOUTUBE_CLIENT_ID")
    monkeypatch.delenv("YOUTUBE_CLIENT_SECRET")
    forget_settings()
    boto3.client("secretsmanager").create_secret(
        Name="playout/test/youtube-oauth-client",
        SecretString=json.dumps(
            {"client_id": emulator.client.client_id, "client_secret": emulator.client.client_secret}
        ),
    )
    try:
        alice = ApiClient(f"alice-{uuid.uuid4()}")
        _, destination = connect_channel(alice, emulator)
        assert destination["state"] == "ready"

        # The secret rotated: warm processes take the new one once their copy is older than its max age.
        google = project()
        boto3.client("secretsmanager").put_secret_value(
            SecretId="playout/test/youtube-oauth-client",
            SecretString=json.dumps({"client_id": emulator.client.client_id, "client_secret": "rotated"}),
        )
        read_at = google.oauth_client()
        assert read_at.client_secret == emulator.client.client_secret  # within its max age: the copy
        parameters.clear_caches()  # Powertools' own cache of the secret, past its max age too
        monkeypatch.setattr(google, "monotonic", lambda: time.monotonic() + SECRET_MAX_AGE_S + 1)
        assert google.oauth_client().client_secret == "rotated"
    finally:
        control(emulator, "POST", "/reset")
        forget_settings()


def test_the_stream_item_never_holds_a_key_in_the_clear(alice: ApiClient, google: RunningEmulator) -> None:
    _, stream = stream_to_a_connected_channel(alice, google)
    alice.post(f"/api/streams/{stream['stream_id']}/start")
    bound = google.app.studio.stream(str(studio_broadcasts(google)[0].bound_stream_id))
    assert bound is not None
    raw = boto3.client("dynamodb").scan(TableName=Stream.Meta.table_name)["Items"]
    assert bound.stream_name not in str(raw)
    run = get_stream(str(alice.user_id), stream["stream_id"], consistent=True)
    assert run.status != FAILED
    assert user_pk(str(alice.user_id)) in str(raw)
