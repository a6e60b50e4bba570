"""An output's end, driven by a fake ffmpeg: one that writes its input to the file named by the stream key it
reads from its preset pipe (`-fpre`, where the real one reads the ingest's application and key), or one
that never reads (an ingest that accepted TCP and hung, or froze mid-stream: found by
tests/e2e/test_faults.py, where a stop left the stream `stopping` for good)."""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stream_task.flv import Tag, TagKind, read_tags
from stream_task.outputs import Output, OutputState

AVC_HEADER = Tag(TagKind.VIDEO, 0, bytes([0x17, 0x00, 0, 0, 0]) + b"avcC")


def frame(index: int, size: int = 16) -> Tag:
    kind = 0x17 if index % 60 == 0 else 0x27
    return Tag(TagKind.VIDEO, round(index * 1000 / 30), bytes([kind, 1, 0, 0, 0]) + b"v" * size)


def fake_ffmpeg(tmp_path: Path, body: str) -> str:
    """`$last`: the file in tmp_path named by the key (rtmp_playpath) in the preset ffmpeg is given."""
    key = 'while [ "$1" != -fpre ]; do shift; done\n'
    key += f'last={tmp_path}/$(sed -n "s/^rtmp_playpath=//p" "$2")\n'
    script = tmp_path / "ffmpeg"
    script.write_text(f"#!/bin/sh\n{key}{body}\n")
    script.chmod(0o755)
    return str(script)


def ingest(received: Path) -> str:
    return f"rtmp://127.0.0.1/live/{received.name}"


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_close_sends_the_last_tags_before_ending_the_input(tmp_path: Path) -> None:
    """The engine hands over the stream's last tags and closes at once: none of them may be lost."""
    ffmpeg = fake_ffmpeg(tmp_path, 'exec cat > "$last"')
    received = tmp_path / "ingest"
    output = Output("d1", ingest(received), ffmpeg=ffmpeg, redact=str)
    wait_until(lambda: output.connects == 1)
    output.send(AVC_HEADER)
    for index in range(90):
        output.send(frame(index))
    output.close(grace_s=2.0)

    tags = [tag for tag in read_tags(io.BytesIO(received.read_bytes())) if tag.is_media]
    assert [tag.timestamp_ms for tag in tags] == [frame(i).timestamp_ms for i in range(90)]
    assert output.state is OutputState.STOPPED


@pytest.mark.parametrize("grace_s", [0.0, 0.3])
def test_close_stops_a_pusher_whose_ingest_stalled(tmp_path: Path, grace_s: float) -> None:
    ffmpeg = fake_ffmpeg(tmp_path, "exec sleep 30")  # never reads: the pipe fills and writes block
    output = Output("d1", "rtmp://127.0.0.1/live/x", ffmpeg=ffmpeg, redact=str)
    wait_until(lambda: output.connects == 1)
    output.send(AVC_HEADER)
    for index in range(120):
        output.send(frame(index, size=4096))  # ~500 kB, far more than a pipe holds
    time.sleep(0.2)

    started = time.monotonic()
    output.close(grace_s=grace_s)
    assert time.monotonic() - started < grace_s + 3.0
    wait_until(lambda: output.state is OutputState.STOPPED)
    assert output.state is OutputState.STOPPED


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


def test_a_reconnect_starts_again_from_the_last_keyframe_the_ingest_got(tmp_path: Path) -> None:
    """A dropped connection costs the ingest no wait for the next keyframe: the new session opens with the
    picture the old one was in (frames 60.. here), at once."""
    # On air: it reports bytes sent, as ffmpeg's -progress does, then passes its input on.
    ffmpeg = fake_ffmpeg(tmp_path, 'printf "total_size=1\\nprogress=continue\\n"\nexec cat > "$last"')
    received = tmp_path / "ingest"
    output = Output("d1", ingest(received), ffmpeg=ffmpeg, redact=str)
    wait_until(lambda: output.connects == 1)
    output.send(AVC_HEADER)
    for index in range(75):  # keyframes at 0 and 60
        output.send(frame(index))
    wait_until(lambda: received.exists() and received.stat().st_size > 75 * 16)
    wait_until(lambda: output.state is OutputState.LIVE)
    dropped = output._child
    assert dropped is not None
    dropped.kill()  # the connection drops
    wait_until(lambda: output.connects == 2)
    for index in range(75, 90):
        output.send(frame(index))
    output.close(grace_s=2.0)

    tags = [tag for tag in read_tags(io.BytesIO(received.read_bytes())) if tag.is_media]
    assert tags[0].body == frame(60).body  # the last keyframe sent, again
    assert [tag.timestamp_ms for tag in tags] == [
        frame(i).timestamp_ms - frame(60).timestamp_ms for i in range(60, 90)
    ]
    assert output.connects == 2


