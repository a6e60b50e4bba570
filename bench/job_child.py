"""One process measured by bench.job_memory, configured as the media job is (by the environment):

- `python -m bench.job_child import URL BUCKET KEY BYTE_LIMIT`: the media job's import step, i.e.
  playout.importer.import_url with the arguments stream_task.media_job passes it;
- `python -m bench.job_child job`: the media job itself (stream_task.media_job.main).

Either way it ends by writing JSON to BENCH_RESULT_FILE: the kernel's high-water mark of its resident memory,
its exit code, and what the import stored. BENCH_CPU, when set, pins it (and the ffmpegs it starts) to that
CPU first."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any


def own_peak_bytes() -> int:
    """This process's high-water mark of resident memory since its exec (VmHWM). Not getrusage's ru_maxrss:
    exec carries the high-water mark of the memory it replaced into it, and subprocess starts a child by
    vfork, whose memory before exec is its parent's (here, the benchmark's, with moto in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _import(url: str, bucket: str, key: str, byte_limit: int) -> dict[str, Any]:
    from playout import aws, importer
    from playout.resources import IMMUTABLE_CACHE_CONTROL

    s3 = aws.client("s3", os.environ.get("S3_ADDRESSING_STYLE", "auto"))
    imported = importer.import_url(
        url,
        s3=s3,
        bucket=bucket,
        key=key,
        byte_limit=byte_limit,
        allow_loopback=True,
        on_progress=lambda _received, _total: None,  # the job writes a progress item every few seconds
        object_args={"CacheControl": IMMUTABLE_CACHE_CONTROL},
    )
    return {
        "size_bytes": imported.size_bytes,
        "content_type": imported.content_type,
        "final_url": imported.final_url,
    }


def main(argv: list[str]) -> int:
    if os.environ.get("BENCH_CPU"):
        os.sched_setaffinity(0, {int(os.environ["BENCH_CPU"])})
    result_file = Path(os.environ["BENCH_RESULT_FILE"])
    outcome: dict[str, Any] = {}
    if argv[:1] == ["import"] and len(argv) == 5:
        outcome = _import(argv[1], argv[2], argv[3], int(argv[4]))
        code = 0
    elif argv == ["job"]:
        from stream_task import media_job

        code = media_job.main()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    result_file.write_text(json.dumps({"exit_code": code, **outcome, "own_peak_bytes": own_peak_bytes()}))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
