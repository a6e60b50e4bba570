"""What ffprobe reads in a media file (its format and streams, as JSON): tests check recordings and archives
with it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def probe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return dict(json.loads(result.stdout))
