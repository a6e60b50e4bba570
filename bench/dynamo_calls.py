"""DynamoDB operations counted as botocore sends them: a `before-call` hook on every botocore session made
while counting (pynamodb's and boto3's alike: both stand on botocore sessions, and a client copies its
session's hooks when it is made). One count per API call, whatever its retries.

The hook listens on `before-call.*.*`, first, and keeps DynamoDB's: botocore calls wildcard handlers before
`before-call.dynamodb` ones, so a handler that answers a call itself (botocore's Stubber, a cache) would
otherwise hide it from the count."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import botocore
import botocore.session

DYNAMODB = "dynamodb"
SCAN = "Scan"


class DynamoCallCounter:
    """Counts DynamoDB operations by name, from whichever thread sends them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def on_call(self, **event: Any) -> None:
        """botocore's `before-call` handler: the event's `model` is the operation about to be sent."""
        operation = event["model"]
        if operation.service_model.service_name != DYNAMODB:
            return
        with self._lock:
            self._counts[operation.name] += 1

    def hook(self, session: botocore.session.Session) -> None:
        session.get_component("event_emitter").register_first("before-call.*.*", self.on_call)

    def take(self) -> Counter[str]:
        """The operations counted since the last `take`, by name; the count starts again from nothing."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts

    @contextmanager
    def every_new_session(self) -> Iterator[DynamoCallCounter]:
        """Hooks every botocore session made while the block runs. A client made before it is not
        counted: make the clients afresh inside (playout.aws.reset_clients, playout.models.bind_table)."""
        botocore.register_initializer(self.hook)
        try:
            yield self
        finally:
            botocore.unregister_initializer(self.hook)