def test_a_session_that_never_got_through_leaves_no_replay(tmp_path: Path) -> None:
    """A refused connection may swallow tags into its pipe before it dies: replaying its GOP would jump
    over them, so the next session starts at the next keyframe, from 0, with no jump inside it."""
    ffmpeg = fake_ffmpeg(tmp_path, 'exec cat > "$last"')  # never reports progress
    received = tmp_path / "ingest"
    output = Output("d1", ingest(received), ffmpeg=ffmpeg, redact=str)
    wait_until(lambda: output.connects == 1)
    output.send(AVC_HEADER)
    for index in range(75):
        output.send(frame(index))
    wait_until(lambda: received.exists() and received.stat().st_size > 75 * 16)
    refused = output._child
    assert refused is not None
    refused.kill()
    wait_until(lambda: output.connects == 2)
    for index in range(75, 150):
        output.send(frame(index))
    output.close(grace_s=2.0)

    tags = [tag for tag in read_tags(io.BytesIO(received.read_bytes())) if tag.is_media]
    assert tags[0].body == frame(120).body  # the next keyframe, not a replay
    steps = {b.timestamp_ms - a.timestamp_ms for a, b in itertools.pairwise(tags)}
    assert max(steps) <= 34


def test_a_handover_cuts_between_two_tags_the_old_ingest_gets_all_before_and_the_new_all_after(
    tmp_path: Path,
) -> None:
    """A YouTube broadcast's rotation: just before an item's first keyframe (frame 120 here) the engine moves
    the output to the channel's other ingest. The old session sends everything sent before and its input
    ends (ffmpeg closes the connection cleanly); the new one opens with that keyframe, its timestamps from 0.
    Nothing is lost, nothing is sent twice, and each part ends or begins exactly at the cut."""
    ffmpeg = fake_ffmpeg(tmp_path, 'printf "total_size=1\\nprogress=continue\\n"\nexec cat >> "$last"')
    first, second = tmp_path / "ingest-a", tmp_path / "ingest-b"
    output = Output("d1", ingest(first), ffmpeg=ffmpeg, redact=str)
    wait_until(lambda: output.connects == 1)
    output.send(AVC_HEADER)
    for index in range(120):  # keyframes at 0 and 60
        output.send(frame(index))
    wait_until(lambda: output.state is OutputState.LIVE)

    output.handover(ingest(second))
    for index in range(120, 150):
        output.send(frame(index))
    wait_until(lambda: output.connects == 2)
    output.close(grace_s=2.0)

    before = [tag for tag in read_tags(io.BytesIO(first.read_bytes())) if tag.is_media]
    after = [tag for tag in read_tags(io.BytesIO(second.read_bytes())) if tag.is_media]
    assert [tag.timestamp_ms for tag in before] == [frame(i).timestamp_ms for i in range(120)]
    assert [tag.body for tag in after] == [frame(i).body for i in range(120, 150)]
    assert [tag.timestamp_ms for tag in after] == [
        frame(i).timestamp_ms - frame(120).timestamp_ms for i in range(120, 150)
    ]
    headers = [tag for tag in read_tags(io.BytesIO(second.read_bytes())) if tag.is_sequence_header]
    assert [tag.body for tag in headers] == [AVC_HEADER.body]  # the new session opens with the header
