"""Clean seams, proven on what the ingest recorded (issue 5, point 2).

Three uploads that differ where real files differ — A's sound outlasts its picture by 64 ms, B's sound is
44.1 kHz mono, C's is 48 kHz stereo; the pictures share one H.264 profile (640x360, 30 fps, High, a
keyframe every 2 s) — are uploaded through the API, conformed where they are not stream-ready (issue 6),
and played as one looping stream limited to ten minutes of real time to a destination on the nginx-rtmp
sink. Then the recording is read packet by packet
(tests/e2e/recording.py) and must show:

- no decode timestamp that goes back or repeats, per stream;
- no video gap: every step between consecutive pictures at most two frames (2/fps), plus 1 ms for FLV's
  millisecond rounding, i.e. at most one missing frame;
- no audio gap longer than one AAC frame: a step is one frame (1024/48000 s = 21.33 ms) when the sound is
  continuous; "a gap of at most one frame" means step - frame <= frame, so every step is at most
  2 x 21.33 ms + 1 ms of rounding;
- sound and picture end within one video frame of each other (the last audio packet plus its duration
  against the last picture's presentation time plus one frame);
- every item boundary, found by the content (the encoder settings of each item as stored, see
  recording.py), in the order A, B, C, A, ... as many as ten minutes of these lengths make;
- about 600 s recorded (3 s either way);
- no timestamp warning from ffmpeg: neither in the stream task's log lines of this stream (its readers and
  pusher log ffmpeg's stderr) nor when ffmpeg reads the recording back.

Ten minutes of real time: the module is its own xdist group, so `-n 2 --dist loadgroup` runs it on a
worker of its own (with its own local mode and ingest) beside the other e2e tests.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stream_task.probe import probe as stream_task_probe
from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    RtmpSink,
    new_stream_key,
    record_figure,
    stored_copy,
    upload_media,
    wait_for_status,
)
from tests.e2e.recording import (
    encoder_settings,
    ffmpeg_check,
    gap_limits_ms,
    packets,
    seam_report,
    stream_log_lines,
    timestamp_warnings,
    timing_faults,
    wait_until_written,
)
from tests.media_probe import probe

pytestmark = pytest.mark.xdist_group("e2e-seams")

FPS = 30
STREAM_S = 600
DURATION_TOLERANCE_S = 3.0
AUDIO_OUTLASTS_MS = 64
START_TO_LIVE_TIMEOUT_S = 60
END_MARGIN_S = 120


@dataclass(frozen=True)
class SeamItem:
    label: str
    frames: int  # the picture's length, in frames
    audio_extra_s: float  # how much longer the sound is than the picture
    sample_rate: int
    channels: int
    video_source: str
    tone_hz: int
    video_kbps: int  # also what tells the items apart on air: the encoder's settings differ


# ~20-40 s each, none a whole number of GOPs: every boundary is also a short GOP, as in real files.
ITEMS = (
    SeamItem("A", 704, AUDIO_OUTLASTS_MS / 1000, 48000, 2, "testsrc2", 440, 1000),
    SeamItem("B", 897, 0.0, 44100, 1, "smptehdbars", 660, 1100),
    SeamItem("C", 1101, 0.0, 48000, 2, "mandelbrot", 880, 1200),
)


def _make(item: SeamItem, path: Path) -> None:
    video_s = item.frames / FPS
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-t", f"{video_s:.6f}", "-i", f"{item.video_source}=size=640x360:rate={FPS}",
            "-f", "lavfi", "-t", f"{video_s + item.audio_extra_s:.6f}",
            "-i", f"sine=frequency={item.tone_hz}:sample_rate={item.sample_rate}",
            "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-level", "4.0",
            "-pix_fmt", "yuv420p", "-g", str(2 * FPS), "-keyint_min", str(2 * FPS), "-sc_threshold", "0",
            "-b:v", f"{item.video_kbps}k",
            "-c:a", "aac", "-ar", str(item.sample_rate), "-ac", str(item.channels), "-b:a", "128k",
            "-movflags", "+faststart", str(path),
        ],
        check=True,
        timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="session")
def seam_items(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three items, made once per session and checked to be what they claim."""
    folder = tmp_path_factory.mktemp("seam-media")
    paths = {}
    for item in ITEMS:
        path = folder / f"seam-{item.label.lower()}.mp4"
        if not path.is_file():
            _make(item, path)
        streams = {s["codec_type"]: s for s in probe(path)["streams"]}
        video, audio = streams["video"], streams["audio"]
        assert (video["width"], video["height"], video["profile"]) == (640, 360, "High"), video
        assert int(video["nb_frames"]) == item.frames, video
        assert (int(audio["sample_rate"]), int(audio["channels"])) == (item.sample_rate, item.channels)
        outlasts_ms = (float(audio["duration"]) - float(video["duration"])) * 1000
        assert abs(outlasts_ms - item.audio_extra_s * 1000) <= 5, f"{item.label}: audio {outlasts_ms:+.1f} ms"
        # Both ways the engine reads sound meet at the seams: A and B are encoded, C (already the output's
        # form and length, as a conformed file is) is copied.
        probed = stream_task_probe("ffprobe", path)
        assert probed is not None
        assert probed.audio_copyable == (item.label == "C"), item.label
        paths[item.label] = path
    labels = {encoder_settings(path) for path in paths.values()}
    assert len(labels) == len(ITEMS), "the items must be told apart by their encoder settings"
    return paths


