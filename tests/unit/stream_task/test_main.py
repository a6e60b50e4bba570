"""`python -m stream_task` refuses to run without its environment, and says so in a JSON log line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_a_missing_environment_exits_2_with_a_json_error() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"STREAM_ID", "USER_ID", "RUN_ID", "TABLE_NAME"}}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "layers"), str(ROOT)])
    result = subprocess.run(
        [sys.executable, "-m", "stream_task"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["message"] == "invalid environment"
    assert {tuple(e["loc"]) for e in line["errors"]} >= {
        ("stream_id",),
        ("user_id",),
        ("run_id",),
        ("table_name",),
    }
