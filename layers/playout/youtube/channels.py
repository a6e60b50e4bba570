"""A user's connected YouTube channels: each a `youtube` destination.

- connect: the consent page's URL, with a single-use state bound to the user and the browser (oauth.py);
- callback: the code exchanged for a grant, the channel read (channels.list, mine=true), and the destination
  written: one per user and channel (its id is derived from both), so connecting the same channel again
  updates its token and clears `needs_reconnect` instead of adding a second one;
- disconnect: the channel's liveStreams Playout made deleted (their keys stop working), the grant revoked at
  Google, then the destination deleted;
- a refresh answered `invalid_grant` marks the destination `needs_reconnect` until it is connected again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Final

from google.oauth2.credentials import Credentials
from pynamodb.exceptions import UpdateError

from playout import crypto
from playout.errors import InvalidState, PlayoutError
from playout.models import DESTINATION_PREFIX, Destination, user_pk, utcnow
from playout.youtube import oauth
from playout.youtube.api import YouTubeApi, YouTubeCallError
from playout.youtube.endpoints import CHANNEL_URL
from playout.youtube.errors import YouTubeUnavailable
from playout.youtube.google import REFRESH_TOKEN_PURPOSE, GoogleProject
from playout.youtube.oauth import ConnectRefused, ConnectStart, Outcome
from playout.youtube.quota import YouTubeCall

logger = logging.getLogger(__name__)

YOUTUBE: Final = "youtube"
NEEDS_RECONNECT: Final = "needs_reconnect"
READY: Final = "ready"


def destination_id_of(user_id: str, channel_id: str) -> str:
    """The destination of `channel_id` for `user_id`: the same pair always gives the same id (the API's
    `dst_` + 28 hex digits), so connecting a channel twice writes one destination."""
    digest = hashlib.sha256(f"youtube\0{user_id}\0{channel_id}".encode()).hexdigest()
    return f"dst_{digest[:28]}"


def state_of(destination: Destination) -> str:
    return NEEDS_RECONNECT if destination.state == NEEDS_RECONNECT else READY


def public_url_of(destination: Destination) -> str:
    return CHANNEL_URL.format(channel_id=destination.channel_id)


def begin_connect(project: GoogleProject, user_id: str) -> ConnectStart:
    return oauth.authorization_url(project.oauth_client(), user_id, now=project.clock())


@dataclass(frozen=True)
class Connected:
    destination: Destination
    created: bool  # False: a channel connected before, whose grant was replaced


def finish_connect(
    project: GoogleProject,
    *,
    state: str,
    browser_nonce: str | None,
    code: str | None,
    error: str | None,
) -> Connected:
    """The callback's work; ConnectRefused (with the outcome for the SPA) when it ends without a channel."""
    pending = oauth.consume_state(state, browser_nonce, now=project.clock())
    if error or not code:
        # Google's `error=access_denied` (Deny) or anything else it sends back instead of a code.
        raise ConnectRefused(Outcome.DENIED, "the YouTube connection was not allowed; nothing was connected")
    credentials = oauth.exchange_code(project.oauth_client(), pending, code)
    channel = _read_channel(project, credentials)
    return _save_channel(project, str(pending.user_id), channel, str(credentials.refresh_token))


@dataclass(frozen=True)
class ChannelFacts:
    channel_id: str
    title: str
    thumbnail_url: str | None


def _read_channel(project: GoogleProject, credentials: Credentials) -> ChannelFacts:
    api = YouTubeApi(project, credentials)
    try:
        answer = api.execute(
            YouTubeCall.CHANNELS_LIST, api.service.channels().list(part="id,snippet", mine=True)
        )
    except YouTubeCallError as refused:
        raise ConnectRefused(Outcome.FAILED, f"YouTube did not show the channel: {refused.message}") from None
    items: list[dict[str, Any]] = answer.get("items") or []
    if not items:
        raise ConnectRefused(
            Outcome.FAILED,
            "this Google account has no YouTube channel: create one on YouTube, then connect again",
        )
    item = items[0]
    snippet = item.get("snippet") or {}
    thumbnails = snippet.get("thumbnails") or {}
    thumbnail = next(
        (thumbnails[size]["url"] for size in ("medium", "default", "high") if size in thumbnails), None
    )
    return ChannelFacts(str(item["id"]), str(snippet.get("title") or item["id"])[:100], thumbnail)