def _expected_item_starts(total_s: float) -> str:
    """The items that start within the stream's length, in order: 'ABCABC...'."""
    starts, at = [], 0.0
    while at < total_s - 1e-6:
        for item in ITEMS:
            if at >= total_s - 1e-6:
                break
            starts.append(item.label)
            at += item.frames / FPS
    return "".join(starts)


def test_seams_stay_clean_over_ten_minutes_of_a_looping_playlist(
    alice_api: ApiClient,
    local_mode: LocalModeProcess,
    rtmp_sink: RtmpSink,
    seam_items: dict[str, Path],
    stream_keys: list[str],
    figures: dict[str, Any],
    tmp_path: Path,
) -> None:
    began = time.monotonic()
    media_ids, labels = [], {}
    for item in ITEMS:
        media = upload_media(alice_api, seam_items[item.label], local_mode.url)
        assert media["status"] == "ready", media
        media_ids.append(media["media_id"])
        played = stored_copy(alice_api, media, tmp_path / f"stored-{item.label.lower()}.mp4")
        labels[encoder_settings(played)] = item.label
    assert len(labels) == len(ITEMS), "the stored items must be told apart by their encoder settings"
    key = new_stream_key(stream_keys)
    destination = alice_api.ok(
        "POST",
        "/api/destinations",
        {"type": "rtmp", "name": "seams sink", "url": rtmp_sink.url, "stream_key": key},
        201,
    )
    stream = alice_api.ok(
        "POST",
        "/api/streams",
        {
            "title": "e2e seams",
            "media_ids": media_ids,
            "destination_ids": [destination["destination_id"]],
            "loop": True,
            "duration_s": STREAM_S,
        },
        201,
    )
    stream_id = stream["stream_id"]
    assert alice_api.post(f"/api/streams/{stream_id}/start").status_code == 202
    wait_for_status(alice_api, stream_id, {"live"}, START_TO_LIVE_TIMEOUT_S)
    ended, _ = wait_for_status(alice_api, stream_id, {"ended"}, STREAM_S + END_MARGIN_S, interval_s=2.0)
    assert ended["error"] in (None, ""), ended
    events = [e["type"] for e in alice_api.ok("GET", f"/api/streams/{stream_id}/events")["items"]]
    assert "restarted" not in events, f"a reader or the task restarted: not every seam is an item's {events}"

    recording = rtmp_sink.recording(key)
    wait_until_written(recording, 15)
    found = packets(recording)
    report = seam_report(found, labels)
    ffprobe_s = float(probe(recording)["format"].get("duration") or 0.0)
    stream_lines = stream_log_lines(local_mode.log_file, stream_id)
    ffmpeg_lines = [line for line in stream_lines if "reader: " in line or '"output ' in line]
    read_back = ffmpeg_check(recording)

    frame_ms = 1000 / FPS
    video_limit_ms, audio_limit_ms = gap_limits_ms(frame_ms, report.audio_frame_ms)
    item_starts = "".join(seam.label for seam in report.seams)
    print(f"\nseams: {report.summary()}")
    for seam in report.seams:
        print(f"  item {seam.label} at {seam.at_ms / 1000:8.3f} s: video step {seam.video_step_ms} ms, "
              f"largest audio step nearby {seam.max_audio_step_ms} ms")  # fmt: skip
    print(f"  ffprobe's duration {ffprobe_s:.3f} s; {len(stream_lines)} task log lines of this stream, "
          f"{len(ffmpeg_lines)} of them ffmpeg's; ffmpeg reading the recording back: "
          f"{json.dumps(read_back[:5])}")  # fmt: skip
    record_figure(figures, "seams_max_video_step_ms", report.max_video_step.step_ms)
    record_figure(figures, "seams_max_audio_step_ms", report.max_audio_step.step_ms)
    record_figure(figures, "seams_av_end_difference_ms", report.av_end_difference_ms)
    record_figure(figures, "seams_count", max(0, len(report.seams) - 1))
    record_figure(figures, "seams_recording_duration_s", report.duration_s)
    backwards = len(report.video_not_increasing) + len(report.audio_not_increasing)
    record_figure(figures, "seams_dts_not_increasing", backwards)
    record_figure(figures, "seams_wall_s", time.monotonic() - began)

    # The ingest's view first: the numbers that the viewer's player lives with.
    assert found.audio_sample_rate == 48000, found.audio_sample_rate
    assert timing_faults(report, found, video_limit_ms, audio_limit_ms) == []
    assert item_starts == _expected_item_starts(STREAM_S), item_starts
    assert abs(report.duration_s - STREAM_S) <= DURATION_TOLERANCE_S, report.duration_s
    assert abs(report.av_end_difference_ms) <= frame_ms, (
        f"audio ends {report.av_end_difference_ms:+.1f} ms after the picture; last pictures (pts) "
        f"{sorted(found.video_pts_ms)[-4:]}, last audio {found.audio_dts_ms[-4:]}"
    )

    # ... then what ffmpeg said: while playing (this stream's log lines only) and reading it back.
    assert stream_lines, "the stream task should have logged this run"
    assert timestamp_warnings(stream_lines) == [], timestamp_warnings(stream_lines)[:5]
    assert timestamp_warnings(read_back) == [], timestamp_warnings(read_back)[:5]
