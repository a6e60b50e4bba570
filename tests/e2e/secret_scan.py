"""Secrets stay secret (issue 9, point 6): every secret the e2e run used, recorded as the tests make them, and
a scan of every place where one could leak, at the end of each worker's e2e session.

Secrets: the RTMP stream keys given to `/api/destinations`, the Cognito tokens the tests' clients got, the
YouTube emulator's OAuth client secrets, codes, tokens and stream keys (`GET /emulator/issued`), and the
signatures of the presigned URLs the API handed out (capabilities to read or write a user's media).

Places: local mode's log (the gateway, the API's handlers, the launcher, every stream task and media job, the
emulator) and its console, the test ingests' nginx logs, every item of local mode's DynamoDB tables (the
events timeline included), every API response the test clients received, and every task launch (the
workflow's input and container overrides) the local launcher wrote to LOCAL_TASK_INPUTS_FILE.

A secret is also looked for percent-encoded and base64-encoded (at each of the three byte alignments). A hit
is reported with its place and an excerpt in which every secret is replaced by its kind: never the secret.
"""

from __future__ import annotations

import base64
import re
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import requests

MIN_SECRET_CHARS: Final = 8  # shorter values (a test's invalid input) would match by chance
_ANCHOR_CHARS: Final = 8  # every form of a secret is at least this long (a base64 form of 8 bytes: 9 chars)
EXCERPT_CHARS: Final = 60  # each side of a hit
PRESIGNED_SIGNATURE: Final = "presigned URL signature"
_SIGNATURE_IN_URL: Final = re.compile(r"X-Amz-Signature=([0-9a-f]{64})")
# The emulator's `GET /emulator/issued`: its kinds, named for the report.
EMULATOR_KINDS: Final = {
    "client_secrets": "Google OAuth client secret",
    "authorization_codes": "Google authorization code",
    "access_tokens": "Google access token",
    "refresh_tokens": "Google refresh token",
    "stream_keys": "YouTube stream key",
}
COGNITO_KINDS: Final = {
    "IdToken": "Cognito ID token",
    "AccessToken": "Cognito access token",
    "RefreshToken": "Cognito refresh token",
}


class Place(StrEnum):
    LOG = "log line"
    STORED = "stored item"
    RESPONSE = "API response"
    WORKFLOW_INPUT = "workflow input"


# What belongs in a place by design: a presigned URL is the API's answer to the user it is for.
BELONGS: Final = frozenset({(PRESIGNED_SIGNATURE, Place.RESPONSE)})


@dataclass(frozen=True)
class Hit:
    place: Place
    where: str  # a file and line, or a response's request (both redacted)
    kind: str
    excerpt: str  # redacted


@dataclass
class Coverage:
    sources: int = 0  # files, or responses' clients
    units: int = 0  # lines, items, responses, launches
    bytes: int = 0


@dataclass
class Report:
    secrets: Counter[str]
    coverage: dict[Place, Coverage]
    missing: list[str]  # watched files that were gone at the scan
    hits: list[Hit]

    @property
    def clean(self) -> bool:
        return not self.hits and not self.missing

    def describe(self) -> str:
        lines = [f"secrets collected: {sum(self.secrets.values())} ({_counts(self.secrets)})"]
        for place, seen in self.coverage.items():
            lines.append(f"{place}: {seen.units} scanned, {seen.bytes} bytes, from {seen.sources} sources")
        lines += [f"missing (cannot be scanned): {path}" for path in self.missing]
        lines.append(f"hits: {len(self.hits)}")
        lines += [f"  {hit.kind} in {hit.place} at {hit.where}: {hit.excerpt}" for hit in self.hits]
        return "\n".join(lines)

    def figures(self, prefix: str) -> dict[str, int]:
        values = {f"{prefix} secrets": sum(self.secrets.values()), f"{prefix} hits": len(self.hits)}
        values |= {f"{prefix} secrets: {kind}s": count for kind, count in self.secrets.items()}
        for place, seen in self.coverage.items():
            values[f"{prefix} {place}s scanned"] = seen.units
            values[f"{prefix} {place} bytes scanned"] = seen.bytes
        return values


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{kind}: {count}" for kind, count in sorted(counter.items())) or "none"


