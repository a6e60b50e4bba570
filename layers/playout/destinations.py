"""Where streams go. A stream key is written once, encrypted with KMS, and never read back by the API."""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from pynamodb.exceptions import DeleteError

from playout import crypto, netguard
from playout.errors import InvalidInput, InvalidState, NotFound
from playout.ids import new_id
from playout.models import DESTINATION_PREFIX, Destination, user_pk
from playout.pagination import Page, query_page

RTMP = "rtmp"
INGEST_SCHEMES = ("rtmp", "rtmps")
DEFAULT_PORTS = {"rtmp": 1935, "rtmps": 443}
MAX_INGEST_URL_LENGTH = 500
MAX_STREAM_KEY_LENGTH = 512
# The KMS purpose of a YouTube channel's second (spare) liveStream key: one item, two keys kept apart.
SPARE_STREAM_KEY_PURPOSE = "youtube_spare_stream_key"  # a KMS context value, not a secret

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?P<rest>.*)")
# RFC 3986 path characters less "@" (refused in the whole URL), with %XX escapes taken whole.
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*)*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_WHAT_URL_IS = "url must be an rtmp:// or rtmps:// ingest address, e.g. rtmp://a.rtmp.youtube.com/live2"


@dataclass(frozen=True)
class IngestAddress:
    """An ingest URL taken apart. `host` is a lower-case DNS name or an IP address (IPv6 without brackets);
    `port` is the one written in the URL, if any."""

    scheme: str
    host: str
    port: int | None
    path: str

    @property
    def connect_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.scheme]

    @property
    def url(self) -> str:
        """The canonical form: lower-case scheme and host, IPv6 in brackets, no trailing slash."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{host}{port}{self.path}"


@dataclass(frozen=True)
class Ingest:
    """A destination resolved for the stream task: the full URL includes the secret key. Never log it."""

    destination_id: str
    url: str
    stream_key: str

    def __repr__(self) -> str:
        return f"Ingest(destination_id={self.destination_id!r}, url=<redacted>)"

    @property
    def address(self) -> IngestAddress:
        """Where to connect, key left out: the host and port to check with netguard.resolve_public before
        every connection. Raises InvalidInput for a URL stored before validate_ingest_url's rules."""
        return parse_ingest_url(self.url.removesuffix("/" + self.stream_key))


def parse_ingest_url(url: str) -> IngestAddress:
    """Takes an ingest URL apart, refusing anything but one plain form (no user info, query or fragment;
    printable ASCII only) so that what is checked is exactly what ffmpeg later receives."""
    if not url:
        raise InvalidInput(_WHAT_URL_IS)
    if len(url) > MAX_INGEST_URL_LENGTH:
        raise InvalidInput(f"url must be at most {MAX_INGEST_URL_LENGTH} characters")
    _require_printable("url", url)
    if "@" in url:
        raise InvalidInput(
            "url must not contain user info (user:password@) or '@'; an ingest's secret goes in stream_key"
        )
    match = _URL.fullmatch(url)
    if match is None or match["scheme"].lower() not in INGEST_SCHEMES:
        raise InvalidInput(_WHAT_URL_IS)
    if match["rest"]:
        raise InvalidInput(
            "url must not have a query (?) or a fragment (#): the stream key is appended to it"
        )
    path = match["path"].rstrip("/")
    if not _PATH.fullmatch(path):
        raise InvalidInput(
            "url path may hold only letters, digits, %XX escapes and these characters: "
            "/ - . _ ~ ! $ & ' ( ) * + , ; = :"
        )
    host, port = _parse_authority(match["authority"])
    return IngestAddress(match["scheme"].lower(), host, port, path)


def validate_ingest_url(url: str, *, allow_loopback: bool = False) -> str:
    """The one form of an ingest URL that is stored and later handed to ffmpeg. A host written as an IP
    address must be public (loopback too when `allow_loopback`); a host name is checked by the stream task
    each time it connects, as what a name resolves to can change."""
    address = parse_ingest_url(url)
    ip = netguard.parse_ip(address.host)
    local_name = address.host == "localhost" or address.host.endswith(".localhost")
    if (ip is not None and not netguard.is_public(ip, allow_loopback=allow_loopback)) or (
        local_name and not allow_loopback
    ):
        raise netguard.UnsafeAddress(
            f"url host {address.host} is not a public internet address; streams can only go to public hosts"
        )
    return address.url


def validate_stream_key(stream_key: str) -> str:
    if not 1 <= len(stream_key) <= MAX_STREAM_KEY_LENGTH:
        raise InvalidInput(f"stream_key must be 1 to {MAX_STREAM_KEY_LENGTH} characters")
    _require_printable("stream_key", stream_key)
    return stream_key


def _require_printable(field: str, value: str) -> None:
    """Refuses anything but printable ASCII, naming the first offender by position, never by quoting it."""
    for position, char in enumerate(value, start=1):
        if not "!" <= char <= "~":
            if char.isspace():
                kind = "whitespace"
            elif char.isascii():
                kind = "a control character"
            else:
                kind = "a non-ASCII character"
            raise InvalidInput(
                f"{field} must be printable ASCII without spaces or control characters "
                f"({kind} at character {position})"
            )


