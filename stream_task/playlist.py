"""The playlist as played: which item comes next, pass after pass, where a resumed run starts, and where
a stream with a length limit stops.

A position is a `Cursor` (pass, slot in that pass, seconds into the item): it survives a new task, since
each pass's order is a pure function of the run's seed and the pass number. Shuffled passes never play
the same media twice in a row, across pass boundaries too."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """A playlist entry's media as the reader plays it: `duration_s` is its picture's length."""

    media_id: str
    duration_s: float
    has_audio: bool = True
    copy_audio: bool = False  # its sound is already AAC-LC 48 kHz stereo, as long as the picture


@dataclass(frozen=True)
class Cursor:
    pass_index: int = 0
    slot: int = 0
    offset_s: float = 0.0


@dataclass(frozen=True)
class Entry:
    """One thing to play: `item` from `start_s` for `duration_s` (less than the item when the stream's
    length limit ends inside it)."""

    cursor: Cursor
    item_index: int
    item: Item
    start_s: float
    duration_s: float

    @property
    def ends_item(self) -> bool:
        return self.start_s + self.duration_s >= self.item.duration_s - 1e-6


class PlayOrder:
    """`passes` None plays until stopped; `limit_s` bounds the total played from `entries`' start."""

    def __init__(
        self,
        items: Sequence[Item],
        *,
        passes: int | None = 1,
        shuffle: bool = False,
        seed: str = "",
    ) -> None:
        if not items:
            raise ValueError("a playlist needs at least one item")
        if passes is not None and passes < 1:
            raise ValueError("passes must be at least 1")
        self.items = tuple(items)
        self.passes = passes
        self.shuffle = shuffle
        self.seed = seed

    @property
    def pass_s(self) -> float:
        return sum(item.duration_s for item in self.items)

    def order(self, pass_index: int) -> list[int]:
        """The item indices of one pass, in play order. A shuffled pass keeps its base shuffle's last item,
        so the next pass knows what it must not start with without computing every pass before it."""
        indices = list(range(len(self.items)))
        if not self.shuffle or len(indices) < 2:
            return indices
        base = self._base(pass_index)
        before = self._media(self._base(pass_index - 1)[-1]) if pass_index > 0 else None
        middle = base[:-1]
        _arrange(middle, self._media, before=before, after=self._media(base[-1]))
        return [*middle, base[-1]]

    def _base(self, pass_index: int) -> list[int]:
        indices = list(range(len(self.items)))
        random.Random(f"{self.seed}:{pass_index}").shuffle(indices)  # noqa: S311 - an order, not a secret
        return indices

    def _media(self, index: int) -> str:
        return self.items[index].media_id

    def entries(self, start: Cursor = Cursor(), limit_s: float | None = None) -> Iterator[Entry]:
        """What to play from `start` on, in order; `limit_s` seconds at most."""
        remaining = limit_s
        pass_index, slot, offset = start.pass_index, start.slot, max(0.0, start.offset_s)
        while self.passes is None or pass_index < self.passes:
            order = self.order(pass_index)
            while slot < len(order):
                index = order[slot]
                item = self.items[index]
                length = max(0.0, item.duration_s - offset)
                if remaining is not None:
                    length = min(length, remaining)
                if length > 0:
                    yield Entry(Cursor(pass_index, slot, offset), index, item, offset, length)
                if remaining is not None:
                    remaining -= length
                    if remaining <= 0:
                        return
                slot, offset = slot + 1, 0.0
            pass_index, slot = pass_index + 1, 0


def _arrange(indices: list[int], media: Callable[[int], str], *, before: str | None, after: str) -> None:
    """Reorders in place so that no media follows itself (nor `before` at the start, nor precedes `after`
    at the end), where the items allow it: a greedy pass that swaps in the nearest fitting item, then
    for what is left, a swap with an earlier item that keeps both places right."""

    def at(i: int) -> str | None:
        if i < 0:
            return before
        if i >= len(indices):
            return after
        return media(indices[i])

    def clash(i: int) -> bool:
        return at(i) == at(i - 1) or at(i) == at(i + 1)

    for i in range(len(indices)):
        if at(i) != at(i - 1) and (i < len(indices) - 1 or at(i) != after):
            continue
        for j in [*range(i + 1, len(indices)), *range(i - 1, -1, -1)]:
            indices[i], indices[j] = indices[j], indices[i]
            if not clash(i) and not clash(j):
                break
            indices[i], indices[j] = indices[j], indices[i]
