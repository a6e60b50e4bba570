"""Keeps stream keys out of everything the task writes: DynamoDB errors, events and logs."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from stream_task.command import escape_tee

MASK = "****"
# A key at least this long is masked wherever it stands as a token of its own (e.g. echoed by an ingest's
# "Server error: ..."). A shorter one could be any word: masking its every occurrence would mangle the
# text (a key "m" turned "ffmpeg" into "ff****peg") and, by the holes it leaves, tell the key.
MIN_BARE_KEY_LENGTH = 8


# Each form a secret takes on the way to a stored message: as is, escaped for the tee muxer's slave list,
# percent-encoded, and each of these escaped again inside a JSON log line. All work character by
# character, so a form of "prefix + key" is the form of the prefix followed by the form of the key.
def _as_is(text: str) -> str:
    return text


def _percent_encoded(text: str) -> str:
    return quote(text, safe="")


def _in_json(encode: Callable[[str], str]) -> Callable[[str], str]:
    return lambda text: json.dumps(encode(text))[1:-1]


_PLAIN: tuple[Callable[[str], str], ...] = (_as_is, escape_tee, _percent_encoded, quote)
_FORMS: tuple[Callable[[str], str], ...] = _PLAIN + tuple(_in_json(encode) for encode in _PLAIN)

# A token's edge: no letter or digit next to it, where a %XX or JSON escape just before counts as an edge.
_EDGE_BEHIND = r"(?:(?<![A-Za-z0-9])|(?<=%[0-9A-Fa-f]{2})|(?<=\\u[0-9A-Fa-f]{4})|(?<=\\[nrtbf]))"
_EDGE_AHEAD = r"(?![A-Za-z0-9])"
# The key as the last path segment of an rtmp(s) URL, however short: what ends a URL in ffmpeg's lines
# ("rtmp://h/app/KEY: Connection refused", "Slave '[f=flv]rtmp://h/app/KEY': ...", a tee list, JSON).
_URL_HEAD = r"((?i:rtmps?)://[^\s'\"|\[\]]*?/)"
_URL_END = r"(?=$|[\s'\"|\[\]\\:,;)])"


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    replacement: str
    rank: int  # whole URLs (3) before URL tails (2) before bare tokens (1)


class Redactor:
    """Masks stream keys where they appear as keys: inside their ingest URL in each form it may take
    (as is, tee-escaped, percent-encoded, JSON-escaped), as the last path segment of any rtmp(s) URL, and,
    for a key long enough to be unguessable, as a token of its own. The rest of the text stays as it was."""

    def __init__(self) -> None:
        self._rules: tuple[_Rule, ...] = ()
        self._lock = threading.Lock()

    def add(self, secret: str, url: str | None = None) -> None:
        """`url`, when given, is the full ingest URL that ends with (or holds) the secret."""
        if not secret:
            return
        rules: list[_Rule] = []
        if url is not None:
            prefix, found, suffix = url.rpartition(secret)
            if not found:
                raise ValueError("the url must contain the secret it is registered with")
            for encode in _FORMS:
                masked = encode(prefix) + MASK + encode(suffix)
                rules.append(_Rule(re.compile(re.escape(encode(url))), masked.replace("\\", "\\\\"), 3))
        for form in {encode(secret) for encode in _FORMS}:
            rules.append(_Rule(re.compile(_URL_HEAD + re.escape(form) + _URL_END), r"\1" + MASK, 2))
            if len(secret) >= MIN_BARE_KEY_LENGTH:
                before = _EDGE_BEHIND if form[0].isalnum() else ""
                after = _EDGE_AHEAD if form[-1].isalnum() else ""
                rules.append(_Rule(re.compile(before + re.escape(form) + after), MASK, 1))
        with self._lock:
            merged = {(rule.pattern.pattern, rule.replacement): rule for rule in (*self._rules, *rules)}
            # Whole URLs first, then URL tails, then bare tokens; the longest first within each, so that a
            # key which is a part of another key never leaves the rest of the longer one readable.
            self._rules = tuple(
                sorted(merged.values(), key=lambda rule: (rule.rank, len(rule.pattern.pattern)), reverse=True)
            )

    def __call__(self, text: str) -> str:
        for rule in self._rules:
            text = rule.pattern.sub(rule.replacement, text)
        return text


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter with every secret masked in the finished line, exceptions included."""

    def __init__(self, redactor: Redactor, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self.redactor(super().format(record))
