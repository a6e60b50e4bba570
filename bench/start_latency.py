"""Start latency: from a fresh stream process having its items to play (imports done) to the first media at
the ingest, probing included as the task probes, for a 2 GB file against a 10 MB one. Nothing may wait for
a download: the reader seeks to the index at the end of the file and starts, whatever its size.

Each file is read as a path (an item staged on the scratch disk) and over HTTP with Range requests (an
item read from S3 by its presigned URL before it is staged), the two sizes alternating round by round.

"First media at the ingest" is when the publisher's bytes on its TCP connection pass the RTMP handshake and
commands (see harness.MEDIA_AFTER_BYTES), seen by a proxy in front of nginx-rtmp: the first byte alone would
only tell that the pusher connected, which ffmpeg may do before it has anything to send."""

from __future__ import annotations

import contextlib
import re
import statistics
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from bench.harness import Proxy, RtmpSink, engine_run, serving_http, stream_name
from bench.media import Media
from bench.report import Figure

TARGET_RATIO = 1.2
TARGET_S = 2.0
TRIAL_TIMEOUT_S = 30.0
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class _RangeHandler(BaseHTTPRequestHandler):
    """Serves the files it is given by name, honouring a single Range as S3 does (http.server does not,
    and ffmpeg then cannot seek to an index at the end)."""

    protocol_version = "HTTP/1.1"
    files: dict[str, Path] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def _answer(self, *, body: bool) -> None:
        path = self.files.get(self.path.lstrip("/"))
        if path is None:
            self.send_error(404)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        wanted = _RANGE.match(self.headers.get("Range", ""))
        if wanted:
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)) if wanted.group(2) else size - 1, size - 1)
            if start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if wanted else 200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(end - start + 1))
        if wanted:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        with contextlib.suppress(ConnectionError), path.open("rb") as source:
            source.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = source.read(min(left, 256 * 1024))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)


@contextlib.contextmanager
def _http_server(files: dict[str, Path]) -> Iterator[str]:
    handler = type("Handler", (_RangeHandler,), {"files": files})
    with serving_http(handler, "bench-http") as url:
        yield url


def _trial(sink: RtmpSink, source: str) -> tuple[float, float]:
    """Seconds from the process ready to the first media at the sink, and from the engine's start."""
    proxy = Proxy(sink.port)
    run = engine_run([source], [proxy.url("live", stream_name("latency"))], seconds=10)
    try:
        deadline = time.monotonic() + TRIAL_TIMEOUT_S
        while (media_at := proxy.first_media_at()) is None:
            if time.monotonic() > deadline or run.process.poll() is not None:
                raise RuntimeError(f"no media reached the sink from {source}: {run.stderr_tail()}")
            time.sleep(0.01)
        ready, started = run.wait_for("ready", 5), run.wait_for("run", 5)
        return media_at - ready.t, media_at - started.t
    finally:
        run.close()
        proxy.close()


def latency_figure(measure: str, small: list[float], large: list[float], **details: object) -> Figure:
    """The 2 GB file's median start latency against the 10 MB file's, held to the targets."""
    small_s, large_s = statistics.median(small), statistics.median(large)
    ratio = large_s / small_s
    return Figure(
        measure=measure,
        ours=large_s,
        baseline=small_s,
        unit="s",
        ratio=ratio,
        ratio_of="2GB/10MB",
        target=f"ratio <= {TARGET_RATIO}, ours <= {TARGET_S:g} s",
        met=ratio <= TARGET_RATIO and large_s <= TARGET_S,
        ours_label="2 GB",
        baseline_label="10 MB",
        details={
            "statistic": "median",
            "small_s": [round(t, 3) for t in small],
            "large_s": [round(t, 3) for t in large],
            **details,
        },
    )


def _figure(kind: str, small: list[tuple[float, float]], large: list[tuple[float, float]]) -> Figure:
    return latency_figure(
        f"Start latency to first media, {kind}",
        [t for t, _ in small],
        [t for t, _ in large],
        small_engine_only_s=[round(t, 3) for _, t in small],
        large_engine_only_s=[round(t, 3) for _, t in large],
    )


def measure(sink: RtmpSink, media: Media, *, rounds: int) -> list[Figure]:
    figures = []
    with _http_server({"small.mp4": media.small, "large.mp4": media.large}) as base_url:
        for kind, small_source, large_source in (
            ("file", str(media.small), str(media.large)),
            ("HTTP Range", f"{base_url}/small.mp4", f"{base_url}/large.mp4"),
        ):
            small, large = [], []
            for number in range(rounds):
                # Alternate which size goes first, so neither always finds the page cache warmer.
                if number % 2 == 0:
                    small.append(_trial(sink, small_source))
                    large.append(_trial(sink, large_source))
                else:
                    large.append(_trial(sink, large_source))
                    small.append(_trial(sink, small_source))
            figures.append(_figure(kind, small, large))
    return figures
