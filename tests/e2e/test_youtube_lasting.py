"""YouTube broadcasts that last, end to end in local mode: the real stream task and its ffmpeg pushing to the
emulator's RTMPS ingest, with its broadcast keeper on a short clock (a poll every 2 s, a rotation from 13 s
on air, forced at 22 s, YouTube's archive limit at 40 s), and the emulator's test controls playing YouTube:
access tokens that expire, a grant revoked, a broadcast ended while data still arrives, a quota spent.

Local mode of its own (its knobs), so the module has its own xdist group and worker; the tests run in order
(the quota's day is spent by the last one)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.app_pages import sign_in, watch_for_problems
from tests.e2e.conftest import (
    ApiClient,
    Emulator,
    LocalModeProcess,
    ResponseLog,
    User,
    connect_channel,
    emulator_of,
    make_clip,
    record_figure,
    running_local_mode,
    sign_up_and_in,
    upload_media,
    wait_for_status,
    wait_until,
)
from tests.e2e.gaps import RecordingWatch
from tests.media_probe import probe

pytestmark = pytest.mark.xdist_group("youtube-lasting")

POLL_S = 2.0
MAX_S, WINDOW_S, MARGIN_S = 25.0, 12.0, 3.0  # rotate from 13 s on air (at an item boundary), by 22 s
ARCHIVE_LIMIT_S = 40.0  # the emulator keeps no archive of a broadcast live longer
CLIP_S = 8  # items: a boundary every 8 s
KNOBS = {
    "STREAM_TASK_BROADCAST_POLL_INTERVAL_S": str(POLL_S),
    "STREAM_TASK_BROADCAST_MAX_S": str(MAX_S),
    "STREAM_TASK_BROADCAST_ROTATION_WINDOW_S": str(WINDOW_S),
    "STREAM_TASK_BROADCAST_ROTATION_MARGIN_S": str(MARGIN_S),
    "STREAM_TASK_BROADCAST_LIVE_POLL_S": "0.5",
    "STREAM_TASK_BROADCAST_LIVE_WAIT_S": "20",
    "LOCAL_YOUTUBE_ARCHIVE_LIMIT_S": str(ARCHIVE_LIMIT_S),
}


@pytest.fixture(scope="module")
def lasting_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalModeProcess]:
    with running_local_mode(tmp_path_factory.mktemp("lasting-local"), KNOBS) as local:
        yield local


@pytest.fixture(scope="module")
def youtube(lasting_local: LocalModeProcess) -> Emulator:
    return emulator_of(lasting_local)


@pytest.fixture(scope="module")
def erin(lasting_local: LocalModeProcess, response_log: ResponseLog) -> ApiClient:
    config = ApiClient(lasting_local.url, None, response_log).ok("GET", "/config.json")
    user = sign_up_and_in(lasting_local, config, f"erin-{secrets.token_hex(4)}@example.com")
    return ApiClient(lasting_local.url, user, response_log)


@pytest.fixture(scope="module")
def loop_media(
    erin: ApiClient, lasting_local: LocalModeProcess, tmp_path_factory: pytest.TempPathFactory
) -> str:
    clip = make_clip(tmp_path_factory.mktemp("lasting-media") / "loop.mp4", CLIP_S, tone_hz=550, gop=30)
    media = upload_media(erin, clip, lasting_local.url)
    assert media["status"] == "ready", media
    return str(media["media_id"])


@pytest.fixture(scope="module")
def channel(erin: ApiClient, youtube: Emulator) -> dict[str, Any]:
    return connect_channel(erin, youtube)


@pytest.fixture(scope="module")
def keys() -> list[str]:
    """The ingest keys (stream names) the tests saw: secrets that must never come back out."""
    return []


@pytest.fixture(scope="module", autouse=True)
def no_key_leaves(
    keys: list[str], response_log: ResponseLog, lasting_local: LocalModeProcess
) -> Iterator[None]:
    yield
    log = lasting_local.log_file.read_text()
    for key in keys:
        assert response_log.containing(key) == []
        assert key not in log


def start(api: ApiClient, media_id: str, destination_ids: list[str], title: str) -> dict[str, Any]:
    stream = api.ok(
        "POST",
        "/api/streams",
        {"title": title, "media_ids": [media_id], "destination_ids": destination_ids, "loop": True},
        201,
    )
    started = api.ok("POST", f"/api/streams/{stream['stream_id']}/start", status=202)
    assert started["watch_url"], started
    return dict(started)


def broadcast_of(stream: dict[str, Any], destination_id: str | None = None) -> str:
    urls = {d["destination_id"]: d["watch_url"] for d in stream["destinations"]}
    url = urls[destination_id] if destination_id else stream["watch_url"]
    return str(url).rsplit("=", 1)[1]


def events(api: ApiClient, stream_id: str) -> list[dict[str, Any]]:
    return list(reversed(api.ok("GET", f"/api/streams/{stream_id}/events?limit=100")["items"]))


def wait_for_event(api: ApiClient, stream_id: str, kind: str, timeout_s: float, count: int = 1) -> list[str]:
    found: list[str] = []

    def seen() -> bool:
        found[:] = [e["message"] for e in events(api, stream_id) if e["type"] == kind]
        return len(found) >= count

    wait_until(seen, f"{count} {kind!r} event(s) on {stream_id}", timeout_s, interval_s=0.5)
    return found


def live_on_youtube(youtube: Emulator, broadcast_id: str) -> Callable[[], bool]:
    return lambda: youtube.life_cycle(broadcast_id) == "live"


def stop(api: ApiClient, stream_id: str) -> dict[str, Any]:
    api.ok("POST", f"/api/streams/{stream_id}/stop", status=202)
    ended, _ = wait_for_status(api, stream_id, {"ended", "failed"}, 60)
    assert ended["status"] == "ended", ended
    return ended


def test_tokens_expire_and_refresh_mid_stream_then_a_broadcast_youtube_ends_is_replaced(
    erin: ApiClient, youtube: Emulator, channel: dict[str, Any], loop_media: str, keys: list[str]
) -> None:
    started = start(erin, loop_media, [channel["destination_id"]], "replaced")
    stream_id, first = started["stream_id"], broadcast_of(started)
    wait_until(live_on_youtube(youtube, first), "live", 60)
    keys.append(youtube.bound_stream(first)["streamName"])

    # Every access token dies: the task's next poll gets 401, google-auth refreshes, the poll goes through.
    assert youtube.post("/tokens/expire")["expired"] >= 1
    time.sleep(2 * POLL_S + 1)
    assert [e["message"] for e in events(erin, stream_id) if e["type"] == "youtube"] == []
    assert erin.ok("GET", f"/api/destinations/{channel['destination_id']}")["state"] == "ready"

    # YouTube ends the broadcast while the task still pushes: the next poll replaces it.
    ended_at = time.monotonic()
    youtube.post(f"/broadcasts/{first}/end")
    [replaced] = wait_for_event(erin, stream_id, "broadcast_replaced", 4 * POLL_S + 10)
    assert first in replaced
    assert "YouTube ended it" in replaced
    shown = erin.ok("GET", f"/api/streams/{stream_id}")
    second = broadcast_of(shown)
    assert second != first
    assert second in replaced
    wait_until(live_on_youtube(youtube, second), "the new broadcast live", 15)
    assert time.monotonic() - ended_at < 2 * POLL_S + 10
    assert (
        youtube.get(f"/broadcasts/{second}")["boundStreamId"]
        == youtube.get(f"/broadcasts/{first}")["boundStreamId"]
    )  # the same ingest: nothing moved on the task's side
    assert youtube.life_cycle(first) == "complete"

    final = stop(erin, stream_id)
    assert broadcast_of(final) == second
    assert youtube.life_cycle(second) == "complete"


def youtube_events(api: ApiClient, stream_id: str) -> list[str]:
    return [e["message"] for e in events(api, stream_id) if e["type"] == "youtube"]


def destinations_screen_asks_to_connect_again(
    browser: Any, local_mode: LocalModeProcess, user: User, destination_id: str
) -> None:
    """What the person sees of a channel whose access ended: said in words, with the way back next to it."""
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, local_mode, user, "#/destinations")
        row = page.locator(f"#youtube-channels li[data-destination-id='{destination_id}']")
        expect(row).to_have_attribute("data-state", "needs_reconnect")
        expect(row.locator(".state")).to_have_text("access expired: connect it again")
        expect(row.get_by_role("button", name=re.compile(r"^Connect .+ again$"))).to_be_enabled()
        assert problems == [], problems
    finally:
        context.close()


def test_a_revoked_grant_marks_the_channel_needs_reconnect_and_the_stream_reports_it(
    erin: ApiClient,
    youtube: Emulator,
    channel: dict[str, Any],
    loop_media: str,
    browser: Any,
    lasting_local: LocalModeProcess,
) -> None:
    started = start(erin, loop_media, [channel["destination_id"]], "revoked")
    stream_id, broadcast = started["stream_id"], broadcast_of(started)
    wait_until(live_on_youtube(youtube, broadcast), "live", 60)
    channel_id = channel["channel"]["channel_id"]

    assert youtube.post("/grants/revoke", {"channel_id": channel_id})["revoked"] >= 1

    reported = wait_for_event(erin, stream_id, "youtube", 4 * POLL_S + 10)
    assert any("connect the channel again" in message for message in reported), reported
    destination = erin.ok("GET", f"/api/destinations/{channel['destination_id']}")
    assert destination["state"] == "needs_reconnect"
    assert erin.user is not None
    destinations_screen_asks_to_connect_again(browser, lasting_local, erin.user, channel["destination_id"])
    shown = erin.ok("GET", f"/api/streams/{stream_id}")
    assert shown["status"] == "live"  # the push needs no grant: it goes on
    assert youtube.bound_stream(broadcast)["streamStatus"] == "active"

    # Connected again while on air: the broadcast is kept again (polled, replaced, rotated).
    connect_channel(erin, youtube)
    wait_until(
        lambda: any("is connected again" in m for m in youtube_events(erin, stream_id)),
        "kept again",
        4 * POLL_S + 10,
    )

    # Refused again, then stopped: the end waits for the channel...
    assert youtube.post("/grants/revoke", {"channel_id": channel_id})["revoked"] >= 1
    wait_until(
        lambda: (
            erin.ok("GET", f"/api/destinations/{channel['destination_id']}")["state"] == "needs_reconnect"
        ),
        "refused again",
        4 * POLL_S + 10,
    )
    stop(erin, stream_id)
    problems = youtube_events(erin, stream_id)
    assert any("must be connected again first" in p for p in problems), problems
    assert youtube.life_cycle(broadcast) == "live"  # without the grant nothing can end it...
    again = connect_channel(erin, youtube)
    assert (again["destination_id"], again["state"]) == (channel["destination_id"], "ready")
    # ... until the channel is connected again: the watchdog's sweep ends it then.
    wait_until(lambda: youtube.life_cycle(broadcast) == "complete", "the broadcast completed", 30)


def test_two_channels_at_once_each_get_a_live_broadcast(
    erin: ApiClient, youtube: Emulator, channel: dict[str, Any], loop_media: str, keys: list[str]
) -> None:
    second = youtube.post("/channels", {"title": "Second Channel"})
    other = connect_channel(erin, youtube, account=second["email"])
    assert other["destination_id"] != channel["destination_id"]
    both = [channel["destination_id"], other["destination_id"]]

    started = start(erin, loop_media, both, "two channels")
    broadcasts = {d: broadcast_of(started, d) for d in both}
    assert len(set(broadcasts.values())) == 2
    for broadcast in broadcasts.values():
        wait_until(live_on_youtube(youtube, broadcast), "live", 60)
    ingests = {d: youtube.bound_stream(b) for d, b in broadcasts.items()}
    keys.extend(ingest["streamName"] for ingest in ingests.values())
    assert {ingest["streamStatus"] for ingest in ingests.values()} == {"active"}
    assert len({ingest["id"] for ingest in ingests.values()}) == 2  # each channel's own ingest
    channels = {youtube.get(f"/broadcasts/{b}")["channelId"] for b in broadcasts.values()}
    assert channels == {channel["channel"]["channel_id"], second["channel_id"]}

    def states() -> dict[str, str]:
        shown = erin.ok("GET", f"/api/streams/{started['stream_id']}")
        return {d["destination_id"]: d["status"] for d in shown["destinations"]}

    wait_until(lambda: states() == dict.fromkeys(both, "live"), "both destinations live (heartbeat)", 15)

    stop(erin, started["stream_id"])
    assert {youtube.life_cycle(b) for b in broadcasts.values()} == {"complete"}


def test_a_long_run_rotates_its_broadcast_so_that_each_part_archives_and_the_ingest_sees_no_gap(
    erin: ApiClient,
    youtube: Emulator,
    channel: dict[str, Any],
    loop_media: str,
    keys: list[str],
    figures: dict[str, float],
) -> None:
    everything = re.compile(r"^.+\.flv$")
    with RecordingWatch(youtube.recordings, "", pattern=everything) as watch:
        started = start(erin, loop_media, [channel["destination_id"]], "rotated")
        stream_id, first = started["stream_id"], broadcast_of(started)
        wait_until(live_on_youtube(youtube, first), "live", 60)
        on_air = time.monotonic()
        [rotated] = wait_for_event(erin, stream_id, "broadcast_rotated", MAX_S + 20)
        took = time.monotonic() - on_air
        second = broadcast_of(erin.ok("GET", f"/api/streams/{stream_id}"))
        assert second != first
        assert f"part 2, broadcast {second}, is live" in rotated
        assert first in rotated
        time.sleep(4)  # the second part on air a while, then the stop completes it
        stopped_at = time.monotonic()
        stop(erin, stream_id)
    record_figure(figures, "youtube_rotation_after_s", took)
    assert MAX_S - WINDOW_S - 1 <= took <= MAX_S + 3  # from 13 s on air, at the next item boundary

    parts = [youtube.get(f"/broadcasts/{b}") for b in (first, second)]
    ingests = [youtube.bound_stream(b) for b in (first, second)]
    keys.extend(ingest["streamName"] for ingest in ingests)
    assert ingests[0]["id"] != ingests[1]["id"]  # the channel's two reusable liveStreams: A, then B
    assert [p["lifeCycleStatus"] for p in parts] == ["complete", "complete"]
    # The new part went live before the old one completed; each lived under YouTube's archive limit.
    assert parts[1]["actualStartTime"] <= parts[0]["actualEndTime"]
    handover = [e["message"] for e in events(erin, stream_id) if e["type"] == "handover"]
    assert any("next YouTube broadcast's ingest" in h and "item boundary" in h for h in handover), handover
    for part in parts:
        assert part["actualEndTime"] - part["actualStartTime"] < ARCHIVE_LIMIT_S
        assert not part["archiveDropped"]
    wait_until(
        lambda: all(s["closed"] for b in (first, second) for s in youtube.get(f"/broadcasts/{b}")["archive"]),
        "the archives closed",
        30,
    )
    for broadcast in (first, second):
        [archive] = youtube.get(f"/broadcasts/{broadcast}")["archive"]
        probed = probe(Path(archive["path"]))
        assert {s["codec_type"] for s in probed["streams"]} == {"video", "audio"}
        assert float(probed["format"]["duration"]) >= 3.0
    # The push moved at an item boundary: the old ingest's session (from the stream's first frame) holds whole
    # items, to within a frame or two.
    old_session = Path(youtube.get(f"/streams/{ingests[0]['id']}")["ingestRecordings"][-1])
    old_s = float(probe(old_session)["format"]["duration"])
    off_boundary_s = abs(old_s - CLIP_S * round(old_s / CLIP_S))
    print(f"the old ingest's session: {old_s:.3f} s ({old_s / CLIP_S:.3f} items)")
    record_figure(figures, "youtube_rotation_cut_off_item_boundary_s", off_boundary_s)
    assert round(old_s / CLIP_S) >= 2
    assert off_boundary_s <= 0.1
    gap = watch.wall_gap(since=on_air, until=stopped_at)  # this stream's: data flowed before `on_air`
    record_figure(figures, "youtube_rotation_ingest_gap_s", gap.seconds)
    assert gap.seconds <= 2.0, f"the ingest went {gap} without data ({watch.file_sizes()})"


def test_a_quota_spent_mid_day_refuses_a_start_and_a_running_stream_still_completes_its_broadcast(
    erin: ApiClient, youtube: Emulator, channel: dict[str, Any], loop_media: str
) -> None:
    started = start(erin, loop_media, [channel["destination_id"]], "on air when the quota runs out")
    stream_id, broadcast = started["stream_id"], broadcast_of(started)
    wait_until(live_on_youtube(youtube, broadcast), "live", 60)

    # YouTube answers the task's next poll quotaExceeded (the project's units spent elsewhere): the ledger
    # marks the day spent.
    youtube.post("/faults", {"reason": "quotaExceeded", "method": "youtube.liveBroadcasts.list"})
    wait_until(lambda: erin.ok("GET", "/api/me")["youtube_quota"]["used"] >= 10_000, "the day spent", 20)

    other = erin.ok(
        "POST",
        "/api/streams",
        {
            "title": "too late today",
            "media_ids": [loop_media],
            "destination_ids": [channel["destination_id"]],
        },
        201,
    )
    refused = erin.post(f"/api/streams/{other['stream_id']}/start")
    assert refused.status_code == 429, refused.text
    error = refused.json()["error"]
    assert error["code"] == "youtube_quota_exhausted"
    resets_at = datetime.fromisoformat(error["resets_at"].replace("Z", "+00:00"))
    assert resets_at > datetime.now(UTC)
    assert int(refused.headers["Retry-After"]) > 0

    # The running stream goes on; its polls are refused by the ledger before anything is sent.
    def bytes_sent() -> int:
        return int(erin.ok("GET", f"/api/streams/{stream_id}")["destinations"][0]["bytes_sent"])

    before = bytes_sent()
    time.sleep(2 * POLL_S + 1)  # polls the ledger refuses
    wait_until(lambda: bytes_sent() > before, "more bytes sent", 15)  # the next heartbeat says so
    assert erin.ok("GET", f"/api/streams/{stream_id}")["status"] == "live"
    problems = [e["message"] for e in events(erin, stream_id) if e["type"] == "youtube"]
    assert any("quota" in p for p in problems), problems
    # Its end is charged but never refused by the ledger: YouTube completes the broadcast.
    stop(erin, stream_id)
    assert youtube.life_cycle(broadcast) == "complete"
