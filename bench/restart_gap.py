"""The gap a reader failure leaves on air: the reader's ffmpeg is killed (SIGKILL) in the middle of the
second of two items, and what reaches the ingest around it is compared with what reaches it around the
boundary between the two items, in the same stream.

Two views: at the sink, the longest wait between two chunks from the publisher (a viewer's player starves
on that, whatever the timestamps say), seen by a proxy in front of nginx-rtmp; and in nginx's recording,
the largest step between successive timestamps near each seam (a hole in the timeline). The engine reads
ahead, so a reader restart should look like an item boundary in both."""

from __future__ import annotations

import itertools
import math
import os
import signal
import time
from pathlib import Path

from bench.harness import (
    Event,
    Proxy,
    RtmpSink,
    command_line,
    descendants,
    engine_run,
    is_pusher,
    stream_name,
)
from bench.media import Media
from bench.report import Figure
from stream_task.engine import EngineLimits
from stream_task.flv import Tag, read_tags
from stream_task.probe import probe

KILL_AFTER_S = 10.0  # after the second item's reader opens: mid-item, well clear of the boundary's window
MARGIN_S = 1.0
SEAM_WINDOW_MS = 500
TARGET_S = 2.0  # the design's "restart within 2 s"
LEAD_S = EngineLimits().lead_ms / 1000


def _reader_pid(root: int) -> int:
    """The engine's reader: its ffmpeg that is not a pusher."""
    for pid in descendants(root):
        argv = command_line(pid)
        if argv and not is_pusher(argv):
            return pid
    raise RuntimeError("the engine has no reader running")


def _on_air_at(air: Event, seam_ms: float) -> float:
    """When the tags at `seam_ms` of output left the engine (it sends them `lead_ms` ahead of time)."""
    return air.t + seam_ms / 1000 - LEAD_S


def _largest_step_s(tags: list[Tag], seam_ms: float) -> tuple[float, float]:
    """The largest step between successive video, and audio, timestamps around `seam_ms`."""

    def largest(times: list[int]) -> float:
        near = [t for t in times if abs(t - seam_ms) <= SEAM_WINDOW_MS]
        return max((b - a for a, b in itertools.pairwise(near)), default=0) / 1000

    media = [t for t in tags if t.is_media]
    return (
        largest([t.timestamp_ms for t in media if t.is_video]),
        largest([t.timestamp_ms for t in media if t.is_audio]),
    )


def _video_length_s(tags: list[Tag]) -> float:
    times = [t.timestamp_ms for t in tags if t.is_media and t.is_video]
    steps = sorted(b - a for a, b in itertools.pairwise(times))
    return (times[-1] - times[0] + steps[len(steps) // 2]) / 1000


def _ratio(ours: float, baseline: float) -> float:
    return ours / baseline if baseline > 0 else math.inf


def measure(sink: RtmpSink, media: Media) -> list[Figure]:
    proxy = Proxy(sink.port)
    name = stream_name("restart")
    run = engine_run([media.clip, media.clip], [proxy.url("rec", name)])
    try:
        air = run.wait_for("air", 30)
        second = run.wait_for("entry", 120, where=lambda e: e.values["slot"] == 1)
        time.sleep(max(0.0, second.t + KILL_AFTER_S - time.monotonic()))
        os.kill(_reader_pid(run.process.pid), signal.SIGKILL)
        killed_at = time.monotonic()
        restart = run.wait_for("restart", 30)
        run.wait(180)
    finally:
        run.close()
        proxy.close()
    connection = max(proxy.connections, key=lambda c: c.bytes_in)
    boundary_ms, restart_ms = float(second.values["seam_ms"]), float(restart.values["seam_ms"])
    boundary_gap = connection.largest_gap_s(second.t - MARGIN_S, _on_air_at(air, boundary_ms) + MARGIN_S)
    kill_gap = connection.largest_gap_s(killed_at - MARGIN_S, _on_air_at(air, restart_ms) + MARGIN_S)
    time.sleep(0.5)  # nginx finishes the recording when the publisher leaves
    with Path(sink.recording(name)).open("rb") as recording:
        tags = list(read_tags(recording))
    boundary_video, boundary_audio = _largest_step_s(tags, boundary_ms)
    kill_video, kill_audio = _largest_step_s(tags, restart_ms)
    probed = probe("ffprobe", media.clip)
    played_s = 2 * probed.video_s if probed is not None and probed.video_s else None
    next_data = next((t for t, _ in connection.arrivals if t > killed_at), None)
    details = {
        # The engine notices a dead reader once it has used what the reader had read ahead.
        "kill_to_restart_s": round(restart.t - killed_at, 3),
        "kill_to_next_data_at_sink_s": round(next_data - killed_at, 3) if next_data is not None else None,
        "engine_gap_estimate_s": restart.values.get("gap_s"),
        "restart_reason": restart.values.get("reason"),
        "boundary_seam_s": round(boundary_ms / 1000, 3),
        "restart_seam_s": round(restart_ms / 1000, 3),
        "video_step_s": {"restart": kill_video, "boundary": boundary_video},
        "audio_step_s": {"restart": kill_audio, "boundary": boundary_audio},
        # A reader resumes at the last keyframe the engine took, so up to one GOP plays twice: the recording
        # is that much longer than the playlist.
        "recorded_beyond_playlist_s": round(_video_length_s(tags) - played_s, 3) if played_s else None,
    }
    kill_step, boundary_step = max(kill_video, kill_audio), max(boundary_video, boundary_audio)
    return [
        Figure(
            measure="On-air gap at the sink after kill -9 of the reader",
            ours=kill_gap,
            baseline=boundary_gap,
            unit="s",
            ratio=_ratio(kill_gap, boundary_gap),
            ratio_of="kill/boundary",
            target=f"ours <= {TARGET_S:g} s",
            met=kill_gap <= TARGET_S,
            ours_label="kill",
            baseline_label="boundary",
            details=details,
        ),
        Figure(
            measure="Timestamp step at the seam in the recording",
            ours=kill_step,
            baseline=boundary_step,
            unit="s",
            ratio=_ratio(kill_step, boundary_step),
            ratio_of="kill/boundary",
            target="-",
            met=None,
            ours_label="kill",
            baseline_label="boundary",
            details=details,
        ),
    ]
