"""An output whose pusher takes no data (an ingest that accepted TCP and hung, or one frozen mid-stream) must
not hold the task when the stream stops: found by tests/e2e/test_faults.py, where a stop left the stream
`stopping` for good."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from stream_task.flv import Tag, TagKind
from stream_task.outputs import Output, OutputState

KEYFRAME = bytes([0x17, 0x01, 0, 0, 0]) + b"\0" * 16_000  # AVC keyframe NALU, 16 kB


def _hung_ffmpeg(tmp_path: Path) -> Path:
    """An "ffmpeg" that never reads its stdin, as one blocked in the RTMP handshake of a dead server."""
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\nexec sleep 60\n")
    fake.chmod(0o755)
    return fake


def _fill(output: Output, tags: int) -> None:
    for index in range(tags):
        output.send(Tag(TagKind.VIDEO, index * 33, KEYFRAME))


def _pusher_pid(output: Output) -> int:
    child = output._child
    assert child is not None
    return child.pid


def test_close_does_not_wait_for_a_pusher_that_takes_no_data(tmp_path: Path) -> None:
    output = Output("dst_1", "rtmp://127.0.0.1:9/live/k", ffmpeg=str(_hung_ffmpeg(tmp_path)), redact=str)
    _fill(output, 40)  # 640 kB: far more than a pipe holds, and within the 8 s the queue may hold
    time.sleep(1.0)  # the output's thread is now blocked writing to the pipe
    pid = _pusher_pid(output)

    closing = threading.Thread(target=output.close, kwargs={"grace_s": 0.5}, daemon=True)
    started = time.monotonic()
    closing.start()
    closing.join(timeout=15)

    assert not closing.is_alive(), "close() must return while the pusher takes no data"
    assert time.monotonic() - started < 5
    assert output.state is OutputState.STOPPED
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid), "the hung pusher is killed"


def test_close_lets_a_pusher_that_reads_finish_by_itself(tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg"
    marker = tmp_path / "eof"
    # Reads to the end of its input, then exits 0 (SIGINT ignored: only the end of input ends it).
    fake.write_text(f"#!/bin/sh\ntrap '' INT\ncat > /dev/null\ntouch {marker}\n")
    fake.chmod(0o755)
    output = Output("dst_1", "rtmp://127.0.0.1:9/live/k", ffmpeg=str(fake), redact=str)
    _fill(output, 5)
    time.sleep(0.5)

    output.close(grace_s=5)

    assert marker.exists(), "the pusher saw the end of its input (ffmpeg then closes the session cleanly)"
    assert output.state is OutputState.STOPPED


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
