"""Memory of a media job against the size of its file: a 2 GB file against a 100 MB one, each step of the job
in a process of its own, against local mode's DynamoDB and S3 (moto, served from this process: its memory is
not counted).

- the import: playout.importer.import_url fetching the file, as the media job's import step calls it,
  from an HTTP server on 127.0.0.1 that serves it from disk, into local mode's S3 (bench/job_child.py);
- the media job after the import: `stream_task.media_job` itself (the item is `probing`, as the import
  leaves it): the original downloaded to its scratch disk, its facts (ffprobe), the thumbnail, the conform
  (CRF search on samples, then the encode), the conformed copy uploaded, the item `ready`.

Peak memory of a process tree, honestly: resident memory (RSS) by the kernel's high-water marks (VmHWM),
which no short peak escapes: the job's own, read by itself as it ends, plus the largest of its ffmpeg and
ffprobe children's, read from /proc every SAMPLE_S while each runs (a child's last look is what it had
reached by then). The job runs its children one at a time (each is waited for before the next starts), so no
two of them are resident together and that sum bounds the tree's peak from above. The peak of the tree's
RSS summed over its processes at each look bounds it from below and is reported beside it. Not getrusage's
ru_maxrss: subprocess starts a child by vfork, and exec carries the high-water mark of the memory it
replaces (the parent's) into the child's, so a child would report at least its parent's peak. The
processes run on one CPU (BENCH_CPU), their ffmpegs included.

The files: uncompressed 8-bit 4:2:2 video (what capture cards and editors export as "Uncompressed"),
640x360 at 30 fps, with PCM 48 kHz stereo, in QuickTime: 14 MB a second, many bytes for little picture, so
that the 2 GB file is 143 s (4,280 frames to conform) and its job takes about a minute and a half on one
core. The 100 MB file is made from ffmpeg's test pattern; the 2 GB one is it 20 times over by stream copy:
the same content and the same packets per byte, 20 times as many.

`python -m bench.job_memory [--small-mb N]` runs it alone (about 3 min; the files are made once and kept in
build/bench/job/).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any

from bench.harness import BUILD_DIR, REPO_ROOT, descendants, serving_http, spawn, stop
from bench.report import Figure, table
from local.task_image import image_env

MB = 1000**2
SMALL_BYTES = 100 * MB
LARGE_TIMES = 20  # 2 GB
TARGET_RATIO = 1.2
SAMPLE_S = 0.05
WIDTH, HEIGHT, FPS = 640, 360, 30
VIDEO_BYTES_PER_S = WIDTH * HEIGHT * 2 * FPS  # uyvy422: 2 bytes a pixel
AUDIO_BYTES_PER_S = 48000 * 2 * 2  # s16le stereo
IMPORT_TIMEOUT_S = 900.0
JOB_TIMEOUT_S = 1800.0
LOG_TAIL_LINES = 8


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _cached(path: Path, make: Callable[[Path], None]) -> Path:
    if not path.is_file():
        partial = path.with_name(f"{path.stem}.part{path.suffix}")
        make(partial)
        partial.rename(path)
    return path


def prepare(small_bytes: int = SMALL_BYTES, times: int = LARGE_TIMES) -> tuple[Path, Path]:
    """The small file (about `small_bytes`) and the large one (it `times` over), made once."""
    directory = BUILD_DIR / "job"
    directory.mkdir(parents=True, exist_ok=True)
    frames = round(small_bytes / (VIDEO_BYTES_PER_S + AUDIO_BYTES_PER_S) * FPS)
    seconds = frames / FPS
    small_name = f"uncompressed-{WIDTH}x{HEIGHT}-{frames}f.mov"
    small = _cached(
        directory / small_name,
        lambda out: _ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=size={WIDTH}x{HEIGHT}:rate={FPS}",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-frames:v", str(frames), "-t", f"{seconds:.4f}",
            "-c:v", "rawvideo", "-pix_fmt", "uyvy422", "-c:a", "pcm_s16le", "-ac", "2", str(out),
        ),
    )  # fmt: skip
    large = _cached(
        directory / f"uncompressed-{WIDTH}x{HEIGHT}-{frames}f-x{times}.mov",
        lambda out: _ffmpeg("-stream_loop", str(times - 1), "-i", str(small), "-c", "copy", str(out)),
    )
    return small, large


# --- the file server ---


class _FromDisk(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Files of `directory` over HTTP on a free port of 127.0.0.1 (Content-Length, Last-Modified), read
    from disk as a web server does; yields the base URL."""
    with serving_http(functools.partial(_FromDisk, directory=str(directory)), "bench-files") as url:
        yield url


