"""A DynamoDB proxy for the stream tasks of local mode (`STREAM_TASK_DYNAMODB_ENDPOINT`): the fault tests arm
it to answer throttles, the benchmarks read its log to count writes. Binds 127.0.0.1 only and stops by itself
after `lifetime_s`."""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

SERVER_LIFETIME_S = 600.0

THROTTLE_BODY = json.dumps(
    {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"}
).encode()


@dataclass
class ThrottleRule:
    """Throttle `operation` requests whose body contains `contains`, from now until `until` (monotonic)."""

    operation: str
    contains: str
    until: float
    hits: int = 0
    first_hit: float | None = None
    last_hit: float | None = None

    def matches(self, operation: str, body: bytes, now: float) -> bool:
        return now < self.until and operation == self.operation and self.contains.encode() in body

    def disarm(self) -> None:
        self.until = 0.0


@dataclass
class DynamoDbProxy:
    """An HTTP proxy for the stream tasks' DynamoDB calls (local mode's STREAM_TASK_DYNAMODB_ENDPOINT):
    transparent until armed, then it answers matching requests as DynamoDB answers a throttle. It keeps a
    log of what it forwarded (operation, request body), for the benchmarks that count writes."""

    lifetime_s: float = SERVER_LIFETIME_S
    upstream: str | None = None  # moto's endpoint, known once local mode has started
    rules: list[ThrottleRule] = field(default_factory=list)
    forwarded: int = 0
    log: list[tuple[str, bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # botocore keeps its connections alive
            timeout = 30

            def do_POST(self) -> None:
                proxy._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="dynamodb-proxy", daemon=True)
        self._thread.start()
        self._timer = threading.Timer(self.lifetime_s, self.close)
        self._timer.daemon = True
        self._timer.start()

    def arm(self, operation: str, contains: str, for_s: float) -> ThrottleRule:
        rule = ThrottleRule(operation, contains, time.monotonic() + for_s)
        with self._lock:
            self.rules.append(rule)
        return rule

    def close(self) -> None:
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        operation = (request.headers.get("X-Amz-Target") or "").rpartition(".")[2]
        now = time.monotonic()
        with self._lock:
            rule = next((r for r in self.rules if r.matches(operation, body, now)), None)
            if rule is not None:
                rule.hits += 1
                rule.first_hit = rule.first_hit or now
                rule.last_hit = now
            else:
                self.forwarded += 1
                self.log.append((operation, body))
        if rule is not None:
            self._answer(request, 400, [("Content-Type", "application/x-amz-json-1.0")], THROTTLE_BODY)
            return
        if self.upstream is None:
            self._answer(request, 502, [("Content-Type", "text/plain")], b"no upstream yet")
            return
        target = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("connection", "host")}
            headers["Host"] = target.netloc
            connection.request("POST", request.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [
                (k, v)
                for k, v in response.getheaders()
                if k.lower() not in ("connection", "content-length", "transfer-encoding", "server", "date")
            ]
            self._answer(request, response.status, kept, payload)
        finally:
            connection.close()

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        request.send_response(status)
        for name, value in headers:
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
