"""A YouTube broadcast's thumbnail from the stream's first media: its WebP thumbnail (made by the media job)
read from S3 and turned into the JPEG YouTube takes (thumbnails.set accepts JPEG and PNG), 1280x720 as
YouTube recommends, letterboxed."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Final

from stream_task.launch import DIRECT, Launch

WIDTH, HEIGHT = 1280, 720
TIMEOUT_S: Final = 30


def jpeg_from_webp(ffmpeg: str, webp: bytes, scratch: Path, launch: Launch = DIRECT) -> bytes:
    """The picture as a 1280x720 JPEG (Debian's ffmpeg: the engine's build has no WebP decoder)."""
    with tempfile.TemporaryDirectory(dir=scratch, prefix="thumbnail-") as workdir:
        launch.share(Path(workdir))
        source, target = Path(workdir) / "thumbnail.webp", Path(workdir) / "thumbnail.jpg"
        source.write_bytes(webp)
        fit = (
            f"scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=decrease:flags=lanczos,"
            f"pad={WIDTH}:{HEIGHT}:(ow-iw)/2:(oh-ih)/2,format=yuvj420p"
        )
        launch.run(
            [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y",
             "-protocol_whitelist", "file", "-format_whitelist", "webp_pipe", "-f", "webp_pipe",
             "-i", str(source),
             "-frames:v", "1", "-vf", fit, "-q:v", "3", "-f", "mjpeg", str(target)],
            check=True,
            capture_output=True,
            timeout=TIMEOUT_S,
        )  # fmt: skip
        return target.read_bytes()


def read_thumbnail(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
