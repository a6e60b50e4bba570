"""Keeps stream keys out of everything the task writes: DynamoDB errors, events and logs."""

from __future__ import annotations

import json
import logging
import threading
from urllib.parse import quote

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from stream_task.command import escape_tee

MASK = "****"


class Redactor:
    """Replaces every known secret, in each form it may take in ffmpeg's output or in a JSON log line
    (as is, tee-escaped, percent-encoded, JSON-escaped), with ****."""

    def __init__(self) -> None:
        self._forms: list[str] = []
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if not secret:
            return
        forms = {secret, escape_tee(secret), quote(secret, safe=""), quote(secret)}
        forms |= {json.dumps(form)[1:-1] for form in list(forms)}
        with self._lock:
            self._forms = sorted(set(self._forms) | forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every secret masked in the finished line, exceptions included."""

    def __init__(self, redactor: Redactor, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))
