"""One log for local mode: every line goes to stdout and, when LOG_FILE is set, to that file as well.

The API handler (Powertools), the gateway and the stream tasks' output all end up in the same place, so a
test can read one file to prove that no secret was ever logged.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


class Tee(io.TextIOBase):
    """A text stream that writes whole lines to several streams, safe to share between threads."""

    def __init__(self, *targets: TextIO) -> None:
        super().__init__()
        self._targets = targets
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            for target in self._targets:
                if not target.closed:
                    target.write(text)
                    target.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            for target in self._targets:
                if not target.closed:
                    target.flush()

    def isatty(self) -> bool:
        return False


class LogSink:
    """Where local mode writes: `line()` for plain text lines, `event()` for JSON lines."""

    def __init__(self, log_file: str | None) -> None:
        self._file: TextIO | None = None
        targets: list[TextIO] = [sys.__stdout__ if sys.__stdout__ is not None else sys.stdout]
        if log_file:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(log_file, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in close()
            targets.append(self._file)
        self.stream = Tee(*targets)

    def line(self, text: str) -> None:
        self.stream.write(text.rstrip("\n") + "\n")

    def event(self, message: str, **fields: Any) -> None:
        record = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "service": "playout-local",
            "message": message,
            **fields,
        }
        self.line(json.dumps(record, default=str))

    def capture_process_output(self) -> None:
        """Route stdout/stderr and the logging module through the sink (Powertools writes to stdout)."""
        sys.stdout = self.stream
        sys.stderr = self.stream
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        handler = logging.StreamHandler(self.stream)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        # Request lines of the gateway and of moto: the gateway logs its own, shorter ones.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        for noisy in ("botocore", "boto3", "urllib3", "pynamodb"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    def close(self) -> None:
        if sys.stdout is self.stream:
            sys.stdout = sys.__stdout__
        if sys.stderr is self.stream:
            sys.stderr = sys.__stderr__
        if self._file is not None:
            self._file.close()
            self._file = None
