"""`python -m local`: the whole system at http://127.0.0.1:8080 (PORT overrides; LOG_FILE adds a log file)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

# The import roots of Lambda and the container (the dev venv's .pth has them too; a bare checkout may not).
_REPO = Path(__file__).resolve().parent.parent
for _root in (_REPO / "layers", _REPO / "functions", _REPO):
    if str(_root) not in sys.path:
        sys.path.append(str(_root))

from local.runtime import (  # noqa: E402
    DEFAULT_PORT,
    LocalMode,
    loopback_imports_allowed,
    youtube_archive_limit_s,
    youtube_emulator_wanted,
)


def main() -> int:
    youtube_emulator_wanted(os.environ)  # a word that is no flag stops local mode here, before anything runs
    youtube_archive_limit_s(os.environ)  # as does a limit that is no number
    mode = LocalMode(
        port=int(os.environ.get("PORT", DEFAULT_PORT)),
        log_file=os.environ.get("LOG_FILE") or None,
        allow_loopback_imports=loopback_imports_allowed(os.environ),
    )
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        url = mode.start()
        print(f"Playout local mode: {url}  (Ctrl-C stops it)", flush=True)
        while not stop.wait(1.0):
            pass
    finally:
        mode.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
