"""How long a run's YouTube broadcasts last and how often the task asks about them (playout.youtube.rotation
does the rotating): apart from it, so that the task's settings read them without importing Google's client
libraries, which a run without YouTube broadcasts never loads."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

# YouTube keeps no archive of a broadcast of 12 hours or more (at most 11 h 55 min): rotate before that.
BROADCAST_MAX_S: Final = 11 * 3600 + 55 * 60
ROTATION_WINDOW_S: Final = 3600.0  # from max - window on, a rotation waits for an item boundary
ROTATION_MARGIN_S: Final = (
    300.0  # at max - margin, it happens at the next keyframe, inside an item if need be
)
POLL_INTERVAL_S: Final = 60.0  # liveBroadcasts.list of each current broadcast: 1 unit a minute per channel
LIVE_WAIT_S: Final = 150.0  # how long the new part may take to go live before the old one is completed anyway
LIVE_POLL_S: Final = 5.0  # how often it is asked meanwhile


@dataclass(frozen=True)
class LastingPolicy:
    """When the stream task asks YouTube about its broadcasts and rotates them (TaskSettings' knobs)."""

    poll_interval_s: float = POLL_INTERVAL_S
    broadcast_max_s: float = BROADCAST_MAX_S
    window_s: float = ROTATION_WINDOW_S
    margin_s: float = ROTATION_MARGIN_S
    live_wait_s: float = LIVE_WAIT_S
    live_poll_s: float = LIVE_POLL_S

    def __post_init__(self) -> None:
        if not 0 < self.margin_s < self.window_s < self.broadcast_max_s:
            raise ValueError("a rotation needs 0 < margin_s < window_s < broadcast_max_s")

    @property
    def rotate_from_s(self) -> float:
        """A broadcast's age (on air) from which its rotation waits for an item boundary."""
        return self.broadcast_max_s - self.window_s

    @property
    def rotate_by_s(self) -> float:
        """Its age at which the rotation happens at the next keyframe, inside an item if need be."""
        return self.broadcast_max_s - self.margin_s

    @property
    def live_polls(self) -> int:
        """At most this many lists while the new part goes live (fewer: YouTube takes seconds)."""
        return math.ceil(self.live_wait_s / self.live_poll_s)
