"""How the tee muxer's slave list escapes a URL; the redactor masks a stream key in that form too, since
ffmpeg's own messages may quote it so."""

from __future__ import annotations

_TEE_SPECIAL = "\\'|[]"


def escape_tee(url: str) -> str:
    """Escapes what the tee muxer's slave list gives a meaning to (the slave separator, option brackets,
    quotes and backslashes)."""
    return "".join("\\" + char if char in _TEE_SPECIAL else char for char in url)