# --- the measured processes ---


def _status(pid: int) -> tuple[str, int, int]:
    """A process's name, resident memory (VmRSS) and high-water mark (VmHWM), in bytes."""
    name, values = "", {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key == "Name":
            name = rest.strip()
        elif key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return name, values.get("VmRSS", 0), values.get("VmHWM", 0)


class TreePeaks:
    """Watches a process tree every `interval_s` on a thread of its own until its root ends: the peak of
    the RSS summed over its processes, and each descendant's own high-water mark (VmHWM, which the kernel
    keeps exact between two looks; the last look before a child ends is what it reached by then)."""

    def __init__(self, root: int, interval_s: float) -> None:
        self.tree_rss_peak = 0
        self.children: dict[int, tuple[str, int]] = {}  # pid -> (name, its high-water mark)
        self._root = root
        self._interval_s = interval_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peaks-{root}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            total = 0
            for pid in [self._root, *descendants(self._root)]:
                try:
                    name, rss, hwm = _status(pid)
                except (OSError, ValueError, IndexError):
                    if pid == self._root:
                        return
                    continue  # a child that ended between two reads
                total += rss
                if pid != self._root and hwm > self.children.get(pid, ("", 0))[1]:
                    self.children[pid] = (name, hwm)
            self.tree_rss_peak = max(self.tree_rss_peak, total)
            self._done.wait(self._interval_s)

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class Peak:
    own_bytes: int  # the measured process's high-water mark (exact: read by itself as it ends)
    child_bytes: int  # the largest high-water mark among its children (ffmpeg, ffprobe), as last seen
    child_name: str
    children_seen: int
    sampled_bytes: int  # the tree's summed RSS, at its sampled peak
    wall_s: float
    outcome: dict[str, Any] = field(default_factory=dict)

    @property
    def tree_bytes(self) -> int:
        """The tree's peak, from above: its children run one at a time."""
        return self.own_bytes + self.child_bytes


def _tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no output)"
    return " | ".join(lines[-LOG_TAIL_LINES:])[-1500:] or "(no output)"


