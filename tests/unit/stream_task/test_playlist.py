"""The play order: passes, shuffle without repeats, length limits and resuming."""

from __future__ import annotations

import itertools

from stream_task.playlist import Cursor, Item, PlayOrder

ITEMS = [Item("a", 10.0), Item("b", 8.0), Item("c", 7.0)]


START = Cursor()


def played(order: PlayOrder, count: int, start: Cursor = START, limit_s: float | None = None) -> list[str]:
    return [e.item.media_id for e in itertools.islice(order.entries(start, limit_s), count)]


def test_in_order_once_and_n_times() -> None:
    assert played(PlayOrder(ITEMS), 10) == ["a", "b", "c"]
    assert played(PlayOrder(ITEMS, passes=2), 10) == ["a", "b", "c", "a", "b", "c"]
    assert played(PlayOrder(ITEMS, passes=None), 7) == ["a", "b", "c", "a", "b", "c", "a"]


def test_shuffle_gives_a_new_order_each_pass_and_never_the_same_media_twice_in_a_row() -> None:
    items = [Item(f"m{i}", 5.0) for i in range(6)] + [Item("m0", 5.0)]  # one media listed twice
    order = PlayOrder(items, passes=None, shuffle=True, seed="run_x")
    sequence = played(order, 7 * 200)
    assert all(a != b for a, b in itertools.pairwise(sequence))
    passes = {tuple(sequence[i : i + 7]) for i in range(0, len(sequence), 7)}
    assert len(passes) > 50
    assert all(sorted(p) == sorted(i.media_id for i in items) for p in passes)


def test_the_same_seed_replays_the_same_order_for_a_resumed_run() -> None:
    first = PlayOrder(ITEMS, passes=None, shuffle=True, seed="run_1")
    again = PlayOrder(ITEMS, passes=None, shuffle=True, seed="run_1")
    assert played(first, 30) == played(again, 30)


def test_a_length_limit_cuts_the_last_entry() -> None:
    entries = list(PlayOrder(ITEMS, passes=None).entries(limit_s=30.0))
    assert [e.item.media_id for e in entries] == ["a", "b", "c", "a"]
    assert entries[-1].duration_s == 5.0
    assert sum(e.duration_s for e in entries) == 30.0


def test_resuming_enters_the_item_where_the_run_stopped() -> None:
    order = PlayOrder(ITEMS, passes=2)
    entries = list(order.entries(Cursor(1, 1, 3.5)))
    assert [(e.item.media_id, e.start_s, e.duration_s) for e in entries] == [("b", 3.5, 4.5), ("c", 0.0, 7.0)]
