"""A scheduled start, as a creator sees it: `scheduled`, then the task starts early (the pre-warm lead) and
the first frame reaches the ingest within 2 s of the time asked for (AWS promises 5 s)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from playout.schedules import PREWARM_LEAD
from tests.e2e.conftest import ApiClient, RtmpSink, new_stream_key, record_figure, wait_for_status

# Past the pre-warm lead, so that the scheduler (not the create) starts the task.
AHEAD = PREWARM_LEAD + timedelta(seconds=12)
FIRST_FRAME_TOLERANCE_S = 2.0
INDIA = timezone(timedelta(hours=5, minutes=30))
FLV_PREAMBLE_BYTES = 4096  # FLV header, metadata and sequence headers: more than this is picture and sound


def _first_media_at(recording: Path, timeout_s: float) -> float:
    """The wall-clock time the ingest's recording first holds media."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if recording.is_file() and recording.stat().st_size > FLV_PREAMBLE_BYTES:
            return time.time()
        time.sleep(0.02)
    raise AssertionError(f"nothing reached {recording.name} within {timeout_s:.0f} s")


@pytest.mark.xdist_group("schedule")
def test_a_scheduled_stream_goes_on_air_at_its_time(
    alice_api: ApiClient,
    alice_media: dict[str, Any],
    rtmp_sink: RtmpSink,
    stream_keys: list[str],
    figures: dict[str, float],
) -> None:
    key = new_stream_key(stream_keys)
    destination = alice_api.ok(
        "POST",
        "/api/destinations",
        {"type": "rtmp", "name": "scheduled sink", "url": rtmp_sink.url, "stream_key": key},
        201,
    )
    at = (datetime.now(UTC) + AHEAD).replace(microsecond=0)
    stream = alice_api.ok(
        "POST",
        "/api/streams",
        {
            "title": "e2e scheduled",
            "media_ids": [alice_media["media_id"]],
            "destination_ids": [destination["destination_id"]],
            "duration_s": 8,
            # Written in another zone than UTC: the offset is what counts.
            "scheduled_start": at.astimezone(INDIA).isoformat(),
        },
        201,
    )
    assert stream["status"] == "scheduled"
    assert datetime.fromisoformat(stream["scheduled_start"]) == at

    # The pre-warm: the task is started well before the time ...
    wait_for_status(alice_api, stream["stream_id"], {"starting", "live"}, AHEAD.total_seconds())
    started_early_s = at.timestamp() - time.time()
    assert started_early_s > 30, f"the task started only {started_early_s:.1f} s before its time"
    assert not rtmp_sink.recording(key).is_file() or rtmp_sink.recording(key).stat().st_size <= (
        FLV_PREAMBLE_BYTES
    )

    # ... and holds its first frame until the time.
    first_media = _first_media_at(rtmp_sink.recording(key), started_early_s + 20)
    late_s = first_media - at.timestamp()
    print(f"task started {started_early_s:.1f} s early; first frame {late_s:+.2f} s from the time asked")
    record_figure(figures, "scheduled_first_frame_offset_s", late_s)
    assert abs(late_s) <= FIRST_FRAME_TOLERANCE_S
    wait_for_status(alice_api, stream["stream_id"], {"ended"}, 40, interval_s=0.5)