def measured(argv: list[str], env: dict[str, str], workdir: Path, name: str, timeout_s: float) -> Peak:
    """Runs `python -m bench.job_child ...argv` and its peaks; RuntimeError if it does not end well."""
    result_file, log_file = workdir / f"{name}.json", workdir / f"{name}.log"
    env = {**env, "BENCH_RESULT_FILE": str(result_file)}
    with log_file.open("wb") as log:
        process = spawn(
            [sys.executable, "-m", "bench.job_child", *argv],
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sampler = TreePeaks(process.pid, interval_s=SAMPLE_S)
        started = time.monotonic()
        try:
            code = process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{name} did not end within {timeout_s:.0f} s: {_tail(log_file)}") from None
        finally:
            wall_s = time.monotonic() - started
            sampler.close()
            stop(process)
    if code != 0 or not result_file.is_file():
        raise RuntimeError(f"{name} exited with code {code}: {_tail(log_file)}")
    result = json.loads(result_file.read_text())
    if result["exit_code"] != 0:
        raise RuntimeError(f"{name} ended with code {result['exit_code']}: {_tail(log_file)}")
    child_name, child_bytes = max(sampler.children.values(), key=lambda seen: seen[1], default=("", 0))
    return Peak(
        own_bytes=int(result.pop("own_peak_bytes")),
        child_bytes=child_bytes,
        child_name=child_name,
        children_seen=len(sampler.children),
        sampled_bytes=sampler.tree_rss_peak,
        wall_s=wall_s,
        outcome=result,
    )


class _HeldJobs:
    """The launcher while this runs: media jobs are started here, each step in a process measured; there
    are no streams."""

    def start(self, stream_id: str, user_id: str, run_id: str) -> None:
        raise RuntimeError("no stream is started in this benchmark")

    def stop(self, stream_id: str, user_id: str, run_id: str, task_arn: str | None) -> None:
        raise RuntimeError("no stream is started in this benchmark")

    def start_media_job(self, media_id: str, user_id: str, job_id: str) -> None:
        pass


@dataclass(frozen=True)
class JobPeaks:
    size_bytes: int
    duration_s: float
    imported: Peak
    job: Peak


def _duration_s(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip())


def import_and_conform(path: Path, base_url: str, cpu: int, workdir: Path) -> JobPeaks:
    """One file through the media job as a link import: the import step, then the job."""
    from playout import aws
    from playout import media as library
    from playout.media_jobs import MediaJobSteps
    from playout.settings import get_settings

    settings = get_settings()
    user_id = str(uuid.uuid4())
    url = f"{base_url}/{path.name}"
    media = library.create_import(user_id, url, path.name)
    media_id, job_id = str(media.media_id), str(media.job_id)
    scratch = workdir / "scratch"
    scratch.mkdir(exist_ok=True)
    env = {
        **os.environ,  # local mode's: AWS_ENDPOINT_URL, TABLE_NAME, MEDIA_BUCKET, ALLOW_LOOPBACK_IMPORTS, ...
        **image_env(),  # as the task's image runs: MALLOC_ARENA_MAX=1
        "MEDIA_ID": media_id,
        "USER_ID": user_id,
        "JOB_ID": job_id,
        "STORAGE_QUOTA_BYTES": str(settings.storage_quota_bytes),
        "MEDIA_JOB_SCRATCH_DIR": str(scratch),
        "POWERTOOLS_SERVICE_NAME": "media_job",
        "BENCH_CPU": str(cpu),
        # this checkout's code, whichever checkout the virtualenv's own path file names
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "layers"), str(REPO_ROOT / "functions"), str(REPO_ROOT)]
            + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        ),
    }
    stem = path.stem
    imported = measured(
        ["import", url, settings.media_bucket, str(media.object_key), str(settings.storage_quota_bytes)],
        env,
        workdir,
        f"{stem}-import",
        IMPORT_TIMEOUT_S,
    )
    stored = imported.outcome["size_bytes"]
    if stored != path.stat().st_size:
        raise RuntimeError(f"the import stored {stored} bytes of {path.stat().st_size}")
    # What the job records once its import step is done: the item goes probing, as the job leaves it.
    s3 = aws.client("s3", settings.s3_addressing_style)
    steps = MediaJobSteps(s3, settings.media_bucket, settings.storage_quota_bytes)
    steps.record_imported(
        steps.load(user_id, media_id, job_id),
        imported.outcome["size_bytes"],
        imported.outcome["content_type"],
        path.name,
    )
    job = measured(["job"], env, workdir, f"{stem}-job", JOB_TIMEOUT_S)
    final = library.get_media(user_id, media_id, consistent=True)
    if final.status != library.READY:
        raise RuntimeError(f"the media job left {path.name} {final.status}: {final.error}")
    return JobPeaks(path.stat().st_size, _duration_s(path), imported, job)


def _mb(value: int) -> float:
    return round(value / MB, 1)


def _sizes(peaks: JobPeaks) -> dict[str, Any]:
    return {"file_bytes": peaks.size_bytes, "file_s": round(peaks.duration_s, 2)}


