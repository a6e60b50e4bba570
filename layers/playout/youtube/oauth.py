"""Connecting a YouTube channel: Google's OAuth 2.0 authorization-code flow with PKCE, for offline access
(google-auth-oauthlib's Flow does the protocol; nothing here speaks HTTP to Google by hand but the revoke,
which no Google library offers).

The round trip leaves the signed-in SPA for Google and comes back to a public callback without the user's
token, so the `state` carries the binding: a random value whose item (pk `OAUTH_STATE#<state>`) names the
user and keeps the PKCE verifier for 10 minutes. The callback consumes it with one conditional delete, so a
state works once, only before it expires, and only for the user who asked.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import requests
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from pynamodb.exceptions import DeleteError

from playout.models import OAuthState, utcnow

SCOPES: Final = ("https://www.googleapis.com/auth/youtube",)
STATE_LIFETIME: Final = timedelta(minutes=10)
GOOGLE_AUTH_URI: Final = "https://accounts.google.com/o/oauth2/auth"
GOOGLE_TOKEN_URI: Final = "https://oauth2.googleapis.com/token"  # noqa: S105  (an endpoint, not a secret)
GOOGLE_REVOKE_URI: Final = "https://oauth2.googleapis.com/revoke"
_HTTP_TIMEOUT_S: Final = 20


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

    def credentials(self, refresh_token: str) -> Credentials:
        """Credentials that get (and refresh) their own access token from `refresh_token`."""
        return Credentials(
            token=None,
            refresh_token=refresh_token,
            token_uri=self.token_uri,
            client_id=self.client_id,
            client_secret=self.client_secret,
            scopes=list(SCOPES),
        )


class ConnectRefused(Exception):
    """The round trip came back without a grant; `outcome` says why, for the SPA."""

    def __init__(self, outcome: str, message: str) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message


def authorization_url(client: GoogleOAuthClient, user_id: str, now: datetime | None = None) -> str:
    """Google's consent page for `user_id`: offline access (a refresh token), the consent prompt every time
    (Google sends a refresh token only on consent), PKCE S256, and a single-use state."""
    now = now or utcnow()
    flow = client._flow(autogenerate_code_verifier=True)
    state = secrets.token_urlsafe(32)
    url, _ = flow.authorization_url(
        access_type="offline", prompt="consent", include_granted_scopes="true", state=state
    )
    OAuthState(
        OAuthState.key_of(state),
        OAuthState.SK,
        user_id=user_id,
        code_verifier=str(flow.code_verifier),
        expires_at=now + STATE_LIFETIME,
    ).save(condition=OAuthState.pk.does_not_exist())
    return str(url)


def consume_state(state: str, now: datetime | None = None) -> OAuthState:
    """The state's item, deleted so that it cannot be used again; ConnectRefused if it is unknown (forged or
    already used) or expired (DynamoDB's TTL deletes late, so expiry is checked here)."""
    now = now or utcnow()
    if not state or len(state) > 128:
        raise ConnectRefused("expired", "this YouTube connection link is not valid; start again")
    connection = OAuthState._get_connection()
    try:
        deleted = connection.delete_item(
            OAuthState.key_of(state),
            OAuthState.SK,
            condition=OAuthState.pk.exists() & (OAuthState.expires_at > now),
            return_values="ALL_OLD",
        )
    except DeleteError:
        raise ConnectRefused(
            "expired", "this YouTube connection link has expired or was already used; start again"
        ) from None
    return OAuthState.from_raw_data(deleted["Attributes"])


def exchange_code(client: GoogleOAuthClient, state: OAuthState, code: str) -> Credentials:
    """The grant for `code`, checked with the state's PKCE verifier; ConnectRefused if Google refuses it or
    gives no refresh token."""
    flow = client._flow(code_verifier=state.code_verifier, autogenerate_code_verifier=False)
    try:
        flow.fetch_token(code=code, timeout=_HTTP_TIMEOUT_S)
    except Exception as error:  # oauthlib's errors (invalid_grant, ...) and the transport's
        raise ConnectRefused(
            "failed", f"Google did not accept the sign-in ({type(error).__name__})"
        ) from None
    credentials = flow.credentials
    if not credentials.refresh_token:
        raise ConnectRefused("failed", "Google gave no offline access; connect again and allow it")
    return credentials


def revoke(client: GoogleOAuthClient, token: str) -> bool:
    """Revokes a grant at Google (its refresh token, and so every access token made from it). True if Google
    took it or had already forgotten it."""
    response = requests.post(
        client.revoke_uri,
        data={"token": token},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=_HTTP_TIMEOUT_S,
    )
    return response.status_code == 200 or (response.status_code == 400 and "invalid_token" in response.text)