def _save_channel(
    project: GoogleProject, user_id: str, channel: ChannelFacts, refresh_token: str
) -> Connected:
    destination_id = destination_id_of(user_id, channel.channel_id)
    now = utcnow()
    item = Destination(user_pk(user_id), DESTINATION_PREFIX + destination_id)
    ciphertext = crypto.encrypt(refresh_token, user_id, destination_id, purpose=REFRESH_TOKEN_PURPOSE)
    try:
        item.update(
            actions=[
                Destination.destination_id.set(destination_id),
                Destination.type.set(YOUTUBE),
                Destination.name.set(channel.title),
                Destination.channel_id.set(channel.channel_id),
                Destination.channel_title.set(channel.title),
                Destination.channel_thumbnail_url.set(channel.thumbnail_url)
                if channel.thumbnail_url
                else Destination.channel_thumbnail_url.remove(),
                Destination.refresh_token_ciphertext.set(ciphertext),
                Destination.oauth_client_id.set(project.oauth_client().client_id),
                Destination.state.remove(),
                Destination.connected_at.set(now),
                Destination.created_at.set(Destination.created_at | now),
            ],
            # An rtmp destination can never share the id (its id is random); the type is checked anyway.
            condition=Destination.sk.does_not_exist() | (Destination.type == YOUTUBE),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise ConnectRefused(Outcome.FAILED, "this channel could not be saved; try again") from None
        raise
    project.forget(user_id, destination_id)
    created = item.created_at == now
    logger.info(
        "youtube channel connected",
        extra={"destination_id": destination_id, "channel_id": channel.channel_id, "new": created},
    )
    return Connected(item, created)


def mark_needs_reconnect(user_id: str, destination: Destination) -> None:
    """Google refused the grant (revoked or expired): the channel must be connected again. Conditional on
    the grant still being the one that failed, so a reconnect that happened meanwhile is kept."""
    try:
        destination.update(
            actions=[Destination.state.set(NEEDS_RECONNECT)],
            condition=Destination.refresh_token_ciphertext == destination.refresh_token_ciphertext,
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        return
    logger.warning(
        "youtube grant refused: needs reconnect", extra={"destination_id": destination.destination_id}
    )


def _delete_live_streams(project: GoogleProject, user_id: str, destination: Destination) -> None:
    """Best effort: a key left on the channel would still take a stream, but a disconnect must not wait on
    YouTube's quota or a stream the user deleted already; what could not be deleted is logged."""
    made = [i for i in (destination.live_stream_id, destination.spare_live_stream_id) if i]
    if not made or destination.state == NEEDS_RECONNECT:
        return
    try:
        api = YouTubeApi(project, project.credentials_for(user_id, destination))
    except PlayoutError as error:
        logger.warning("youtube liveStreams left on the channel", extra={"reason": error.message})
        return
    for live_stream_id in made:
        try:
            api.execute(
                YouTubeCall.STREAMS_DELETE, api.service.liveStreams().delete(id=live_stream_id), cleanup=True
            )
        except PlayoutError as error:
            logger.warning(
                "youtube liveStream left on the channel",
                extra={"live_stream_id": live_stream_id, "reason": error.message},
            )


def revoke_and_delete(project: GoogleProject, user_id: str, destination: Destination, in_use: bool) -> None:
    """Disconnects a channel: its grant revoked at Google (then every token of it is dead), then the
    destination deleted. Google unreachable: 503 and nothing deleted, so that the user can try again."""
    if in_use:
        raise InvalidState(
            f"destination {destination.destination_id} is used by an active stream; stop the stream first"
        )
    if destination.refresh_token_ciphertext:
        _delete_live_streams(project, user_id, destination)
        refresh_token = crypto.decrypt(
            bytes(destination.refresh_token_ciphertext),
            user_id,
            str(destination.destination_id),
            purpose=REFRESH_TOKEN_PURPOSE,
        )
        if not oauth.revoke(project.oauth_client(), refresh_token):
            raise YouTubeUnavailable("Google could not be reached to revoke the channel's access; try again")
    destination.delete()
    project.forget(user_id, str(destination.destination_id))
