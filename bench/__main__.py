"""`python -m bench [--quick] [--only PART,...]`: every benchmark, each figure a ratio against a baseline
measured side by side in the same run (the machine's noise hits both alike). Prints one table and writes
bench/report.json (a run of some parts keeps the other parts' figures there, from the run that made them).

The parts: `api` (DynamoDB calls per API route), `import` (the API Lambda's cold import), `sizes` (the
layer and function packages), `load` (API latency in local mode under 20 concurrent clients, 60 s; 15 s
with --quick), `capacity` (how many concurrent local-mode streams the cores hold: up to 15 min, 2 with
--quick), then `streaming` (everything below). Each part has the machine to itself: they run one after the
other, in that order.

The memory runs (15 min and 1 min, or 2 and 0.5 with --quick) start first and go on while the others run,
but for the start latencies: those follow them with the machine to themselves (about 3 min), as their
figures are tenths of a second apart. Then the conform figures (the 1080p30 clip, then each kind of test
clip) and the media job's memory (a 2 GB file against a 100 MB one), on one core of their own, about 6 min
more (3 with --quick)."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from dataclasses import dataclass, replace
from types import FrameType

from bench import (
    api_calls,
    api_load,
    capacity,
    cold_import,
    conform,
    conform_clips,
    copy_vs_transcode,
    cpu_share,
    job_memory,
    local_start,
    local_stream,
    media,
    memory,
    package_sizes,
    restart_gap,
    start_latency,
)
from bench.harness import REPO_ROOT, RtmpSink
from bench.report import Figure, now, table, write_json

REPORT = REPO_ROOT / "bench" / "report.json"
PARTS = ("api", "import", "sizes", "load", "capacity", "streaming")


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
    import_rounds: int
    load_s: float


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
    import_rounds=15,
    load_s=60,
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
    import_rounds=5,
    load_s=15,
)


def _progress(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every finally: each process started gets stopped


def _parts(text: str) -> list[str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise argparse.ArgumentTypeError(f"parts are {', '.join(PARTS)}; not {', '.join(unknown) or text!r}")
    return [part for part in PARTS if part in parts]


def _api_parts(parts: list[str], plan: Plan) -> list[Figure]:
    figures: list[Figure] = []
    if "api" in parts:
        _progress("DynamoDB calls per API route, against moto")
        figures += _of("api", api_calls.measure())
    if "import" in parts:
        _progress(f"cold import: the API handler against a bare Powertools one, {plan.import_rounds} rounds")
        figures += _of("import", cold_import.measure(rounds=plan.import_rounds))
    if "sizes" in parts:
        _progress("package sizes: the layer and the function assets, zipped")
        figures += _of("sizes", package_sizes.measure())
    if "load" in parts:
        _progress(f"API latency in local mode: {api_load.CLIENTS} clients for {plan.load_s:g} s")
        figures += _of("load", api_load.measure(seconds=plan.load_s))
    return figures


def _capacity(*, quick: bool) -> list[Figure]:
    steps = capacity.QUICK if quick else capacity.FULL
    _progress(
        f"capacity: concurrent streams in local mode, steps of {list(steps.steps)}, {steps.window_s:g} s each"
    )
    sink = RtmpSink()
    try:
        return capacity.measure(sink, media.youtube_clip(), steps, _progress)
    finally:
        sink.close()


def _of(part: str, figures: list[Figure]) -> list[Figure]:
    return [replace(figure, part=part) for figure in figures]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs: a smoke test in about 3 min")
    parser.add_argument(
        "--only", type=_parts, default=list(PARTS), help=f"comma-separated parts: {','.join(PARTS)}"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, _on_sigterm)
    started, clock = now(), time.monotonic()
    figures = _api_parts(args.only, plan)
    if "capacity" in args.only:  # the cores to itself, before the streaming part's runs
        figures += _of("capacity", _capacity(quick=args.quick))
    if "streaming" in args.only:
        figures += _of("streaming", _streaming(plan))
    print(table(figures))
    write_json(
        REPORT, figures, parts=args.only, quick=args.quick, started=started, wall_s=time.monotonic() - clock
    )
    _progress(f"written to {REPORT.relative_to(REPO_ROOT)}")
    return 0


def _streaming(plan: Plan) -> list[Figure]:
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
            _progress("restart gap after kill -9 of the reader")
            figures += restart_gap.measure(sink, files)
            _progress(f"a real stream in local mode: DynamoDB writes and memory, {plan.dynamodb_s:g} s")
            figures += local_stream.measure(sink, files, seconds=plan.dynamodb_s)
            _progress("waiting for the memory runs to end")
            figures += memory.finish(runs)
            # The start latencies, tenths of a second apart, measured with nothing else on the machine.
            _progress(f"start latency, {plan.latency_rounds} rounds")
            figures += start_latency.measure(sink, files, rounds=plan.latency_rounds)
            _progress(f"start latency in local mode, {plan.local_start_rounds} rounds (uploads 2 GB first)")
            figures += local_start.measure(sink, files, rounds=plan.local_start_rounds)
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
    return figures


if __name__ == "__main__":
    sys.exit(main())
