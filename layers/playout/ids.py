"""Time-sortable ids, so a descending Query lists newest first."""

from __future__ import annotations

import secrets
import time


def new_id(prefix: str) -> str:
    # 12 hex digits of milliseconds sort correctly until the year 10889; 16 random hex digits avoid collisions.
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(8)}"
