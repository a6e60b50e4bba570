"""What the stream task's container image (stream_task/Dockerfile) provides, outside the container: the
engine's own ffmpeg build (stream_task/ffmpeg/build.sh, made by `make` under build/) and the image's
environment. Local mode's tasks, the tests and the benchmarks run the engine with them, so that what
they measure is what runs in AWS."""

from __future__ import annotations

from pathlib import Path
from typing import Final

ENGINE_FFMPEG: Final = Path(__file__).resolve().parent.parent / "build" / "ffmpeg-stream" / "bin" / "ffmpeg"


def engine_ffmpeg() -> str:
    if not ENGINE_FFMPEG.is_file():
        raise RuntimeError(
            "the stream engine's ffmpeg is not built: run `make build/ffmpeg-stream/bin/ffmpeg`"
            " (make local, make test and make bench do it)"
        )
    return str(ENGINE_FFMPEG)


def image_env() -> dict[str, str]:
    """The Dockerfile's ENV lines that shape how the task runs."""
    return {"FFMPEG_PATH": engine_ffmpeg(), "MALLOC_ARENA_MAX": "1"}