def _parse_authority(authority: str) -> tuple[str, int | None]:
    if not authority:
        raise InvalidInput("url must name a host, e.g. rtmp://a.rtmp.youtube.com/live2")
    if authority.startswith("["):
        literal, bracket, rest = authority[1:].partition("]")
        try:
            if not bracket or "%" in literal:
                raise ValueError(literal)
            host = ipaddress.IPv6Address(literal).compressed
        except ValueError:
            raise InvalidInput(
                "url host in brackets must be an IPv6 address, e.g. rtmp://[2001:db8::1]/app"
            ) from None
        if rest and not rest.startswith(":"):
            raise InvalidInput("url host in brackets may only be followed by :port")
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text_or_empty = (
            authority.rpartition(":") if ":" in authority else (authority, "", "")
        )
        if ":" in name:
            raise InvalidInput(
                "url host looks like an IPv6 address: write it in brackets, e.g. rtmp://[2001:db8::1]/app"
            )
        host = _host_name(name)
        port_text = port_text_or_empty if colon else None
    if port_text is None:
        return host, None
    if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
        raise InvalidInput("url port must be a number from 1 to 65535")
    return host, int(port_text)


def _host_name(text: str) -> str:
    name = text.lower()
    if not name:
        raise InvalidInput("url must name a host, e.g. rtmp://a.rtmp.youtube.com/live2")
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    # The C resolver also reads 127.1, 2130706433 and 0x7f.0.0.1 as addresses; only one spelling is taken.
    if name.rsplit(".", 1)[-1].isdigit() or _inet_aton_accepts(name):
        raise InvalidInput(
            f"url host {name} is not a valid IPv4 address: write it as four numbers, e.g. 203.0.113.7"
        )
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise InvalidInput(
            "url host must be a DNS name (letters, digits, hyphens; dot-separated labels) or an IP address"
        )
    return name


def _inet_aton_accepts(name: str) -> bool:
    try:
        socket.inet_aton(name)
    except OSError:
        return False
    return True


def public_url(url: str) -> str:
    """A stored URL as the API shows it, without user info (stored before validate_ingest_url refused it)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@", r"\1", url)


def create_destination(
    user_id: str, name: str, url: str, stream_key: str, *, allow_loopback: bool = False
) -> Destination:
    url = validate_ingest_url(url, allow_loopback=allow_loopback)
    stream_key = validate_stream_key(stream_key)
    destination_id = new_id("dst")
    destination = Destination(
        user_pk(user_id),
        DESTINATION_PREFIX + destination_id,
        destination_id=destination_id,
        type=RTMP,
        name=name,
        url=url,
        stream_key_ciphertext=crypto.encrypt(stream_key, user_id, destination_id),
    )
    destination.save(condition=Destination.sk.does_not_exist())
    return destination


def get_destination(user_id: str, destination_id: str) -> Destination:
    try:
        return Destination.get(user_pk(user_id), DESTINATION_PREFIX + destination_id)
    except Destination.DoesNotExist:
        raise NotFound(f"destination {destination_id} not found") from None


def list_destinations(user_id: str, limit: int, cursor: str | None) -> Page[Destination]:
    return query_page(Destination, user_id, DESTINATION_PREFIX, limit, cursor)


def delete_rtmp_destination(user_id: str, destination_id: str, in_use: bool) -> Destination | None:
    """Deletes an RTMP destination in one conditional write. Another kind (a YouTube channel, whose grant
    Google must revoke first) is returned, not deleted; a missing one is NotFound."""
    if in_use:
        get_destination(user_id, destination_id)  # a missing one is 404, not 409
        raise InvalidState(f"destination {destination_id} is used by an active stream; stop the stream first")
    try:
        Destination(user_pk(user_id), DESTINATION_PREFIX + destination_id).delete(
            condition=Destination.sk.exists() & (Destination.type == RTMP)
        )
    except DeleteError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return get_destination(user_id, destination_id)
    return None


def resolve_ingest(user_id: str, destination_id: str, live_stream_id: str | None = None) -> Ingest:
    """Where the stream task pushes for a destination: an RTMP destination's URL and key, or a YouTube
    channel's reusable liveStream (its RTMPS ingestion address and stream name, stored at its first start,
    to which the run's broadcast is bound): the same path for both. `live_stream_id`: the liveStream a
    YouTube broadcast is bound to, when it is the channel's spare one (a rotated broadcast's)."""
    destination = get_destination(user_id, destination_id)
    if live_stream_id is not None and live_stream_id == destination.spare_live_stream_id:
        url, ciphertext, purpose = (
            destination.spare_url,
            destination.spare_stream_key_ciphertext,
            SPARE_STREAM_KEY_PURPOSE,
        )
    else:
        url, ciphertext, purpose = destination.url, destination.stream_key_ciphertext, None
    if not url or ciphertext is None:
        raise InvalidState(
            f"destination {destination_id} has no ingest yet: a YouTube channel gets one when a stream "
            "starts on it"
        )
    key = crypto.decrypt(bytes(ciphertext), user_id, destination_id, purpose=purpose)
    return Ingest(destination_id, f"{url}/{key}", key)
