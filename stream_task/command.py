"""What ffmpeg's command lines hold: the protocols and demuxers each may use, an ingest URL split so that
its stream key goes through a pipe rather than the command line (which any process may read in `ps`), and
how the tee muxer's slave list escapes a URL (the redactor masks a stream key in that form too, since
ffmpeg's own messages may quote it so)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TEE_SPECIAL = "\\'|[]"


def escape_tee(url: str) -> str:
    """Escapes what the tee muxer's slave list gives a meaning to (the slave separator, option brackets,
    quotes and backslashes)."""
    return "".join("\\" + char if char in _TEE_SPECIAL else char for char in url)


# What each ffmpeg may open, and which demuxer may parse what it opens: nothing that names further files or
# URLs (hls, concat, dash, image2 sequences), so a crafted upload cannot make ffmpeg read anything else.
LOCAL_PROTOCOLS = "file"
REMOTE_PROTOCOLS = "http,https,tcp,tls"  # S3 through a presigned URL (http in local mode)
PIPE_PROTOCOLS = "pipe"
INGEST_PROTOCOLS = "rtmp,rtmps,tcp,tls"
# Uploaded media, as Debian's ffmpeg names the demuxers of the containers people upload.
MEDIA_DEMUXERS = "mov,matroska,avi,flv,mpegts,mpeg,asf,mxf,ivf,mp3,aac,wav,flac,ogg,w64,aiff"
# The stream engine's own build holds only these (stream_task/ffmpeg/build.sh).
ENGINE_DEMUXERS = "mov,matroska,flv,live_flv,mpegts,avi"


def source_whitelists(source: str, demuxers: str = MEDIA_DEMUXERS) -> list[str]:
    """Input options for one uploaded file, `source` being its path or (before staging) its https URL."""
    remote = source.startswith(("http://", "https://"))
    protocols = REMOTE_PROTOCOLS if remote else LOCAL_PROTOCOLS
    return ["-protocol_whitelist", protocols, "-format_whitelist", demuxers]


def rtmp_app_and_playpath(path: str) -> tuple[str, str]:
    """The RTMP application and play path ffmpeg's rtmp protocol takes out of a URL's path (rtmpproto.c's
    rules, so that passing them apart changes nothing the ingest sees): "/live2/KEY" -> ("live2", "KEY");
    three or more segments leave the first two as the application."""
    if path.startswith("/ondemand/"):
        app, name = "ondemand", path[len("/ondemand/") :]
    else:
        rest = path[1:] if path else path
        slash = rest.find("/")
        if slash < 0:
            return rest, ""
        second = rest.find("/", slash + 1)
        colon = rest.find(":", slash + 1)
        if second < 0 or (0 <= colon < second):
            app, name = rest[:slash], rest[slash + 1 :]
        else:
            app, name = rest[:second], rest[second + 1 :]
    if ":" not in name and name.endswith((".f4v", ".mp4")):
        return app, "mp4:" + name
    return app, name.removesuffix(".flv")


@dataclass(frozen=True)
class IngestTarget:
    """An ingest URL split in two: `address` (scheme, host and port: what a command line may show) and
    `options`, the RTMP application and play path (where the stream key is), which ffmpeg reads from a
    preset file (`-fpre`, one `name=value` a line) on a pipe."""

    address: str
    options: dict[str, str]

    def preset(self) -> bytes:
        lines = [f"{name}={value}\n" for name, value in self.options.items() if value]
        for line in lines:
            if "\n" in line[:-1] or "\r" in line or len(line) >= _PRESET_LINE_MAX:
                raise ValueError("an ingest's application or key cannot be passed to ffmpeg")
        return "".join(lines).encode()


_PRESET_LINE_MAX = 999  # ffmpeg reads a preset line into 1000 bytes
_AUTHORITY = re.compile(r"(?P<address>[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)(?P<path>.*)")


def ingest_target(url: str) -> IngestTarget:
    match = _AUTHORITY.fullmatch(url)
    if match is None:
        raise ValueError("not an ingest URL")
    app, playpath = rtmp_app_and_playpath(match["path"])
    return IngestTarget(match["address"], {"rtmp_app": app, "rtmp_playpath": playpath})
