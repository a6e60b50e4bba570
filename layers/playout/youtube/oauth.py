"""Connecting a YouTube channel: Google's OAuth 2.0 authorization-code flow with PKCE, for offline access
(google-auth-oauthlib's Flow does the protocol; nothing here speaks HTTP to Google by hand but the revoke,
which no Google library offers).

The round trip leaves the signed-in SPA for Google and comes back to a public callback without the user's
token, so the `state` carries the binding: a random value whose item (pk `OAUTH_STATE#<state>`) names the
user and keeps the PKCE verifier for 10 minutes. The callback consumes it with one conditional delete, so a
state works once, only before it expires, and only in the browser that asked for it: the connect answer sets
a cookie holding a nonce whose hash the state item keeps, and a callback that does not bring it back (a link
to someone else's consent, sent to a victim: the classic CSRF of account linking) is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import requests
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from pynamodb.exceptions import DeleteError

from playout.models import OAuthState, utcnow
from playout.youtube.endpoints import GOOGLE_AUTH_URI, GOOGLE_REVOKE_URI, GOOGLE_TOKEN_URI

SCOPES: Final = ("https://www.googleapis.com/auth/youtube",)
STATE_LIFETIME: Final = timedelta(minutes=10)
MAX_STATE_LENGTH: Final = 128


class Outcome:
    """What the callback tells the SPA (in the fragment of the URL it sends the browser to)."""

    CONNECTED = "connected"
    DENIED = "denied"  # the person clicked Deny (or Google gave no code)
    EXPIRED = "expired"  # an unknown, used or expired state: a replay, a stale tab, a forged link
    FAILED = "failed"  # a state of another browser, or Google refused the code, or no channel


@dataclass(frozen=True)
class GoogleOAuthClient:
    """The Google Cloud project's OAuth client (a "Web application" client) and where Google's endpoints
    are: Google's own, or local mode's emulator."""

    client_id: str
    client_secret: str = ""
    redirect_uri: str = ""  # this installation's /api/youtube/callback, registered on the client
    auth_uri: str = GOOGLE_AUTH_URI
    token_uri: str = GOOGLE_TOKEN_URI
    revoke_uri: str = GOOGLE_REVOKE_URI
    verify: str | bool = True  # requests' `verify`: a CA bundle in local mode
    timeout_s: float = 20.0

    def _flow(self, **kwargs: Any) -> Flow:
        config = {
            "web": {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
                "redirect_uris": [self.redirect_uri],
            }
        }
        return Flow.from_client_config(config, scopes=list(SCOPES), redirect_uri=self.redirect_uri, **kwargs)


class ConnectRefused(Exception):
    """The round trip came back without a grant; `outcome` says why, for the SPA."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


@dataclass(frozen=True)
class ConnectStart:
    authorization_url: str
    browser_nonce: str  # for the cookie of the browser that asked; never stored as it is


def binding_of(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def authorization_url(client: GoogleOAuthClient, user_id: str, now: datetime | None = None) -> ConnectStart:
    """Google's consent page for `user_id`: offline access (a refresh token), the consent prompt every time
    (Google sends a refresh token only on consent), PKCE S256, and a single-use state bound to the browser."""
    now = now or utcnow()
    flow = client._flow(autogenerate_code_verifier=True)
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    url, _ = flow.authorization_url(access_type="offline", prompt="consent", state=state)
    OAuthState(
        OAuthState.key_of(state),
        OAuthState.SK,
        user_id=user_id,
        code_verifier=str(flow.code_verifier),
        browser_binding=binding_of(nonce),
        expires_at=now + STATE_LIFETIME,
    ).save(condition=OAuthState.pk.does_not_exist())
    return ConnectStart(str(url), nonce)


def consume_state(state: str, browser_nonce: str | None, now: datetime | None = None) -> OAuthState:
    """The state's item, deleted so that it cannot be used again; ConnectRefused if it is unknown (forged or
    already used), expired (DynamoDB's TTL deletes late, so expiry is checked here), or of another browser
    (then it is left for its own browser)."""
    now = now or utcnow()
    if not state or len(state) > MAX_STATE_LENGTH:
        raise ConnectRefused(Outcome.EXPIRED, "this YouTube connection link is not valid; start again")
    binding = binding_of(browser_nonce or "")
    connection = OAuthState._get_connection()
    try:
        deleted = connection.delete_item(
            OAuthState.key_of(state),
            OAuthState.SK,
            condition=OAuthState.pk.exists()
            & (OAuthState.expires_at > now)
            & (OAuthState.browser_binding == binding),
            return_values="ALL_OLD",
        )
    except DeleteError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
    else:
        return OAuthState.from_raw_data(deleted["Attributes"])
    try:
        found = OAuthState.get(OAuthState.key_of(state), OAuthState.SK, consistent_read=True)
    except OAuthState.DoesNotExist:
        found = None
    if found is not None and found.expires_at > now and found.browser_binding != binding:
        raise ConnectRefused(
            Outcome.FAILED,
            "this YouTube connection was started in another browser or by another account; "
            "connect the channel again from Playout",
        )
    raise ConnectRefused(
        Outcome.EXPIRED, "this YouTube connection link has expired or was already used; start again"
    )


def exchange_code(client: GoogleOAuthClient, state: OAuthState, code: str) -> Credentials:
    """The grant for `code`, checked with the state's PKCE verifier; ConnectRefused if Google refuses it or
    gives no refresh token."""
    flow = client._flow(code_verifier=state.code_verifier, autogenerate_code_verifier=False)
    try:
        flow.fetch_token(code=code, timeout=client.timeout_s, verify=client.verify)
    except Exception as error:  # oauthlib's errors (invalid_grant, ...) and the transport's
        raise ConnectRefused(
            Outcome.FAILED, f"Google did not accept the sign-in ({type(error).__name__}); try again"
        ) from None
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise ConnectRefused(Outcome.FAILED, "Google gave no offline access; connect again and allow it")
    return credentials


def revoke(client: GoogleOAuthClient, token: str) -> bool:
    """Revokes a grant at Google (its refresh token, and so every access token made from it). True if Google
    took it or had already forgotten it; False if Google could not be asked (the caller may try again)."""
    try:
        response = requests.post(
            client.revoke_uri,
            data={"token": token},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=client.timeout_s,
            verify=client.verify,
        )
    except requests.RequestException:
        return False
    return response.status_code == 200 or (response.status_code == 400 and "invalid_token" in response.text)
