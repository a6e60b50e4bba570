"""DynamoDB behaviour moto does not give by itself: requests that are atomic under threads, and throttling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError
from pynamodb.connection.base import Connection

_ORIGINAL = Connection._make_api_call


@contextmanager
def atomic_requests(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each DynamoDB request runs alone, as DynamoDB applies each atomically (moto's in-process backend
    checks a condition and writes in separate Python steps). Only whole requests are serialized: the window
    between a caller's read and its write stays open to other threads."""
    lock = threading.Lock()

    def serialized(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        with lock:
            return _ORIGINAL(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", serialized)
    yield


@contextmanager
def throttled(
    monkeypatch: pytest.MonkeyPatch, *operations: str, times: int | None = None
) -> Iterator[list[str]]:
    """Every request of `operations` (or only the first `times`) answers ThrottlingException (what DynamoDB
    sends under a hot key)."""
    refused: list[str] = []

    def throttle(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        if operation_name in operations and (times is None or len(refused) < times):
            refused.append(operation_name)
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate of requests exceeds the allowed"}},
                operation_name,
            )
        return _ORIGINAL(self, operation_name, operation_kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "_make_api_call", throttle)
        yield refused
