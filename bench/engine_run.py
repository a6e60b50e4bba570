"""`python -m bench.engine_run`: the stream task's playout path (probe each item, then the engine with one
output per destination) in a process of its own, so that the benchmarks measure its CPU and memory the way
a task's would be, the Python threads included.

It writes one JSON line per event on stdout, each with `t`, the system-wide monotonic clock, which the
benchmark compares with what it sees at the sink: `ready` (imports done), `run` (items probed, the engine
starts), `air` (first tag released), `entry` (a reader opens: `seam_ms` is where it joins the timeline),
`restart`, and `end` (outputs closed). `run` and `end` also tell the CPU spent so far."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import Any, cast

from bench.harness import cpu_of, descendants
from local.task_image import engine_ffmpeg
from stream_task.engine import Engine, EngineEvents
from stream_task.outputs import Output
from stream_task.playlist import Cursor, Entry, Item, PlayOrder
from stream_task.probe import positive_seconds, probe
from stream_task.process import Log
from stream_task.redact import Redactor


def emit(event: str, **values: Any) -> None:
    print(json.dumps({"event": event, "t": time.monotonic(), **values}), flush=True)


def cpu_so_far() -> dict[str, float]:
    """This process's own CPU, and its whole tree's: the children it waited for (each ended reader, the
    probes) and those still running."""
    own, reaped = cpu_of(os.getpid())
    running = 0.0
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError, ValueError):
            running += sum(cpu_of(pid))
    return {"own_cpu_s": own, "tree_cpu_s": own + reaped + running}


class _Events(EngineEvents):
    def __init__(self) -> None:
        self.engine: Engine | None = None

    def _seam_ms(self) -> float:
        return self.engine.splicer.video_end_ms if self.engine is not None else 0.0

    def on_air(self) -> None:
        emit("air")

    def on_entry(self, entry: Entry) -> None:
        emit("entry", slot=entry.cursor.slot, pass_index=entry.cursor.pass_index, seam_ms=self._seam_ms())

    def on_restart(self, entry: Entry, reason: str, gap_s: float) -> None:
        emit("restart", slot=entry.cursor.slot, reason=reason, gap_s=gap_s, seam_ms=self._seam_ms())


def _item(number: int, path: str) -> Item:
    probed = probe("ffprobe", path)
    if probed is None or not probed.has_video:
        raise SystemExit(f"{path}: not a video")
    duration = positive_seconds(probed.video_s) or positive_seconds(probed.duration_s)
    if duration is None:
        raise SystemExit(f"{path}: no duration")
    return Item(f"item-{number}", duration, probed.has_audio, copy_audio=probed.audio_copyable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_run")
    parser.add_argument("--file", action="append", required=True, help="a playlist item (repeatable)")
    parser.add_argument("--dest", action="append", required=True, help="an rtmp:// ingest (repeatable)")
    parser.add_argument("--seconds", type=float, help="stop after this much output (default: the playlist)")
    parser.add_argument("--loop", action="store_true", help="play the playlist until --seconds")
    args = parser.parse_args(argv)
    emit("ready")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    log = cast(Log, logging.getLogger("bench.engine_run"))
    items = [_item(number, path) for number, path in enumerate(args.file)]
    sources = {item.media_id: path for item, path in zip(items, args.file, strict=True)}
    order = PlayOrder(items, passes=None if args.loop else 1)
    redact = Redactor()
    outputs = [
        Output(f"dest-{number}", url, ffmpeg=engine_ffmpeg(), redact=redact, logger=log)
        for number, url in enumerate(args.dest)
    ]
    events = _Events()
    engine = Engine(
        order.entries(Cursor(), args.seconds),
        source=lambda entry: sources[entry.item.media_id],
        outputs=outputs,
        ffmpeg=engine_ffmpeg(),
        redact=redact,
        logger=log,
        events=events,
    )
    events.engine = engine

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        engine.request_stop("stop requested")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emit("run", **cpu_so_far())
    try:
        result = engine.run()
    finally:
        for output in outputs:
            output.close(grace_s=5.0)
    emit("end", ending=result.ending.value, reason=result.reason, restarts=result.restarts, **cpu_so_far())
    return 0


if __name__ == "__main__":
    sys.exit(main())