def encoded_forms(secret: str) -> set[str]:
    """The secret as it is, percent-encoded, and the part of its base64 (standard and URL-safe) that stays the
    same whatever bytes surround it, at each of the three alignments."""
    forms = {secret, quote(secret, safe="")}
    raw = secret.encode()
    for offset in range(3):
        total = offset + len(raw)
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        core = encoded[(0, 2, 3)[offset] : (total // 3) * 4]
        forms |= {core, core.replace("+", "-").replace("/", "_")}
    return {form for form in forms if len(form) >= _ANCHOR_CHARS}


class _Needles:
    """Finds every form of every secret in a text at once: one regex over the forms' first characters (a trie,
    so that the cost hardly grows with the number of secrets), each candidate checked in full."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._by_anchor: dict[str, list[tuple[str, str]]] = {}
        for secret, kind in secrets.items():
            for form in encoded_forms(secret):
                self._by_anchor.setdefault(form[:_ANCHOR_CHARS], []).append((form, kind))
        for forms in self._by_anchor.values():
            forms.sort(key=lambda found: -len(found[0]))  # the longest form at a position wins
        anchors = sorted(self._by_anchor)
        self._pattern = re.compile(f"(?=({_trie(anchors)}))") if anchors else None

    def spans(self, text: str) -> Iterator[tuple[int, int, str]]:
        """(start, end, kind) of each form found, left to right, none overlapping."""
        if self._pattern is None:
            return
        covered = 0
        for match in self._pattern.finditer(text):
            start = match.start()
            if start < covered:
                continue
            for form, kind in self._by_anchor[match.group(1)]:
                if text.startswith(form, start):
                    covered = start + len(form)
                    yield start, covered, kind
                    break

    def redact(self, text: str) -> str:
        parts, last = [], 0
        for start, end, kind in self.spans(text):
            parts += [text[last:start], f"[{kind}]"]
            last = end
        return "".join(parts) + text[last:]


def _trie(words: Iterable[str]) -> str:
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return pattern(root)


@dataclass(frozen=True)
class _Response:
    request: str  # "GET <url> -> 200"
    text: str  # headers and body


@dataclass
class ResponseLog:
    """Every API response the test clients received; the presigned URLs in them are secrets of the run."""

    secrets: SecretScan | None = None
    entries: list[tuple[str, str, int, str]] = field(default_factory=list)

    def add(self, response: requests.Response) -> None:
        method = response.request.method or ""
        self.add_text(method, response.url, response.status_code, response.headers, response.text)

    def add_text(self, method: str, url: str, status: int, headers: Mapping[str, str], body: str) -> None:
        """A response as any client saw it (a browser's, say)."""
        text = "\n".join(f"{k}: {v}" for k, v in headers.items()) + "\n\n" + body
        self.entries.append((method, url, status, text))
        if self.secrets is not None:
            for signature in _SIGNATURE_IN_URL.findall(text):
                self.secrets.add_secret(PRESIGNED_SIGNATURE, signature)

    def containing(self, secret: str) -> list[str]:
        return [f"{method} {url} -> {status}" for method, url, status, text in self.entries if secret in text]


class SecretScan:
    """The secrets a run used and the places it wrote to; `report()` scans them. Safe to share between
    threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}  # secret -> its kind
        self._watched: list[tuple[Place, Path, int]] = []  # a place, a file or directory, the first byte
        self.responses = ResponseLog(self)

    def add_secret(self, kind: str, value: str) -> None:
        if len(value) >= MIN_SECRET_CHARS:
            with self._lock:
                self._secrets.setdefault(value, kind)

    def add_emulator_issued(self, issued: Mapping[str, Iterable[str]]) -> None:
        """What `GET /emulator/issued` answered."""
        for name, values in issued.items():
            for value in values:
                self.add_secret(EMULATOR_KINDS.get(name, f"YouTube emulator's {name}"), value)

    def add_cognito_result(self, result: Mapping[str, Any]) -> None:
        """An `AuthenticationResult` (sign-in or refresh)."""
        for name, kind in COGNITO_KINDS.items():
            if isinstance(result.get(name), str):
                self.add_secret(kind, result[name])

    def watch(self, place: Place, path: Path, from_byte: int = 0) -> None:
        """A file to scan (from `from_byte` on: what was written after it, in a file shared with others), or a
        directory: every file in it at the scan."""
        with self._lock:
            if all(watched[:2] != (place, path) for watched in self._watched):
                self._watched.append((place, path, from_byte))

    def report(self) -> Report:
        with self._lock:
            secrets, watched = dict(self._secrets), list(self._watched)
        needles = _Needles(secrets)
        coverage = {place: Coverage() for place in Place}
        hits: list[Hit] = []
        missing: list[str] = []
        for place, path, from_byte in watched:
            if not path.exists():
                missing.append(str(path))
                continue
            for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
                hits += _scan_file(needles, place, file, coverage[place], from_byte)
        responses = coverage[Place.RESPONSE]
        responses.sources = 1
        for method, url, status, text in list(self.responses.entries):
            responses.units += 1
            responses.bytes += len(text.encode())
            hits += _hits(needles, Place.RESPONSE, f"{method} {url} -> {status}", text)
        return Report(Counter(secrets.values()), coverage, missing, hits)


def _scan_file(needles: _Needles, place: Place, file: Path, seen: Coverage, from_byte: int = 0) -> list[Hit]:
    with file.open("rb") as opened:
        opened.seek(from_byte)
        data = opened.read()
    text = data.decode("utf-8", errors="replace")
    seen.sources += 1
    seen.bytes += len(data)
    lines = text.split("\n")
    seen.units += len(lines) - (1 if text.endswith("\n") or not text else 0)
    line_starts = [0] + [match.end() for match in re.finditer("\n", text)]
    hit_lines = sorted({bisect_right(line_starts, start) - 1 for start, _end, _kind in needles.spans(text)})
    hits = []
    for number in hit_lines:
        hits += _hits(needles, place, f"{file}:{number + 1}", lines[number])
    return hits


def _hits(needles: _Needles, place: Place, where: str, unit: str) -> list[Hit]:
    """The secrets in one unit (a line, a response) that do not belong in its place, one hit per kind, each
    with an excerpt of the unit in which every secret is replaced by its kind."""
    found = [(start, kind) for start, _end, kind in needles.spans(unit) if (kind, place) not in BELONGS]
    if not found:
        return []
    redacted = needles.redact(unit)
    hits: dict[str, Hit] = {}
    for start, kind in found:
        if kind in hits:
            continue
        at = len(needles.redact(unit[:start]))  # where its mark is in the redacted unit
        excerpt = redacted[max(0, at - EXCERPT_CHARS) : at + len(kind) + 2 + EXCERPT_CHARS]
        hits[kind] = Hit(place, needles.redact(where), kind, excerpt.replace("\n", "\\n"))
    return list(hits.values())


# One per pytest process (an xdist worker): secrets are made in plain helpers called from every module.
THIS_RUN: Final = SecretScan()
