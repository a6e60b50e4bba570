"""A local HTTP file server for import tests: Range and If-Range as a web server does them, and the faults
imports must survive (a connection dropped half-way, a file replaced between requests, redirects)."""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WRITE_BYTES = 64 * 1024
_RANGE = re.compile(r"bytes=(\d+)-")


@dataclass
class ServedFile:
    body: bytes
    etag: str | None = '"v1"'
    last_modified: str | None = None
    content_type: str = "video/mp4"
    drop_after: int | None = None  # the first answer stops after this many body bytes and hangs up
    replaced_after_drop: ServedFile | None = None  # served from the next request on
    honours_range: bool = True
    honours_if_range: bool = True  # False: answers a Range with 206 even when If-Range no longer matches
    length_known: bool = True  # False: chunked, no Content-Length
    unavailable_times: int = 0  # answers 503 this many times first


@dataclass(frozen=True)
class SeenRequest:
    path: str
    range: str | None
    if_range: str | None
    host: str | None


@dataclass
class FileServer:
    port: int
    files: dict[str, ServedFile] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # path -> Location
    seen: list[SeenRequest] = field(default_factory=list)

    scheme: str = "http"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"


@contextmanager
def serve_files(tls: tuple[Path, Path] | None = None) -> Iterator[FileServer]:
    """A threaded server on a free port of 127.0.0.1, stopped on exit; HTTPS with `tls` (cert, key)."""
    httpd = _QuietServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*tls)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.daemon_threads = True
    state = FileServer(httpd.server_address[1], scheme="http" if tls is None else "https")
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, name="file-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up mid-answer (an import refused at its byte limit) is a case under test


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real server

    def log_message(self, format: str, *args: object) -> None:  # "format": the base class names it so
        pass

    def do_GET(self) -> None:
        state: FileServer = self.server.state  # type: ignore[attr-defined]
        headers = self.headers
        state.seen.append(SeenRequest(self.path, headers["Range"], headers["If-Range"], headers["Host"]))
        if self.path in state.redirects:
            self.send_response(302)
            self.send_header("Location", state.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        served = state.files.get(self.path)
        if served is None:
            self.send_error(404)
            return
        if served.unavailable_times > 0:
            served.unavailable_times -= 1
            self.send_error(503)
            return
        start = self._range_start(served)
        body = memoryview(served.body)[start or 0 :]
        self.send_response(200 if start is None else 206)
        if start is not None:
            total = len(served.body)
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        self.send_header("Content-Type", served.content_type)
        if served.etag:
            self.send_header("ETag", served.etag)
        if served.last_modified:
            self.send_header("Last-Modified", served.last_modified)
        self.send_header("Accept-Ranges", "bytes" if served.honours_range else "none")
        if served.length_known:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = len(body)
        if served.drop_after is not None:
            end = served.drop_after
            state.files[self.path] = served.replaced_after_drop or ServedFile(
                served.body, served.etag, served.last_modified, served.content_type
            )
        for offset in range(0, end, WRITE_BYTES):
            piece = body[offset : min(offset + WRITE_BYTES, end)]
            if served.length_known:
                self.wfile.write(piece)
            else:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        if served.drop_after is not None:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if not served.length_known:
            self.wfile.write(b"0\r\n\r\n")

    def _range_start(self, served: ServedFile) -> int | None:
        """Where the answer starts: None for the whole file (no Range, or one not honoured)."""
        matched = _RANGE.fullmatch(self.headers.get("Range") or "")
        if matched is None or not served.honours_range:
            return None
        if_range = self.headers.get("If-Range")
        validators = {served.etag, served.last_modified} - {None}
        if if_range is not None and served.honours_if_range and if_range not in validators:
            return None
        return int(matched[1])
