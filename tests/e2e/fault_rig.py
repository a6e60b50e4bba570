"""What the fault tests break: ingests that can be stopped and started on a fixed port (nginx-rtmp), an ingest
that accepts and never reads, a DynamoDB proxy that answers throttles on demand, and the stream task's
processes found through /proc.

Every server binds 127.0.0.1 only and stops by itself after `lifetime_s`, should a test forget it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import _stop, _wait_for_port, free_port, stream_task_pids, write_rtmp_config

SERVER_LIFETIME_S = 600.0


# --- RTMP ingests ---


class Nginx:
    """An nginx-rtmp ingest on a fixed port, recording each publish session to its own file
    (`<key>-<unix time>.flv`); stop() and start() again on the same port."""

    def __init__(self, root: Path, record_dir: Path, port: int | None = None) -> None:
        self.root = root
        self.record_dir = record_dir
        self.port = port or free_port()
        self.url = f"rtmp://127.0.0.1:{self.port}/live"
        self._process: subprocess.Popen[bytes] | None = None
        self._timer: threading.Timer | None = None
        for directory in (root / "temp", root / "logs", record_dir):
            directory.mkdir(parents=True, exist_ok=True)
        record_dir.chmod(0o777)  # nginx started as root records as `nobody`
        self.config = write_rtmp_config(root, self.port, record_dir, one_file_per_session=True)

    def start(self, lifetime_s: float = SERVER_LIFETIME_S) -> None:
        self._process = subprocess.Popen(
            [
                "nginx",
                "-p",
                str(self.root),
                "-c",
                str(self.config),
                "-e",
                str(self.root / "logs" / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self._process, 15)
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def stop(self, signum: int = signal.SIGQUIT) -> None:
        """SIGQUIT closes the recordings cleanly; SIGTERM is a fast shutdown (connections cut at once)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._process is not None:
            _stop(self._process, signum, timeout_s=10)
            self._process = None

    def recordings(self, stream_key: str) -> list[Path]:
        return sorted(self.record_dir.glob(f"{stream_key}-*.flv"))


class BlackHole:
    """An ingest that accepts TCP connections and never reads from them (nor answers the RTMP handshake),
    with a small receive buffer: a server that hung."""

    def __init__(self, lifetime_s: float = SERVER_LIFETIME_S, receive_buffer: int = 4096) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer
        )  # accepted sockets inherit it
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        self.port = int(self._listener.getsockname()[1])
        self.url = f"rtmp://127.0.0.1:{self.port}/live"
        self.accepted: list[socket.socket] = []
        self._until = time.monotonic() + lifetime_s
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="black-hole", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._closing.is_set() and time.monotonic() < self._until:
                with contextlib.suppress(TimeoutError):
                    connection, _ = self._listener.accept()
                    self.accepted.append(connection)  # held open, never read
        finally:
            for connection in self.accepted:
                connection.close()
            self._listener.close()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)


# --- the stream task's processes ---


def children(pid: int) -> list[tuple[int, list[str]]]:
    """The live child processes of `pid` with their argv (from /proc/<pid>/stat's parent field)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
        if len(fields) > 1 and int(fields[1]) == pid and fields[0] != "Z":
            found.append((int(entry.name), [a.decode(errors="replace") for a in argv if a]))
    return found


def ffmpeg_children(stream_id: str, role: str) -> list[int]:
    """The task's reader ffmpeg (`role="reader"`, it writes FLV to its stdout) or pushers (`"pusher"`, they
    write to an rtmp URL)."""
    pids = []
    for task in stream_task_pids(stream_id):
        for pid, argv in children(task):
            if not argv or not argv[0].endswith("ffmpeg"):
                continue
            is_reader = argv[-1] == "pipe:1"
            is_pusher = argv[-1].startswith(("rtmp://", "rtmps://"))
            if (role == "reader" and is_reader) or (role == "pusher" and is_pusher):
                pids.append(pid)
    return pids


def argv_of(pid: int) -> list[str]:
    try:
        return [
            a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a
        ]
    except OSError:
        return []


def kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


# --- local mode's log ---


def log_records(log_file: Path) -> list[dict[str, Any]]:
    """The JSON lines of local mode's log (its own events and the stream tasks' Powertools records)."""
    records = []
    for line in log_file.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
    return records
