"""Finding the processes the local launcher started, by the environment contract it starts them with (what
an ECS task's ids are in AWS): for the tests and benchmarks that watch, measure or kill them."""

from __future__ import annotations

from pathlib import Path


def launched_pids(module: str, variable: str, value: str) -> list[int]:
    """Processes whose command line names `module` (e.g. stream_task) and whose environment has
    `variable=value` (e.g. STREAM_ID=<id>). Linux only (/proc)."""
    wanted, setting = module.encode(), f"{variable}={value}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if wanted in cmdline and setting in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids
