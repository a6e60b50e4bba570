"""`python -m bench [--quick]`: every benchmark, each figure a ratio against a baseline measured side by side
in the same run (the machine's noise hits both alike). Prints a table and writes build/bench/results.json.

The memory runs (15 min and 1 min, or 2 and 0.5 with --quick) start first and go on while the others run;
the conform figures (the 1080p30 clip, then each kind of test clip) and the media job's memory (a 2 GB file
against a 100 MB one) follow them on one core of their own, about 6 min more (3 with --quick). Between the
two, the capacity: how many concurrent local-mode streams the cores hold (up to 15 min; `--only capacity`
runs it alone)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType

from bench import (
    capacity,
    conform,
    conform_clips,
    copy_vs_transcode,
    cpu_share,
    job_memory,
    local_start,
    local_stream,
    media,
    memory,
    restart_gap,
    start_latency,
)
from bench.harness import BUILD_DIR, RtmpSink
from bench.report import Figure, now, table, write_json

RESULTS = BUILD_DIR / "results.json"


@dataclass(frozen=True)
class Plan:
    cpu_seconds: float
    cpu_rounds: int
    share_seconds: float
    latency_rounds: int
    local_start_rounds: int
    memory_long_s: float
    memory_short_s: float
    dynamodb_s: float
    clip_s: float  # each test clip's length, conformed
    job_small_bytes: int  # the media job's memory: this file against one 20 times as large


FULL = Plan(
    cpu_seconds=120,
    cpu_rounds=2,
    share_seconds=120,
    latency_rounds=7,
    local_start_rounds=5,
    memory_long_s=900,
    memory_short_s=60,
    dynamodb_s=300,
    clip_s=conform_clips.CLIP_SECONDS,
    job_small_bytes=job_memory.SMALL_BYTES,
)
QUICK = Plan(
    cpu_seconds=20,
    cpu_rounds=1,
    share_seconds=20,
    latency_rounds=2,
    local_start_rounds=1,
    memory_long_s=120,
    memory_short_s=30,
    dynamodb_s=30,
    clip_s=5,
    job_small_bytes=50 * job_memory.MB,
)


def _progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: each process started gets stopped


def _capacity(sink: RtmpSink, *, quick: bool) -> list[Figure]:
    steps = capacity.QUICK if quick else capacity.FULL
    _progress(
        f"capacity: concurrent streams in local mode, steps of {list(steps.steps)}, {steps.window_s:g} s each"
    )
    return capacity.measure(sink, media.youtube_clip(), steps, _progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter runs: a smoke test in about 3 min")
    parser.add_argument(
        "--only",
        choices=["capacity"],
        help="one part alone: capacity, the concurrent local streams the cores hold (up to 15 min, 2 quick)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, _on_sigterm)
    started, clock = now(), time.monotonic()
    if args.only == "capacity":
        sink = RtmpSink()
        try:
            held = _capacity(sink, quick=args.quick)
        finally:
            sink.close()
        print(table(held))
        alone = BUILD_DIR / f"results-{args.only}.json"  # the whole run's results stay as they were
        write_json(alone, held, quick=args.quick, started=started, wall_s=time.monotonic() - clock)
        _progress(f"written to {alone.relative_to(BUILD_DIR.parent.parent)}")
        return 0
    _progress("preparing the test media (cached in build/bench)")
    files = media.prepare()
    figures: list[Figure] = []
    sink = RtmpSink()
    try:
        _progress(f"memory: {plan.memory_long_s:g} s and {plan.memory_short_s:g} s runs started alongside")
        runs = memory.start(sink, files, long_s=plan.memory_long_s, short_s=plan.memory_short_s)
        try:
            _progress(f"CPU: copy vs live transcode, {plan.cpu_rounds} x {plan.cpu_seconds:g} s")
            figures += copy_vs_transcode.measure(
                sink, files, seconds=plan.cpu_seconds, rounds=plan.cpu_rounds
            )
            _progress(f"CPU share with {cpu_share.DESTINATIONS} destinations, {plan.share_seconds:g} s")
            figures += cpu_share.measure(sink, files, seconds=plan.share_seconds)
            _progress(f"start latency, {plan.latency_rounds} rounds")
            figures += start_latency.measure(sink, files, rounds=plan.latency_rounds)
            _progress(f"start latency in local mode, {plan.local_start_rounds} rounds (uploads 2 GB first)")
            figures += local_start.measure(sink, files, rounds=plan.local_start_rounds)
            _progress("restart gap after kill -9 of the reader")
            figures += restart_gap.measure(sink, files)
            _progress(f"a real stream in local mode: DynamoDB writes and memory, {plan.dynamodb_s:g} s")
            figures += local_stream.measure(sink, files, seconds=plan.dynamodb_s)
            _progress("waiting for the memory runs to end")
            figures += memory.finish(runs)
            # The cores to itself: after the memory runs, before the conform takes one.
            figures += _capacity(sink, quick=args.quick)
            # After the memory runs: the conform is measured on one core of its own.
            _progress("conform: 1080p30 on one core")
            figures += conform.measure(files)
            _progress(f"conform: each kind of test clip, {plan.clip_s:g} s, on one core")
            figures += conform_clips.measure(plan.clip_s, progress=_progress)
            figures += job_memory.measure(plan.job_small_bytes, progress=_progress)
        finally:
            runs.close()
    finally:
        sink.close()
    print(table(figures))
    print()
    print(conform_clips.clip_table(figures))
    write_json(RESULTS, figures, quick=args.quick, started=started, wall_s=time.monotonic() - clock)
    _progress(f"written to {RESULTS.relative_to(BUILD_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
