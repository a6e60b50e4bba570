"""Time-sortable ids, so a descending Query lists newest first."""

from __future__ import annotations

import secrets
import threading
import time

_STAMP_DIGITS = 14
_RANDOM_BYTES = 7
_lock = threading.Lock()
_last_us = 0


def new_id(prefix: str) -> str:
    """`<prefix>_` + 14 hex digits of microseconds (monotonic within a process) + 14 random hex digits."""
    global _last_us
    with _lock:
        _last_us = max(time.time_ns() // 1000, _last_us + 1)
        stamp = _last_us
    return f"{prefix}_{stamp:0{_STAMP_DIGITS}x}{secrets.token_hex(_RANDOM_BYTES)}"


def id_pattern(prefix: str) -> str:
    """The regular expression every id that `new_id(prefix)` makes matches, and nothing else."""
    return f"^{prefix}_[0-9a-f]{{{_STAMP_DIGITS + 2 * _RANDOM_BYTES}}}$"
