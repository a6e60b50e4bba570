"""The Google Cloud project Playout talks to YouTube as: its OAuth client (id and secret), where Google
answers, the HTTP every call goes through (a timeout; the emulator's authority in local mode only), the quota
ledger of the project, and the YouTube API client of a connected channel.

Built once per process from `playout.settings.YouTubeSettings` at the edge (the API, the scheduled start,
the stream task) and passed down. The client's secret is read when first needed, not at a cold start: in AWS
from Secrets Manager through Powertools' parameters (cached five minutes), locally from the environment.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Final

import httplib2
from google.oauth2.credentials import Credentials

from playout import crypto
from playout.errors import PlayoutError
from playout.models import Destination, utcnow
from playout.settings import YouTubeSettings
from playout.youtube.endpoints import CALLBACK_PATH
from playout.youtube.oauth import SCOPES, GoogleOAuthClient
from playout.youtube.quota import QuotaLedger

REFRESH_TOKEN_PURPOSE: Final = "youtube_refresh_token"  # noqa: S105  (a KMS context value, not a secret)
SECRET_MAX_AGE_S: Final = 300


class YouTubeNotConfigured(PlayoutError):
    status = 503
    code = "youtube_not_configured"


@dataclass
class GoogleProject:
    settings: YouTubeSettings
    app_origin: str = ""  # the SPA's origin: the redirect URI is its /api/youtube/callback
    clock: Callable[[], datetime] = utcnow
    _client: GoogleOAuthClient | None = field(default=None, init=False, repr=False)
    _client_read_at: float = field(default=0.0, init=False, repr=False)  # monotonic
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    # A channel's credentials (and the access token they hold) for as long as this process lives: a warm
    # Lambda or the stream task refreshes an access token once an hour, not at every call.
    _credentials: dict[tuple[str, str], Credentials] = field(default_factory=dict, init=False, repr=False)

    @property
    def configured(self) -> bool:
        return self.settings.configured

    @property
    def redirect_uri(self) -> str:
        return self.app_origin + CALLBACK_PATH

    def oauth_client(self) -> GoogleOAuthClient:
        """The OAuth client, read again every SECRET_MAX_AGE_S: a secret rotated in Secrets Manager reaches
        warm Lambdas and running tasks within minutes (with the channels' credentials made again)."""
        now = self.monotonic()
        if self._client is not None and now - self._client_read_at < SECRET_MAX_AGE_S:
            return self._client
        try:
            client_id, client_secret = self._client_credentials()
        except YouTubeNotConfigured:
            if self._client is None:
                raise
            client_id, client_secret = self._client.client_id, self._client.client_secret  # read it later
        self._client_read_at = now
        if self._client is None or (self._client.client_id, self._client.client_secret) != (
            client_id,
            client_secret,
        ):
            self._credentials.clear()
            self._client = GoogleOAuthClient(
                client_id=client_id,
                client_secret=client_secret,
                redirect_uri=self.redirect_uri,
                auth_uri=self.settings.auth_uri,
                token_uri=self.settings.token_uri,
                revoke_uri=self.settings.revoke_uri,
                verify=self.verify,
                timeout_s=self.settings.http_timeout_s,
            )
        return self._client

    def _client_credentials(self) -> tuple[str, str]:
        settings = self.settings
        if settings.client_secret_name:
            from aws_lambda_powertools.utilities import parameters

            try:
                secret: Any = parameters.get_secret(
                    settings.client_secret_name, transform="json", max_age=SECRET_MAX_AGE_S
                )
                return str(secret["client_id"]), str(secret["client_secret"])
            except (parameters.exceptions.GetParameterError, parameters.exceptions.TransformParameterError):
                raise YouTubeNotConfigured(
                    "YouTube's OAuth client could not be read from Secrets Manager; an administrator must "
                    f"store it in {settings.client_secret_name} as JSON: client_id, client_secret"
                ) from None
            except (KeyError, TypeError):
                raise YouTubeNotConfigured(
                    f"the secret {settings.client_secret_name} must be JSON with client_id and client_secret"
                ) from None
        if settings.client_id:
            return settings.client_id, settings.client_secret.get_secret_value()
        raise YouTubeNotConfigured(
            "YouTube is not set up on this installation: an administrator must give it a Google OAuth client"
        )

    @property
    def verify(self) -> str | bool:
        """What requests trusts (google-auth-oauthlib's code exchange, the revoke)."""
        return self.settings.ca_bundle or True

    def http(self) -> httplib2.Http:
        """A new httplib2 client (not thread-safe: one per API client) with the timeout, trusting the
        emulator's authority where local mode says so, the system's otherwise."""
        return httplib2.Http(timeout=self.settings.http_timeout_s, ca_certs=self.settings.ca_bundle or None)

    def ledger(self) -> QuotaLedger:
        """The project's ledger: Google counts quota per Cloud project; its OAuth client names it here."""
        return QuotaLedger(
            self.oauth_client().client_id, daily_limit=self.settings.daily_quota_units, clock=self.clock
        )

    # --- a connected channel ---

    def credentials_for(self, user_id: str, destination: Destination) -> Credentials:
        """The channel's credentials from its stored refresh token: google-auth gets an access token, and a
        new one when Google answers 401, by itself."""
        ciphertext = bytes(destination.refresh_token_ciphertext or b"")
        key = (f"{user_id}/{destination.destination_id}", hashlib.sha256(ciphertext).hexdigest())
        cached = self._credentials.get(key)
        if cached is not None:
            return cached
        refresh_token = crypto.decrypt(
            ciphertext, user_id, str(destination.destination_id), purpose=REFRESH_TOKEN_PURPOSE
        )
        client = self.oauth_client()
        credentials = Credentials(
            token=None,
            refresh_token=refresh_token,
            token_uri=client.token_uri,
            client_id=client.client_id,
            client_secret=client.client_secret,
            scopes=list(SCOPES),
        )
        self._credentials = {k: v for k, v in self._credentials.items() if k[0] != key[0]}
        self._credentials[key] = credentials
        return credentials

    def forget(self, user_id: str, destination_id: str) -> None:
        owner = f"{user_id}/{destination_id}"
        self._credentials = {k: v for k, v in self._credentials.items() if k[0] != owner}


@lru_cache(maxsize=4)
def project_for(settings: YouTubeSettings, app_origin: str = "") -> GoogleProject:
    """The project for these settings, one per process (settings are frozen: new settings, a new project)."""
    return GoogleProject(settings, app_origin)
