"""How long the picture stopped at an ingest: a watch on the FLV files nginx-rtmp records for one stream key.

nginx-rtmp writes every frame to its recording as it arrives (one write per frame, unbuffered), so tailing
the file tells when each video packet reached the ingest. Two measures of a hole on air:

- the wall gap: the longest time between two consecutive video packets reaching the ingest, across every
  session of the key (with `record_unique on` a reconnect opens a new file), which is what a viewer's
  player waits through;
- the DTS gap: the longest step between consecutive video timestamps inside one file, which is a jump in
  the picture's timeline (frames that never came).

The FLV reading is written here, apart from `stream_task.flv`, so that the code under test does not judge
itself. Arrival times are as precise as the polling (every POLL_S).
"""

from __future__ import annotations

import itertools
import re
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

POLL_S = 0.02
_FLV_HEADER = 9 + 4  # the file header and PreviousTagSize0
_TAG_HEADER = 11
_VIDEO = 9
_AVC = 7
_AVC_NALU = 1


@dataclass(frozen=True)
class VideoPacket:
    arrived_s: float  # time.monotonic() when the packet was first seen in the file
    dts_ms: int
    keyframe: bool
    file: str


@dataclass(frozen=True)
class Gap:
    seconds: float
    after_s: float | None = None  # monotonic time of the packet before the hole (None: no packets)
    into_s: float | None = None  # how long after the first packet the hole began

    def __str__(self) -> str:
        where = f" from {self.into_s:.1f} s after the first picture" if self.into_s is not None else ""
        return f"{self.seconds:.3f} s{where}"


@dataclass
class _Tail:
    offset: int = 0
    size: int = 0