def figures(small: JobPeaks, large: JobPeaks, small_label: str, large_label: str) -> list[Figure]:
    files = {small_label: _sizes(small), large_label: _sizes(large)}
    made = (
        f"uncompressed uyvy422 {WIDTH}x{HEIGHT} {FPS} fps + PCM s16le 48 kHz stereo in .mov (testsrc2); "
        f"the larger is the smaller {LARGE_TIMES} times over by stream copy"
    )
    result = []
    for what, small_peak, large_peak, measure, target_note in (
        (
            "import",
            small.imported,
            large.imported,
            "Import peak memory (importer process, from a link to local S3)",
            "its own high-water mark (it starts no process)",
        ),
        (
            "job",
            small.job,
            large.job,
            "Media job peak memory (download, facts, thumbnail, conform, upload)",
            "own + largest child's high-water mark (its children run one at a time)",
        ),
    ):
        ratio = large_peak.tree_bytes / small_peak.tree_bytes
        sampled_ratio = large_peak.sampled_bytes / small_peak.sampled_bytes if small_peak.sampled_bytes else 0
        details: dict[str, Any] = {
            "step": what,
            "peak": target_note,
            "files": files,
            "made": made,
            "sample_s": SAMPLE_S,
        }
        for label, peak in ((small_label, small_peak), (large_label, large_peak)):
            details[label] = {
                "peak_mb": _mb(peak.tree_bytes),
                "own_peak_mb": _mb(peak.own_bytes),
                "largest_child_peak_mb": _mb(peak.child_bytes),
                "largest_child": peak.child_name,
                "children_seen": peak.children_seen,
                "sampled_tree_rss_peak_mb": _mb(peak.sampled_bytes),
                "wall_s": round(peak.wall_s, 1),
            }
        details["sampled_ratio"] = round(sampled_ratio, 3)
        result.append(
            Figure(
                measure=measure,
                ours=large_peak.tree_bytes / MB,
                baseline=small_peak.tree_bytes / MB,
                unit="MB",
                ratio=ratio,
                ratio_of=f"{large_label}/{small_label}",
                target=f"ratio <= {TARGET_RATIO}",
                met=ratio <= TARGET_RATIO,
                ours_label=large_label,
                baseline_label=small_label,
                details=details,
            )
        )
    return result


def _label(size_bytes: int) -> str:
    return f"{size_bytes / 1000**3:g} GB" if size_bytes >= 1000**3 else f"{size_bytes / MB:g} MB"


def measure(small_bytes: int = SMALL_BYTES, progress: Callable[[str], None] | None = None) -> list[Figure]:
    from local.runtime import LocalMode
    from playout import launcher

    say = progress or (lambda _text: None)
    small_path, large_path = prepare(small_bytes)
    assert small_path.parent == large_path.parent
    small_label, large_label = _label(small_bytes), _label(small_bytes * LARGE_TIMES)
    cpu = max(os.sched_getaffinity(0))  # local mode's moto and the file server stay free to use the others
    workdir = Path(tempfile.mkdtemp(prefix="bench-job-", dir=BUILD_DIR))
    # The job's ffmpeg and ffprobe run as a uid of their own (stream_task.launch): they must pass through
    # this directory (mkdtemp makes it 0700) to the work directory the job shares with them in scratch/.
    workdir.chmod(0o755)
    mode = LocalMode(port=0, build_web=False)
    previous = launcher.get_launcher()
    try:
        mode.start()
        launcher.set_launcher(_HeldJobs())
        with serve_directory(small_path.parent) as base_url:
            results = {}
            for label, path in ((small_label, small_path), (large_label, large_path)):
                say(f"media job memory: import and conform of the {label} file")
                results[label] = import_and_conform(path, base_url, cpu, workdir)
    finally:
        mode.stop()
        launcher.set_launcher(previous)
        shutil.rmtree(workdir, ignore_errors=True)
    return figures(results[small_label], results[large_label], small_label, large_label)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.job_memory", description=__doc__)
    parser.add_argument("--small-mb", type=float, default=SMALL_BYTES / MB, help="the smaller file's size")
    args = parser.parse_args()
    found = measure(round(args.small_mb * MB), progress=lambda text: print(text, file=sys.stderr, flush=True))
    print(table(found))
    for item in found:
        print(json.dumps(item.details, indent=1))
