"""Start latency as a user meets it: in local mode, from the start request (the API's domain code) to the
first media at the ingest, for a 2 GB upload against a 10 MB one. Everything the stream task does in AWS
is inside it: the launcher starting the task's process, its imports, the claim, reading the destination,
probing the media from S3 (moto, by presigned URL) and opening the reader; nothing may wait for a
download. The two sizes alternate round by round, each round a new stream started and stopped.

"First media" is as in start_latency: the publisher's bytes past the RTMP handshake and commands, seen by
a proxy in front of nginx-rtmp."""

from __future__ import annotations

import time
import uuid

from bench.harness import Proxy, RtmpSink
from bench.local_stream import upload, wait_for
from bench.media import Media
from bench.report import Figure
from bench.start_latency import latency_figure

TRIAL_TIMEOUT_S = 60.0


def _trial(user_id: str, media_id: str, destination_id: str, proxy: Proxy) -> float:
    from playout import streams

    spec = streams.StreamSpec(
        title="bench: start latency",
        description="",
        privacy="unlisted",
        media_ids=[media_id],
        destination_ids=[destination_id],
        loop=True,
        duration_s=None,
    )
    stream_id = streams.create_stream(user_id, spec).stream.stream_id
    known = len(proxy.connections)
    started = time.monotonic()
    streams.start_stream(user_id, stream_id)
    try:
        deadline = started + TRIAL_TIMEOUT_S
        while True:
            arrived = [c.media_at for c in proxy.connections[known:] if c.media_at is not None]
            if arrived:
                return min(arrived) - started
            if time.monotonic() > deadline:
                raise RuntimeError(f"no media reached the ingest {TRIAL_TIMEOUT_S:g} s after the start")
            time.sleep(0.005)
    finally:
        streams.stop_stream(user_id, stream_id)
        wait_for(user_id, stream_id, {streams.ENDED}, 60)


def measure(sink: RtmpSink, files: Media, *, rounds: int) -> list[Figure]:
    from local.runtime import LocalMode
    from playout import destinations

    mode = LocalMode(port=0, build_web=False)
    proxy = Proxy(sink.port)
    try:
        mode.start()
        user_id = str(uuid.uuid4())
        uploaded = time.monotonic()
        small_id, large_id = upload(user_id, files.small), upload(user_id, files.large)
        upload_s = time.monotonic() - uploaded
        destination_id = destinations.create_destination(
            user_id, "bench sink", f"rtmp://127.0.0.1:{proxy.port}/live", "bench-start", allow_loopback=True
        ).destination_id
        small: list[float] = []
        large: list[float] = []
        for number in range(rounds):
            # Alternate which size goes first, so neither always finds the page cache warmer.
            order = [(small, small_id), (large, large_id)]
            for times, media_id in order if number % 2 == 0 else reversed(order):
                times.append(_trial(user_id, media_id, destination_id, proxy))
    finally:
        proxy.close()
        mode.stop()
    return [
        latency_figure(
            "Start latency in local mode, start request to first media",
            small,
            large,
            upload_both_s=round(upload_s, 1),
        )
    ]