class RecordingWatch:
    """Tails `<record_dir>/<stream_key>.flv` and `<stream_key>-<unix time>.flv` (record_unique) while in its
    `with` block; one thread polls every watch (fewer threads competing with the watched streams for CPU).
    `also`: more stream keys watched as one stream (a push moved from one ingest to another); `pattern`: the
    file names to watch instead (keys not known in advance)."""

    def __init__(
        self,
        record_dir: Path,
        stream_key: str,
        also: tuple[str, ...] = (),
        pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.record_dir = record_dir
        self.stream_key = stream_key
        keys = "|".join(re.escape(key) for key in (stream_key, *also))
        self._name = pattern or re.compile(rf"^(?:{keys})(-\d+)?\.flv$")
        self._tails: dict[Path, _Tail] = {}
        self._packets: list[VideoPacket] = []
        self._lock = threading.Lock()
        self._polling = threading.Lock()  # the poller's thread, and stop() for the last bytes

    def __enter__(self) -> RecordingWatch:
        _POLLER.add(self)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        _POLLER.remove(self)
        self._poll()  # whatever arrived last

    # --- what it saw ---

    def packets(self, since: float | None = None, until: float | None = None) -> list[VideoPacket]:
        with self._lock:
            packets = list(self._packets)
        return [
            p
            for p in packets
            if (since is None or p.arrived_s >= since) and (until is None or p.arrived_s <= until)
        ]

    def files(self) -> list[Path]:
        with self._lock:
            return sorted(self._tails, key=lambda path: path.stat().st_mtime if path.exists() else 0)

    def file_sizes(self) -> dict[str, int]:
        with self._lock:
            return {path.name: tail.size for path, tail in self._tails.items()}

    def last_arrival(self) -> float | None:
        with self._lock:
            return self._packets[-1].arrived_s if self._packets else None

    def seconds_of_video(self, since: float | None = None) -> float:
        """Seconds of picture (by timestamps) that arrived since `since`, summed over the files."""
        spans: dict[str, tuple[int, int]] = {}
        for packet in self.packets(since=since):
            low, high = spans.get(packet.file, (packet.dts_ms, packet.dts_ms))
            spans[packet.file] = (min(low, packet.dts_ms), max(high, packet.dts_ms))
        return sum(high - low for low, high in spans.values()) / 1000.0

    def wall_gap(self, since: float | None = None, until: float | None = None) -> Gap:
        """The longest wait between consecutive video packets reaching the ingest within [since, until]; the
        wait from `since` to the first packet counts too when `since` is given."""
        packets = self.packets(until=until)
        times = [p.arrived_s for p in packets]
        if since is not None:
            before = [t for t in times if t < since]
            times = ([before[-1]] if before else [since]) + [t for t in times if t >= since]
        if len(times) < 2:
            return Gap(float("inf") if since is not None else 0.0, None)
        steps = [(b - a, a) for a, b in itertools.pairwise(times)]
        seconds, after = max(steps)
        return Gap(seconds, after, after - times[0])

    def dts_gap(self) -> Gap:
        """The longest step between consecutive video timestamps inside any one file."""
        worst = Gap(0.0, None)
        by_file: dict[str, list[VideoPacket]] = {}
        for packet in self.packets():
            by_file.setdefault(packet.file, []).append(packet)
        for packets in by_file.values():
            for a, b in itertools.pairwise(packets):
                step = (b.dts_ms - a.dts_ms) / 1000.0
                if step > worst.seconds:
                    worst = Gap(step, a.arrived_s)
        return worst

    def wait_for_video(self, seconds: float, timeout_s: float, since: float | None = None) -> bool:
        """Waits until `seconds` of picture arrived (since `since`); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.seconds_of_video(since) >= seconds:
                return True
            time.sleep(0.1)
        return self.seconds_of_video(since) >= seconds

    # --- the tailing ---

    def _poll(self) -> None:
        with self._polling:
            self._poll_files()

    def _poll_files(self) -> None:
        try:
            entries = [path for path in self.record_dir.iterdir() if self._name.match(path.name)]
        except OSError:
            return
        now = time.monotonic()
        for path in entries:
            with self._lock:
                tail = self._tails.setdefault(path, _Tail())
            try:
                with path.open("rb") as file:
                    size = file.seek(0, 2)
                    if size < tail.offset:  # truncated by a new session (record_unique off)
                        tail.offset = 0
                    start = max(tail.offset, _FLV_HEADER)
                    file.seek(start)
                    data = file.read()
            except OSError:
                continue
            consumed, packets = _video_packets(data, now, path.name)
            with self._lock:
                tail.size = size
                if size >= _FLV_HEADER:
                    tail.offset = start + consumed
                self._packets.extend(packets)


def _video_packets(data: bytes, now: float, name: str) -> tuple[int, list[VideoPacket]]:
    """The complete tags at the start of `data`: how many bytes they take, and their video packets."""
    packets = []
    position = 0
    while position + _TAG_HEADER <= len(data):
        kind = data[position] & 0x1F
        size = int.from_bytes(data[position + 1 : position + 4], "big")
        low, high = struct.unpack_from(">3sB", data, position + 4)
        end = position + _TAG_HEADER + size + 4
        if end > len(data):
            break
        if kind == _VIDEO and size >= 2:
            body = data[position + _TAG_HEADER]
            packet_type = data[position + _TAG_HEADER + 1]
            if body & 0x0F != _AVC or packet_type == _AVC_NALU:  # not a sequence header or end of sequence
                dts = (high << 24) | int.from_bytes(low, "big")
                packets.append(VideoPacket(now, dts, body >> 4 == 1, name))
        position = end
    return position, packets


class _Poller:
    """The one thread that tails every open watch, started with the first."""

    def __init__(self) -> None:
        self._watches: list[RecordingWatch] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, watch: RecordingWatch) -> None:
        with self._lock:
            self._watches.append(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="recording-watch", daemon=True)
                self._thread.start()

    def remove(self, watch: RecordingWatch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    def _run(self) -> None:
        while True:
            with self._lock:
                watches = list(self._watches)
                if not watches:
                    self._thread = None
                    return
            for watch in watches:
                watch._poll()
            time.sleep(POLL_S)


_POLLER = _Poller()
