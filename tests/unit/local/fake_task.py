"""A stand-in for `python -m stream_task` (and `stream_task.media_job`): each run takes the next step of a
plan (a JSON list in $PLAN) and appends what it saw to $TRACE. A step: {"exit": CODE, "sleep": S,
"on_sigterm": CODE | "ignore"}."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path


def main() -> int:
    plan_path, trace_path = Path(os.environ["PLAN"]), Path(os.environ["TRACE"])
    plan = json.loads(plan_path.read_text())
    step = plan.pop(0) if len(plan) > 1 else plan[0]  # the last step repeats
    plan_path.write_text(json.dumps(plan))
    names = ("STREAM_ID", "RUN_ID", "MEDIA_ID", "JOB_ID", "USER_ID", "TABLE_NAME")
    seen = {name: os.environ[name] for name in names if name in os.environ}
    with trace_path.open("a") as trace:
        trace.write(json.dumps({"pid": os.getpid(), "env": seen, "step": step}) + "\n")
    on_sigterm = step.get("on_sigterm", 143)
    if on_sigterm == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(int(on_sigterm)))
    time.sleep(float(step.get("sleep", 0)))
    return int(step.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main())
