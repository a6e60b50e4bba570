"""The emulator's ingest: nginx with the RTMP module on 127.0.0.1, and RTMPS through a TLS terminator in front
of it (nginx-rtmp speaks no TLS; a TLS-terminating front is also what an RTMPS ingest is).

nginx tells the emulator who publishes (`on_publish`: an unknown stream name is refused; `on_publish_done`)
and what it recorded (`on_record_done`). It records every publishing session whole (the unnamed recorder:
`ingest/<stream name>-<unix time>.flv`), and has ARCHIVE_SLOTS manual recorders that the emulator starts
and stops through nginx-rtmp's control module, one per live broadcast (`archive/`).

nginx runs as a single process (`master_process off`): no switch to another user, so it writes wherever
this process can. Its parent is a thread that lives as long as the ingest, and it asks the kernel to
SIGTERM it when that parent goes (PR_SET_PDEATHSIG), so it never outlives the process that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlencode

from local.hosts import loopback_hosts, misdirected_body

APPLICATION: Final = "live2"  # YouTube's ingest application: rtmp://a.rtmp.youtube.com/live2
RTMP_MODULE: Final = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
HOST: Final = "127.0.0.1"
ARCHIVE_RECORDER: Final = "archive{slot}"
IDLE_PUBLISHER_TIMEOUT_S: Final = 10  # a connected encoder that sends nothing is dropped, as YouTube does
ARCHIVE_START_WINDOW_S: Final = 3.0  # how long a recorder start waits for the publisher nginx announced
_PR_SET_PDEATHSIG: Final = 1


class EventLog(Protocol):
    def event(self, message: str, **fields: object) -> None: ...


@dataclass(frozen=True)
class _ArchiveCommand:
    start: bool
    stream_name: str
    slot: int
    opened: Callable[[Path], None] | None = None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def nginx_config(
    root: Path, *, rtmp_port: int, control_port: int, callback_url: str, archive_slots: int
) -> str:
    recorders = "".join(
        f"""
            recorder {ARCHIVE_RECORDER.format(slot=slot)} {{
                record all manual;
                record_path {root / "archive"};
                record_unique on;
                record_suffix .{ARCHIVE_RECORDER.format(slot=slot)}.flv;
            }}"""
        for slot in range(archive_slots)
    )
    # Only the loopback's names: a page rebound to 127.0.0.1 drives no recorder (local/hosts.py).
    served_hosts = "^(" + "|".join(re.escape(host) for host in sorted(loopback_hosts(control_port))) + ")$"
    # No access log: nginx-rtmp's names every stream key, in nginx's default one (/var/log/nginx/ on Debian).
    return f"""load_module {RTMP_MODULE};
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    server {{
        listen {HOST}:{control_port};
        default_type application/json;
        if ($http_host !~* "{served_hosts}") {{
            return 421 '{misdirected_body(control_port).decode()}';
        }}
        location /control {{ rtmp_control all; }}
    }}
}}
rtmp {{
    access_log off;
    server {{
        listen {HOST}:{rtmp_port};
        chunk_size 4096;
        application {APPLICATION} {{
            live on;
            drop_idle_publisher {IDLE_PUBLISHER_TIMEOUT_S}s;
            record all;
            record_path {root / "ingest"};
            record_unique on;{recorders}
            on_publish {callback_url}/publish;
            on_publish_done {callback_url}/publish_done;
            on_record_done {callback_url}/record_done;
        }}
    }}
}}
"""


class RtmpIngest:
    """Implements `live.ArchiveRecorder`. `start()` runs nginx; `stop()` ends it."""

    def __init__(self, root: Path, callback_url: str, *, archive_slots: int, log: EventLog) -> None:
        self.root = root
        self._callback_url = callback_url  # plain http: nginx-rtmp's notify speaks no TLS
        self._archive_slots = archive_slots
        self._log = log
        self.rtmp_port, self._control_port = free_port(), free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._keeper: threading.Thread | None = None
        self._commands: queue.Queue[_ArchiveCommand | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._session_started: dict[str, float] = {}
        self._archive_started: dict[tuple[str, int], float] = {}

    @property
    def rtmp_url(self) -> str:
        return f"rtmp://{HOST}:{self.rtmp_port}/{APPLICATION}"

    @property
    def control_url(self) -> str:
        """nginx-rtmp's control (`/control/record/start?...`): the archive recorders are driven there."""
        return f"http://{HOST}:{self._control_port}/control"

    def start(self, timeout_s: float = 15.0) -> None:
        if not RTMP_MODULE.is_file():
            raise RuntimeError(f"{RTMP_MODULE} is missing (apt-get install libnginx-mod-rtmp)")
        for directory in ("ingest", "archive"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        config = self.root / "nginx.conf"
        config.write_text(
            nginx_config(
                self.root,
                rtmp_port=self.rtmp_port,
                control_port=self._control_port,
                callback_url=self._callback_url,
                archive_slots=self._archive_slots,
            )
        )
        command = ["nginx", "-p", str(self.root), "-c", str(config), "-e", str(self.root / "error.log")]
        started = threading.Event()
        failure: list[BaseException] = []
        self._keeper = threading.Thread(
            target=self._keep, args=(command, started, failure), name="youtube-emulator-nginx", daemon=True
        )
        self._keeper.start()
        started.wait()
        if failure:
            raise RuntimeError(f"nginx could not be started: {failure[0]}") from failure[0]
        self._wait_for_ports(timeout_s)
        self._worker = threading.Thread(
            target=self._run_commands, name="youtube-emulator-archives", daemon=True
        )
        self._worker.start()

    def _keep(self, command: list[str], started: threading.Event, failure: list[BaseException]) -> None:
        """nginx's parent for as long as it runs: its PDEATHSIG fires when this thread ends."""
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent(os.getpid()),  # only prctl runs in the child
            )
        except OSError as error:
            failure.append(error)
            return
        finally:
            started.set()
        self._process.wait()

    def _wait_for_ports(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for port in (self.rtmp_port, self._control_port):
            while True:
                if self._process is None or self._process.poll() is not None:
                    raise RuntimeError(f"nginx exited at start: see {self.root / 'error.log'}")
                with socket.socket() as probe:
                    if probe.connect_ex((HOST, port)) == 0:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nginx does not listen on {port} after {timeout_s} s")
                time.sleep(0.05)

    def stop(self) -> None:
        if self._worker is not None:
            self._commands.put(None)
            self._worker.join(timeout=10)
            self._worker = None
        process = self._process
        if process is not None and process.poll() is None:
            # SIGQUIT lets nginx close its recordings; it waits for publishers though, hence the next ones.
            for signum, grace_s in ((signal.SIGQUIT, 3.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signum)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=grace_s)
                    break
        if self._keeper is not None:
            self._keeper.join(timeout=10)
            self._keeper = None

    # --- recordings ---

    def before_session(self, stream_name: str) -> None:
        """Holds a publish back until the next second if one for the same name began in this one: a session's
        recording is named by its start second, and a second one would overwrite it."""
        with self._lock:
            now = time.time()
            last = self._session_started.get(stream_name)
            wait_s = math.ceil(now) - now + 0.01 if last is not None and int(last) == int(now) else 0.0
            self._session_started[stream_name] = now + wait_s
        if wait_s:
            time.sleep(wait_s)

    def start_archive(self, stream_name: str, slot: int, opened: Callable[[Path], None]) -> None:
        self._commands.put(_ArchiveCommand(True, stream_name, slot, opened))

    def stop_archive(self, stream_name: str, slot: int) -> None:
        self._commands.put(_ArchiveCommand(False, stream_name, slot))

    def _run_commands(self) -> None:
        while (command := self._commands.get()) is not None:
            try:
                if command.start:
                    self._start_recorder(command)
                else:
                    self._control("record/stop", command.stream_name, command.slot)
            except OSError as error:  # nginx is gone (stopping): nothing left to record
                self._log.event("archive recorder unreachable", error=repr(error))

    def _start_recorder(self, command: _ArchiveCommand) -> None:
        key = (command.stream_name, command.slot)
        last = self._archive_started.get(key)
        now = time.time()
        if last is not None and int(last) == int(now):
            time.sleep(math.ceil(now) - now + 0.01)  # a new file, not the same name again (named by second)
        deadline = time.monotonic() + ARCHIVE_START_WINDOW_S
        while True:
            status, path = self._control("record/start", command.stream_name, command.slot)
            if status == 200:
                if path and command.opened is not None:
                    self._archive_started[key] = time.time()
                    command.opened(Path(path))
                return
            if time.monotonic() > deadline:  # the publisher left before its recording could start
                self._log.event("archive not started", stream_name=command.stream_name, status=status)
                return
            time.sleep(0.1)  # nginx announces a publisher before it registers it

    def _control(self, action: str, stream_name: str, slot: int) -> tuple[int, str]:
        query = urlencode(
            {"app": APPLICATION, "name": stream_name, "rec": ARCHIVE_RECORDER.format(slot=slot)}
        )
        url = f"http://{HOST}:{self._control_port}/control/{action}?{query}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, response.read().decode().strip()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace").strip()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = libc.prctl

    def in_child() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent went before the request took effect
            os._exit(1)

    return in_child


class TlsTerminator:
    """RTMPS: accepts TLS on 127.0.0.1 and relays the plain bytes to the RTMP ingest, both ways."""

    def __init__(self, context: ssl.SSLContext, target_port: int) -> None:
        self._context = context
        self._target_port = target_port
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.5)
        self.port = int(self._listener.getsockname()[1])
        self._closing = threading.Event()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="youtube-emulator-rtmps", daemon=True)
        self.tls_versions: list[str] = []  # each session's, in the order they were accepted

    def start(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(10)
            client = self._context.wrap_socket(raw, server_side=True)
            client.settimeout(None)
            upstream = socket.create_connection((HOST, self._target_port))
        except (ssl.SSLError, OSError):
            raw.close()
            return
        with self._lock:
            self.tls_versions.append(str(client.version()))
            self._connections += [client, upstream]
        pumps = [
            threading.Thread(target=_pump, args=(source, target), daemon=True)
            for source, target in ((client, upstream), (upstream, client))
        ]
        for pump in pumps:
            pump.start()
        for pump in pumps:
            pump.join()
        with self._lock:
            for connection in (client, upstream):
                self._connections.remove(connection)
                connection.close()

    def stop(self) -> None:
        self._closing.set()
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.close()


def _pump(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
