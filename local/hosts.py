"""Which Host each of local mode's HTTP servers answers to.

Every server binds 127.0.0.1, yet a web page can still reach it by DNS rebinding: a name the attacker
controls first resolves to the attacker's server, then to 127.0.0.1, and the page's requests to that name
reach this machine as requests of the page's own origin, free to read the answers. Such a request names the
attacker's host in its Host header, so a server that answers only the names it is served at (127.0.0.1 and
localhost, with its own port or none) refuses it: 421 Misdirected Request, before anything else runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Final

LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost")
MISDIRECTED_STATUS: Final = "421 Misdirected Request"
MISDIRECTED_CODE: Final = "misdirected_request"


def loopback_hosts(port: int) -> frozenset[str]:
    """The Host values of a server bound to 127.0.0.1:`port`: its names with the port, as browsers and HTTP
    clients send them, and without (nginx-rtmp's notifications name the host alone). A page names the host of
    its own URL, so a rebound page never sends a loopback name, with a port or without."""
    return frozenset({*LOOPBACK_NAMES, *(f"{name}:{port}" for name in LOOPBACK_NAMES)})


def error_body(code: str, message: str) -> bytes:
    """The API's error shape (`{"error": {"code", "message"}}`), for the answers local mode gives itself."""
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")).encode()


def misdirected_body(port: int) -> bytes:
    """What the server at 127.0.0.1:`port` answers with its 421, in plain words."""
    served = " or ".join(f"{name}:{port}" for name in LOOPBACK_NAMES)
    return error_body(
        MISDIRECTED_CODE,
        f"This server answers only requests addressed to {served}; this one names another host.",
    )


class ServedHostsOnly:
    """A WSGI layer that answers 421 to a request naming a host other than the loopback's at `port`.

    `port` may be set after the socket is bound (a port of 0 is known only then), before it serves; until then
    every request is refused. A request without a Host header passes: browsers always send one, and only a
    browser is tricked into rebinding."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self._app = app
        self._hosts: frozenset[str] = frozenset()
        self._port = 0
        if port is not None:
            self.port = port

    @property
    def port(self) -> int:
        return self._port

    @port.setter
    def port(self, port: int) -> None:
        self._port, self._hosts = port, loopback_hosts(port)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST")
        if host is None or host.lower() in self._hosts:
            return self._app(environ, start_response)
        body = misdirected_body(self._port)
        start_response(
            MISDIRECTED_STATUS,
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("X-Content-Type-Options", "nosniff"),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),  # the request's body, if any, is left unread
            ],
        )
        return [body]
