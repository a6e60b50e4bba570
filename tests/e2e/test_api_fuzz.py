"""Schemathesis against local mode, signed in: whatever it sends (bytes that are not UTF-8, not JSON, wrong
types, huge values, odd Unicode, undeclared methods and media types, sequences of calls), every answer is
a documented status with its documented schema, and none is a server error."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import LocalModeProcess, record_figure, sign_up_and_in

SEED = 20261126
# Per operation and phase: with 29 operations about 1,300 cases, about a minute on two busy cores.
MAX_EXAMPLES = 20
RUN_TIMEOUT_S = 600  # a hung run fails here; the figure above is what bounds it


def test_no_fuzzed_request_breaks_the_api(
    local_mode: LocalModeProcess, runtime_config: dict[str, str], figures: dict[str, Any], tmp_path: Path
) -> None:
    # A user of its own: the fuzzer deletes and creates what it finds, and must not touch the session's users.
    fuzzer = sign_up_and_in(local_mode, runtime_config, f"fuzz-{secrets.token_hex(4)}@example.com")
    command = [
        str(Path(sys.executable).with_name("st")),
        "run",
        f"{local_mode.url}/api/openapi.json",
        "--url",
        local_mode.url,
        "--header",
        f"Authorization: Bearer {fuzzer.id_token}",
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--report-dir",
        str(tmp_path),
        "--no-color",
    ]
    started = time.monotonic()
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=tmp_path, check=False
    )
    findings = run.stdout + run.stderr
    assert run.returncode == 0, f"schemathesis found failures:\n{findings}"
    generated = re.search(r"(\d[\d,]*) generated", findings)
    assert generated, findings  # it ran its cases, not stopped at loading the document
    record_figure(figures, "api_fuzz_cases", int(generated[1].replace(",", "")))
    record_figure(figures, "api_fuzz_s", time.monotonic() - started)
