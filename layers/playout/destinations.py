"""Where streams go. A stream key is written once, encrypted with KMS, and never read back by the API."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from playout import crypto
from playout.errors import InvalidInput, InvalidState, NotFound
from playout.ids import new_id
from playout.models import DESTINATION_PREFIX, Destination, user_pk
from playout.pagination import Page, query_page

RTMP = "rtmp"
INGEST_SCHEMES = ("rtmp", "rtmps")


@dataclass(frozen=True)
class Ingest:
    """A destination resolved for the stream task: the full URL includes the secret key. Never log it."""

    destination_id: str
    url: str
    stream_key: str

    def __repr__(self) -> str:
        return f"Ingest(destination_id={self.destination_id!r}, url=<redacted>)"


def validate_ingest_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in INGEST_SCHEMES or not parts.hostname:
        raise InvalidInput("url must be an rtmp:// or rtmps:// ingest address with a host")
    return url.strip().rstrip("/")


def create_destination(user_id: str, name: str, url: str, stream_key: str) -> Destination:
    destination_id = new_id("dst")
    destination = Destination(
        user_pk(user_id),
        DESTINATION_PREFIX + destination_id,
        destination_id=destination_id,
        type=RTMP,
        name=name,
        url=validate_ingest_url(url),
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


def delete_destination(user_id: str, destination_id: str, in_use: bool) -> None:
    destination = get_destination(user_id, destination_id)
    if in_use:
        raise InvalidState(f"destination {destination_id} is used by an active stream; stop the stream first")
    destination.delete()


def resolve_ingest(user_id: str, destination_id: str) -> Ingest:
    destination = get_destination(user_id, destination_id)
    key = crypto.decrypt(bytes(destination.stream_key_ciphertext), user_id, destination_id)
    return Ingest(destination_id, f"{destination.url}/{key}", key)
