"""Opaque cursors over one user's partition.

Only the sort key travels in a cursor: the partition is always the caller's own.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Generic, TypeVar

from pynamodb.models import Model

from playout.errors import InvalidInput
from playout.models import user_pk

T = TypeVar("T", bound=Model)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(sort_key: str) -> str:
    return base64.urlsafe_b64encode(sort_key.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    try:
        sort_key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor is not valid") from None
    if not sort_key.startswith(prefix):
        raise InvalidInput("cursor is not valid")
    return sort_key


def query_page(
    model: type[T],
    user_id: str,
    prefix: str,
    limit: int,
    cursor: str | None,
) -> Page[T]:
    """One page, newest first. Reads one item beyond the page so the last page says `next_cursor: null`."""
    pk = user_pk(user_id)
    start = {"pk": {"S": pk}, "sk": {"S": decode_cursor(cursor, prefix)}} if cursor else None
    results = model.query(
        pk,
        model.sk.startswith(prefix),  # type: ignore[attr-defined]
        scan_index_forward=False,
        last_evaluated_key=start,
        page_size=limit + 1,
    )
    items: list[T] = []
    for item in results:
        if len(items) == limit:
            return Page(items, encode_cursor(items[-1].sk))  # type: ignore[attr-defined]
        items.append(item)
    return Page(items, None)
