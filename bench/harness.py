"""What every benchmark stands on: a real nginx-rtmp sink on 127.0.0.1, a TCP proxy in front of it that
timestamps what arrives, a sampler of a process tree's CPU and memory from /proc, and the runs measured
(the engine in its own process, or a bare ffmpeg baseline). Every process started here is stopped when the
benchmark ends, however it ends."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from socketserver import BaseRequestHandler
from typing import IO, Any

from local.task_image import image_env

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build" / "bench"
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
FARGATE_SMALLEST_VCPU = 0.25

_started: list[subprocess.Popen[bytes]] = []
_names = itertools.count(1)


def stream_name(what: str) -> str:
    """A stream name no other run in this benchmark publishes (nginx-rtmp refuses a second publisher)."""
    return f"{what}-{next(_names)}"


def _stop_everything() -> None:
    """The last resort (atexit): whatever is still running gets SIGKILL, its descendants first."""
    for process in reversed(_started):
        if process.poll() is None:
            for pid in descendants(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()


atexit.register(_stop_everything)


def spawn(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(list(argv), **kwargs)
    _started.append(process)
    return process


def stop(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM, grace_s: float = 10.0) -> None:
    """Asks politely, then kills the process and whatever it started that is still alive."""
    if process.poll() is None:
        left = descendants(process.pid)
        process.send_signal(signum)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            for pid in [*descendants(process.pid), *left]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            process.kill()
            process.wait()
    with contextlib.suppress(ValueError):
        _started.remove(process)


# --- /proc ---


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: fields count from the last ')'.
        parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def descendants(root: int) -> list[int]:
    parents = _parents()
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def cpu_of(pid: int) -> tuple[float, float]:
    """Its own utime + stime, and cutime + cstime: the children it has reaped (the engine waits for each
    ffmpeg it started, so a reader that ended still counts, in the engine's process)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = [int(value) / CLOCK_TICKS for value in stat[stat.rindex(")") + 2 :].split()[11:15]]
    return fields[0] + fields[1], fields[2] + fields[3]


def is_pusher(argv: Sequence[str]) -> bool:
    """One of the engine's outputs: the ffmpeg that reads FLV on its standard input."""
    return "-i" in argv[:-1] and argv[argv.index("-i") + 1] == "pipe:0"


def _smaps_rollup(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        values[name] = int(rest.split()[0]) * 1024
    return values


def command_line(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _shared_and_private(pid: int) -> tuple[dict[tuple[str, ...], int], int]:
    """Per mapping, the resident pages some other process maps too (keyed by the file page they hold,
    so that the same library in two processes is one key), and the sum of the pages only `pid` maps."""
    shared: dict[tuple[str, ...], int] = {}
    private = 0
    key: tuple[str, ...] = ()
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if not fields[0].endswith(":"):  # a mapping: address perms offset dev inode [path]
            address, _, offset, device, inode = fields[:5]
            key = (device, inode, offset) if inode != "0" else (str(pid), address)
        elif fields[0] in ("Shared_Clean:", "Shared_Dirty:"):
            shared[key] = shared.get(key, 0) + int(fields[1]) * 1024
        elif fields[0] in ("Private_Clean:", "Private_Dirty:"):
            private += int(fields[1]) * 1024
    return shared, private


@dataclass(frozen=True)
class Sample:
    t: float
    cpu_s: float  # the whole tree, ended children included
    own_cpu_s: float  # the root process alone (the engine's Python)
    pusher_cpu_s: float  # the engine's running outputs
    rss_bytes: int
    pss_bytes: int
    # What the tree would hold alone (what a task's container is charged): each process's private pages,
    # plus each shared page once. PSS would split a library's pages with whatever else runs ffmpeg on the
    # machine (the other benchmarks), so it moves with the neighbours; this does not. 0 when not sampled.
    footprint_bytes: int
    processes: int


def sample_tree(root: int, footprint: bool = False) -> Sample | None:
    """One look at a process and its descendants; None once the root is gone."""
    cpu = own = pushers = 0.0
    rss = pss = private = count = 0
    shared: dict[tuple[str, ...], int] = {}
    for pid in [root, *descendants(root)]:
        try:
            itself, reaped = cpu_of(pid)
            memory = _smaps_rollup(pid)
            if footprint:
                its_shared, its_private = _shared_and_private(pid)
        except (OSError, ValueError, IndexError):
            if pid == root:
                return None
            continue  # a child that ended between two reads
        cpu += itself + reaped
        if pid == root:
            own = itself
        elif is_pusher(command_line(pid)):
            pushers += itself + reaped
        rss += memory.get("Rss", 0)
        pss += memory.get("Pss", 0)
        if footprint:
            private += its_private
            for key, size in its_shared.items():
                shared[key] = max(shared.get(key, 0), size)
        count += 1
    footprint_bytes = private + sum(shared.values()) if footprint else 0
    return Sample(time.monotonic(), cpu, own, pushers, rss, pss, footprint_bytes, count)


class TreeSampler:
    """Samples a process tree every `interval_s` on a thread of its own until the root ends."""

    def __init__(self, root: int, interval_s: float = 1.0, footprint: bool = False) -> None:
        self.samples: list[Sample] = []
        self._root = root
        self._interval_s = interval_s
        self._footprint = footprint
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sampler-{root}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            sample = sample_tree(self._root, self._footprint)
            if sample is None:
                return
            self.samples.append(sample)
            self._done.wait(self._interval_s)

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)


@contextlib.contextmanager
def one_core() -> Iterator[int]:
    """This process on one CPU (the lowest it may use) while the block runs; the processes it starts
    meanwhile inherit that, ffmpeg included (its encoders then run one thread: av_cpu_count reads the
    affinity)."""
    cpus = os.sched_getaffinity(0)
    core = min(cpus)
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, cpus)


def share_pct(cpu_per_s: float) -> float:
    """CPU-seconds per second as a share of the smallest Fargate task's CPU."""
    return 100.0 * cpu_per_s / FARGATE_SMALLEST_VCPU


# --- the sink ---


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process on port {port} exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


class RtmpSink:
    """nginx with the RTMP module: application `live` takes streams, `rec` also records them to FLV."""

    def __init__(self) -> None:
        if shutil.which("nginx") is None or not RTMP_MODULE.is_file():
            raise SystemExit("nginx with the RTMP module is missing: apt-get install nginx libnginx-mod-rtmp")
        self._root = Path(tempfile.mkdtemp(prefix="playout-bench-nginx-"))
        # nginx started as root records as `nobody`: the record dir must be its own, world-writable, under
        # /tmp rather than inside a 0700 directory.
        self.record_dir = Path(tempfile.mkdtemp(prefix="playout-bench-rec-"))
        self.record_dir.chmod(0o777)
        for directory in ("temp", "logs"):
            (self._root / directory).mkdir()
        self.port = free_port()
        config = self._root / "nginx.conf"
        # No access log: nginx-rtmp's names every stream key, in nginx's default one (/var/log/nginx/).
        config.write_text(
            f"""load_module {RTMP_MODULE};
daemon off;
master_process on;
worker_processes 1;
pid {self._root}/nginx.pid;
error_log {self._root}/logs/error.log warn;
events {{ worker_connections 256; }}
rtmp {{
    access_log off;
    server {{
        listen 127.0.0.1:{self.port};
        chunk_size 4096;
        application live {{ live on; }}
        application rec {{
            live on;
            record all;
            record_path {self.record_dir};
            record_unique off;
        }}
    }}
}}
"""
        )
        self._process = spawn(
            ["nginx", "-p", str(self._root), "-c", str(config), "-e", str(self._root / "logs" / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self._process, 15)

    def recording(self, name: str) -> Path:
        return self.record_dir / f"{name}.flv"

    @property
    def pid(self) -> int:
        """nginx's master process (its worker is its child)."""
        return self._process.pid

    def close(self) -> None:
        stop(self._process, signal.SIGQUIT)  # graceful: recordings are closed properly
        shutil.rmtree(self._root, ignore_errors=True)
        shutil.rmtree(self.record_dir, ignore_errors=True)


# --- what arrives at the sink ---

# What an RTMP publisher sends before any media: the handshake (C0+C1, C2: 3073 bytes), then connect,
# releaseStream, FCPublish, createStream, publish and the @setDataFrame metadata, a few hundred bytes in
# all. A publisher that has sent this much more than the handshake is sending media.
RTMP_HANDSHAKE_BYTES = 1 + 1536 + 1536
MEDIA_AFTER_BYTES = RTMP_HANDSHAKE_BYTES + 4096


@dataclass
class Connection:
    opened_at: float
    first_byte_at: float | None = None
    media_at: float | None = None
    bytes_in: int = 0
    arrivals: list[tuple[float, int]] = field(default_factory=list)

    def largest_gap_s(self, start: float, end: float) -> float:
        """The longest wait between two chunks from the publisher between `start` and `end`."""
        times = [t for t, _ in self.arrivals if start <= t <= end]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


class Proxy:
    """A TCP proxy in front of the sink for one measured run: it notes when each publisher's bytes
    arrive, which is what a viewer of the ingest waits for (nginx-rtmp tells no times of its own)."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.connections: list[Connection] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()

    def url(self, app: str, name: str) -> str:
        return f"rtmp://127.0.0.1:{self.port}/{app}/{name}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            connection = Connection(time.monotonic())
            try:
                upstream = socket.create_connection(("127.0.0.1", self._target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections.append(connection)
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, connection), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket, connection: Connection | None) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if connection is not None:
                    now = time.monotonic()
                    if connection.first_byte_at is None:
                        connection.first_byte_at = now
                    connection.bytes_in += len(chunk)
                    if connection.media_at is None and connection.bytes_in >= MEDIA_AFTER_BYTES:
                        connection.media_at = now
                    connection.arrivals.append((now, len(chunk)))
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def first_media_at(self) -> float | None:
        times = [c.media_at for c in self.connections if c.media_at is not None]
        return min(times, default=None)

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()


# --- the runs measured ---


@dataclass(frozen=True)
class Event:
    name: str
    t: float
    values: dict[str, Any]


class Run:
    """A measured process (the engine driver or a bare ffmpeg), its tree sampled from the start; the
    engine driver's JSON events are collected as they come."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        events: bool = False,
        sample_s: float = 1.0,
        footprint: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.spawned_at = time.monotonic()
        self.cpu_s: float | None = None  # known once `wait` has reaped it
        self.events: list[Event] = []
        self._changed = threading.Condition()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open for the run's life, closed by close()
        self.process = spawn(
            argv,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if events else subprocess.DEVNULL,
            stderr=self._stderr,
            env=env,
        )
        self.sampler = TreeSampler(self.process.pid, sample_s, footprint)
        self._reader: threading.Thread | None = None
        if events:
            assert self.process.stdout is not None
            self._reader = threading.Thread(
                target=self._read_events, args=(self.process.stdout,), daemon=True
            )
            self._reader.start()

    def _read_events(self, stdout: IO[bytes]) -> None:
        with stdout:
            for line in stdout:
                with contextlib.suppress(ValueError):
                    document = json.loads(line)
                    event = Event(document.pop("event"), document.pop("t"), document)
                    with self._changed:
                        self.events.append(event)
                        self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, name: str, timeout_s: float, where: Callable[[Event], bool] = lambda _: True) -> Event:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                found = next((e for e in self.events if e.name == name and where(e)), None)
                if found is not None:
                    return found
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reading()):
                    raise RuntimeError(f"no {name!r} event from the run: {self.stderr_tail()}")
                self._changed.wait(min(left, 0.5))

    def _reading(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def event(self, name: str) -> Event | None:
        return next((e for e in self.events if e.name == name), None)

    def all(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def stderr_tail(self, lines: int = 5) -> str:
        if self._stderr.closed:
            return "(closed)"
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:]) or "(no output)"

    def wait(self, timeout_s: float) -> int:
        """Waits for the run's own end (its length limit), or stops it if it overruns. It is reaped with
        wait4, which tells the CPU of its whole life, the children it waited for included."""
        deadline = time.monotonic() + timeout_s
        while True:
            pid, status, usage = os.wait4(self.process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"the run did not end within {timeout_s:.0f} s: {self.stderr_tail()}")
            time.sleep(0.05)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s = usage.ru_utime + usage.ru_stime
        self.close()
        return self.process.returncode

    def close(self) -> None:
        stop(self.process)
        self.sampler.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._stderr.close()


def engine_run(
    files: Sequence[Path | str],
    destinations: Sequence[str],
    *,
    seconds: float | None = None,
    loop: bool = False,
    sample_s: float = 1.0,
    footprint: bool = False,
) -> Run:
    argv = [sys.executable, "-m", "bench.engine_run"]
    for source in files:
        argv += ["--file", str(source)]
    for url in destinations:
        argv += ["--dest", url]
    if seconds is not None:
        argv += ["--seconds", f"{seconds:.3f}"]
    if loop:
        argv.append("--loop")
    # The engine as the container runs it: its ffmpeg build and the image's environment.
    env = {**os.environ, **image_env()}
    return Run(argv, events=True, sample_s=sample_s, footprint=footprint, env=env)


def transcode_argv(clip: Path, destinations: Sequence[str], seconds: float) -> list[str]:
    """A live transcode of a looped clip in real time: what a restreamer without a conform step runs.
    Several destinations share one encode through the tee muxer, which is the cheapest it can be."""
    argv = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error"]
    argv += ["-re", "-stream_loop", "-1", "-i", str(clip), "-t", f"{seconds:.3f}"]
    argv += ["-map", "0:v:0", "-map", "0:a:0"]
    argv += ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"]
    argv += ["-b:v", "6000k", "-maxrate", "6000k", "-bufsize", "12000k", "-g", "60", "-keyint_min", "60"]
    argv += ["-c:a", "aac", "-b:a", "160k", "-ar", "48000", "-ac", "2"]
    if len(destinations) == 1:
        return [*argv, "-f", "flv", destinations[0]]
    slaves = "|".join(f"[f=flv:onfail=ignore]{url}" for url in destinations)
    return [*argv, "-flags", "+global_header", "-f", "tee", slaves]


@contextlib.contextmanager
def closing_all(*things: Proxy | Run) -> Iterator[None]:
    try:
        yield
    finally:
        for thing in things:
            thing.close()


@contextlib.contextmanager
def serving_http(handler: Callable[..., BaseRequestHandler], name: str) -> Iterator[str]:
    """`handler` on a free port of 127.0.0.1, one thread per request, until the block ends; yields the
    base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
