"""The engine's own ffmpeg build (stream_task/ffmpeg/build.sh) reads what people upload: H.264 in each
container it was built for, with each common sound format, becomes FLV with the picture copied and the
sound AAC, as the reader's command asks. The files are made by Debian's full ffmpeg, as a phone, an
editor or a screen recorder would hand them over; an ffmpeg built without a demuxer, decoder, parser or
filter the reader needs fails here rather than on air. (Its pushers are the local-mode tests' own: each
of those streams through them to nginx-rtmp, over RTMPS too.)"""

from __future__ import annotations

import subprocess
from io import BytesIO
from pathlib import Path

import pytest

from local.task_image import engine_ffmpeg
from stream_task.flv import Tag, read_tags
from stream_task.reader import Part, reader_argv

SECONDS = 2.0
_SOUND_FORMAT_AAC = 10
_VIDEO_CODEC_AVC = 7

# container, the sound's encoder and its options (None: a file with no sound)
UPLOADS = [
    ("mp4", ["-c:a", "aac", "-ar", "44100", "-ac", "1"]),
    ("mp4", ["-c:a", "eac3", "-ar", "48000", "-ac", "6"]),
    ("mov", ["-c:a", "pcm_s16le", "-ar", "48000", "-ac", "2"]),
    ("mov", ["-c:a", "alac", "-ar", "44100", "-ac", "2"]),
    ("mkv", ["-c:a", "libopus", "-ar", "48000", "-ac", "2"]),
    ("mkv", ["-c:a", "flac", "-ar", "96000", "-ac", "2"]),
    ("webm", None),
    ("ts", ["-c:a", "ac3", "-ar", "48000", "-ac", "2"]),
    ("ts", ["-c:a", "mp2", "-ar", "44100", "-ac", "2"]),
    ("avi", ["-c:a", "libmp3lame", "-ar", "22050", "-ac", "1"]),
    ("flv", ["-c:a", "aac", "-ar", "48000", "-ac", "2"]),
    ("mkv", ["-c:a", "libvorbis", "-ar", "32000", "-ac", "2"]),
]


def _upload(directory: Path, container: str, sound: list[str] | None) -> Path:
    name = f"{container}-{sound[1] if sound else 'silent'}.{container}"
    picture = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30"]
    # webm takes no H.264: a Matroska file named so, as some tools write it
    container_args = ["-f", "matroska"] if container == "webm" else []
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={SECONDS}"]
    if sound is not None:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}"]
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *inputs, *picture, *(sound or []),
         *container_args, str(directory / name)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return directory / name


def _read(ffmpeg: str, part: Part) -> tuple[list[Tag], bytes]:
    result = subprocess.run(reader_argv(ffmpeg, part), capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return list(read_tags(BytesIO(result.stdout))), result.stderr


@pytest.mark.parametrize(("container", "sound"), UPLOADS, ids=lambda v: v if isinstance(v, str) else None)
def test_the_reader_turns_each_upload_into_flv_as_debians_full_build_does(
    tmp_path: Path, container: str, sound: list[str] | None
) -> None:
    source = _upload(tmp_path, container, sound)
    part = Part(str(source), duration_s=SECONDS, has_audio=sound is not None)
    tags, errors = _read(engine_ffmpeg(), part)
    full_build_tags, _ = _read("ffmpeg", part)

    video = [t for t in tags if t.is_video and t.is_media]
    audio = [t for t in tags if t.is_audio and t.is_media]
    assert {t.body[0] & 0x0F for t in video} == {_VIDEO_CODEC_AVC}
    assert {t.body[0] >> 4 for t in audio} == {_SOUND_FORMAT_AAC}
    assert len(video) >= 0.9 * SECONDS * 30
    assert len(audio) >= 0.9 * SECONDS * 48000 / 1024
    # the picture copied as Debian's build copies it, and the sound timed alike
    assert [(t.timestamp_ms, t.body) for t in tags if t.is_video] == [
        (t.timestamp_ms, t.body) for t in full_build_tags if t.is_video
    ]
    assert [t.timestamp_ms for t in audio] == [
        t.timestamp_ms for t in full_build_tags if t.is_audio and t.is_media
    ]
    assert b"Could not find codec parameters" not in errors
