"""Where a resumed run starts: the playlist from the item it had reached (no -ss, see command.build_argv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_task.command import PlayItem
from stream_task.progress import Item, Timeline
from stream_task.runner import _resumed

PLAYS = [PlayItem(Path("/s/a"), 9.9), PlayItem(Path("/s/b")), PlayItem(Path("/s/c"))]
ITEMS = (Item(9.9), Item(5.0), Item(2.0))


def test_a_single_pass_enters_the_item_where_it_stopped() -> None:
    timeline = Timeline(ITEMS)
    found = timeline.seek(12.4)
    assert found is not None
    plays, resumed = _resumed(PLAYS, timeline, *found)
    assert [(p.path.name, p.inpoint_s) for p in plays] == [("b", pytest.approx(2.5)), ("c", None)]
    assert resumed.start_s == 12.4
    assert resumed.locate(1.0)[1] == 1  # positions still count in the whole playlist


def test_a_loop_keeps_every_item_and_restarts_the_one_it_was_in() -> None:
    timeline = Timeline(ITEMS, loop=True)
    found = timeline.seek(16.0)
    assert found is not None
    plays, resumed = _resumed(PLAYS, timeline, *found)
    assert plays == [PLAYS[2], PLAYS[0], PLAYS[1]]
    assert resumed.start_s == 14.9
    assert resumed.locate(2.5) == pytest.approx((0.5, 0))  # one round later it wraps to the first item
