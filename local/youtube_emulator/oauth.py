"""Google's OAuth 2.0 authorization server for web server apps: clients, accounts, consent, codes, tokens.

As Google does it: the redirect URI must be one registered for the client, exactly; a code is single use
and lives 10 minutes; PKCE (`S256` or `plain`) binds it to the verifier; `access_type=offline` gives a
refresh token on the first consent of an account to a client, and on every consent with `prompt=consent`;
a refresh answers no new refresh token; revoking any token of a grant revokes the grant (all its tokens).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode

from local.youtube_emulator.errors import AuthorizationRequestError, OAuthError

CODE_LIFETIME_S: Final = 600
CONSENT_LIFETIME_S: Final = 600  # how long a consent page can be answered
DEFAULT_ACCESS_TOKEN_LIFETIME_S: Final = 3600
_SCOPE_ROOT: Final = "https://www.googleapis.com/auth/"
YOUTUBE: Final = _SCOPE_ROOT + "youtube"
YOUTUBE_FORCE_SSL: Final = _SCOPE_ROOT + "youtube.force-ssl"
YOUTUBE_READONLY: Final = _SCOPE_ROOT + "youtube.readonly"
YOUTUBE_UPLOAD: Final = _SCOPE_ROOT + "youtube.upload"
# What each scope lets the user see on the consent page (Google's wording, shortened).
KNOWN_SCOPES: Final = {
    YOUTUBE: "Manage your YouTube account",
    YOUTUBE_FORCE_SSL: "See, edit and permanently delete your YouTube videos, ratings, comments and captions",
    YOUTUBE_READONLY: "View your YouTube account",
    YOUTUBE_UPLOAD: "Manage your YouTube videos",
    _SCOPE_ROOT + "youtubepartner": "View and manage your assets and associated content on YouTube",
    _SCOPE_ROOT + "userinfo.email": "See your primary Google Account email address",
    _SCOPE_ROOT
    + "userinfo.profile": "See your personal info, including any personal info you've made public",
    "openid": "Associate you with your personal info on Google",
    "email": "See your primary Google Account email address",
    "profile": "See your personal info, including any personal info you've made public",
}
PKCE_METHODS: Final = ("S256", "plain")
# The secrets the server hands out, by kind: `GoogleAccounts.issued()` lists every one, for a test that proves
# none of them leaked.
ISSUED_KINDS: Final = ("client_secrets", "authorization_codes", "access_tokens", "refresh_tokens")


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    name: str = "Playout"

    @property
    def project(self) -> str:
        """The Google Cloud project the client belongs to: its number, the client id's first part."""
        return self.client_id.split("-", 1)[0]


@dataclass(frozen=True)
class Account:
    """A Google account that owns a YouTube channel."""

    email: str
    channel_id: str


@dataclass(frozen=True)
class PendingConsent:
    consent_id: str
    client: OAuthClient
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    offline: bool
    prompt_consent: bool
    expires_at: float


@dataclass
class AuthorizationCode:
    code: str
    consent: PendingConsent
    account: Account
    expires_at: float
    used: bool = False


@dataclass
class Grant:
    """What one account allowed one client: the scopes, and every token issued under it."""

    grant_id: str
    client_id: str
    account: Account
    scopes: tuple[str, ...]
    refresh_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


@dataclass
class AccessToken:
    token: str
    grant: Grant
    expires_at: float

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.grant.scopes

    @property
    def client_id(self) -> str:
        return self.grant.client_id

    @property
    def account(self) -> Account:
        return self.grant.account


def new_client(redirect_uris: tuple[str, ...], name: str = "Playout") -> OAuthClient:
    project = str(100000000000 + secrets.randbelow(900000000000))
    return OAuthClient(
        client_id=f"{project}-{secrets.token_hex(16)}.apps.googleusercontent.com",
        client_secret="GOCSPX-" + secrets.token_urlsafe(21),
        redirect_uris=redirect_uris,
        name=name,
    )


def code_challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class GoogleAccounts:
    """The authorization server. Thread-safe; `clock` gives epoch seconds."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        access_token_lifetime_s: int = DEFAULT_ACCESS_TOKEN_LIFETIME_S,
    ) -> None:
        self._clock = clock
        self.access_token_lifetime_s = access_token_lifetime_s
        self._lock = threading.RLock()
        self.clients: dict[str, OAuthClient] = {}
        self.accounts: dict[str, Account] = {}
        self._consents: dict[str, PendingConsent] = {}
        self._codes: dict[str, AuthorizationCode] = {}
        self._grants: list[Grant] = []
        self._refresh_tokens: dict[str, Grant] = {}
        self._access_tokens: dict[str, AccessToken] = {}
        self._issued: dict[str, list[str]] = {kind: [] for kind in ISSUED_KINDS}  # reset() keeps it

    def add_client(self, client: OAuthClient) -> OAuthClient:
        with self._lock:
            self.clients[client.client_id] = client
            self._issued["client_secrets"].append(client.client_secret)
        return client

    def add_account(self, account: Account) -> Account:
        with self._lock:
            self.accounts[account.email] = account
        return account

    # --- the authorization endpoint ---

    def begin(self, query: Mapping[str, str]) -> PendingConsent:
        """Checks an authorization request as Google does before it shows its consent screen."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            raise AuthorizationRequestError("invalid_client", "The OAuth client was not found.", 401)
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise AuthorizationRequestError(
                "redirect_uri_mismatch",
                f"You can't sign in to this app because it doesn't comply with Google's OAuth 2.0 policy. "
                f"If you're the app developer, register the redirect URI in the Google Cloud Console. "
                f"Request details: redirect_uri={redirect_uri}",
            )
        if query.get("response_type") != "code":
            raise AuthorizationRequestError(
                "unsupported_response_type", f"Invalid response_type: {query.get('response_type', '')}"
            )
        scopes = tuple(query.get("scope", "").split())
        if not scopes:
            raise AuthorizationRequestError("invalid_request", "Missing required parameter: scope")
        unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
        if unknown:
            raise AuthorizationRequestError(
                "invalid_scope", f"Some requested scopes were invalid. {{invalid={unknown}}}"
            )
        challenge = query.get("code_challenge") or None
        method = query.get("code_challenge_method") or ("plain" if challenge else None)
        if method is not None and (method not in PKCE_METHODS or challenge is None):
            raise AuthorizationRequestError("invalid_request", f"Invalid code_challenge_method: {method}")
        access_type = query.get("access_type", "online")
        if access_type not in ("online", "offline"):
            raise AuthorizationRequestError("invalid_request", f"Invalid access_type: {access_type}")
        consent = PendingConsent(
            consent_id=secrets.token_urlsafe(18),
            client=client,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=query.get("state"),
            code_challenge=challenge,
            code_challenge_method=method,
            offline=access_type == "offline",
            prompt_consent="consent" in query.get("prompt", "").split(),
            expires_at=self._clock() + CONSENT_LIFETIME_S,
        )
        with self._lock:
            self._consents[consent.consent_id] = consent
        return consent

    def decide(self, consent_id: str, account_email: str, allow: bool) -> str:
        """The user's answer on the consent page: where the browser is sent back to (a single use)."""
        with self._lock:
            consent = self._consents.pop(consent_id, None)
            if consent is None or consent.expires_at <= self._clock():
                raise AuthorizationRequestError(
                    "invalid_request", "This consent page has expired or was already answered."
                )
            answer: dict[str, str] = {}
            if consent.state is not None:
                answer["state"] = consent.state
            if not allow:
                return _with_query(consent.redirect_uri, {"error": "access_denied", **answer})
            account = self.accounts.get(account_email)
            if account is None:
                raise AuthorizationRequestError("invalid_request", f"No account {account_email}")
            code = AuthorizationCode(
                code="4/0" + secrets.token_urlsafe(54),
                consent=consent,
                account=account,
                expires_at=self._clock() + CODE_LIFETIME_S,
            )
            self._codes[code.code] = code
            self._issued["authorization_codes"].append(code.code)
        answer |= {"code": code.code, "scope": " ".join(consent.scopes), "authuser": "0", "prompt": "consent"}
        return _with_query(consent.redirect_uri, answer)

    def consent_page_accounts(self) -> list[Account]:
        with self._lock:
            return list(self.accounts.values())

    # --- the token endpoint ---

    def authenticate_client(self, form: Mapping[str, str], basic: tuple[str, str] | None) -> OAuthClient:
        """client_secret_basic (requests-oauthlib's default) or client_secret_post (google-auth's)."""
        client_id, secret = (
            basic if basic is not None else (form.get("client_id", ""), form.get("client_secret"))
        )
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        if secret is None or not hmac.compare_digest(secret, client.client_secret):
            raise OAuthError("invalid_client", "Unauthorized", 401)
        return client

    def token(self, client: OAuthClient, form: Mapping[str, str]) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._exchange_code(client, form)
        if grant_type == "refresh_token":
            return self._refresh(client, form)
        if not grant_type:
            raise OAuthError("unsupported_grant_type", "Invalid grant_type: ")
        raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _exchange_code(self, client: OAuthClient, form: Mapping[str, str]) -> dict[str, Any]:
        if not form.get("code"):
            raise OAuthError("invalid_request", "Missing required parameter: code")
        with self._lock:
            code = self._codes.get(form["code"])
            if code is None:
                raise OAuthError("invalid_grant", "Malformed auth code.")
            if (
                code.used
                or code.expires_at <= self._clock()
                or code.consent.client.client_id != client.client_id
            ):
                raise OAuthError("invalid_grant", "Bad Request")
            consent = code.consent
            if form.get("redirect_uri") != consent.redirect_uri:
                raise OAuthError("redirect_uri_mismatch", "Bad Request")
            if consent.code_challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier:
                    raise OAuthError("invalid_grant", "Missing code verifier.")
                assert consent.code_challenge_method is not None
                expected = code_challenge(verifier, consent.code_challenge_method)
                if not hmac.compare_digest(expected, consent.code_challenge):
                    raise OAuthError("invalid_grant", "Invalid code verifier.")
            code.used = True
            grant = self._grant_for(client, code.account, consent.scopes)
            answer = self._issue_access_token(grant)
            first_offline_grant = not any(
                g.refresh_tokens
                for g in self._grants
                if g is not grant
                and g.client_id == client.client_id
                and g.account == code.account
                and not g.revoked
            )
            if consent.offline and (consent.prompt_consent or first_offline_grant):
                refresh_token = "1//0" + secrets.token_urlsafe(72)
                grant.refresh_tokens.add(refresh_token)
                self._refresh_tokens[refresh_token] = grant
                self._issued["refresh_tokens"].append(refresh_token)
                answer["refresh_token"] = refresh_token
            return answer

    def _grant_for(self, client: OAuthClient, account: Account, scopes: tuple[str, ...]) -> Grant:
        grant = Grant(secrets.token_hex(8), client.client_id, account, scopes)
        self._grants.append(grant)
        return grant

    def _refresh(self, client: OAuthClient, form: Mapping[str, str]) -> dict[str, Any]:
        with self._lock:
            grant = self._refresh_tokens.get(form.get("refresh_token", ""))
            if grant is None or grant.revoked:
                raise OAuthError("invalid_grant", "Token has been expired or revoked.")
            if grant.client_id != client.client_id:
                raise OAuthError("unauthorized_client", "Unauthorized")
            asked = form.get("scope", "").split()
            if any(scope not in grant.scopes for scope in asked):
                raise OAuthError("invalid_scope", "Bad Request")
            return self._issue_access_token(grant)

    def _issue_access_token(self, grant: Grant) -> dict[str, Any]:
        token = AccessToken(
            token="ya29.a0" + secrets.token_urlsafe(96),
            grant=grant,
            expires_at=self._clock() + self.access_token_lifetime_s,
        )
        self._access_tokens[token.token] = token
        self._issued["access_tokens"].append(token.token)
        return {
            "access_token": token.token,
            "expires_in": self.access_token_lifetime_s,
            "scope": " ".join(grant.scopes),
            "token_type": "Bearer",
        }

    # --- the revoke endpoint, and what the API checks ---

    def revoke(self, token: str) -> None:
        with self._lock:
            grant = self._refresh_tokens.get(token)
            if grant is None and token in self._access_tokens:
                access = self._access_tokens[token]
                grant = access.grant if access.expires_at > self._clock() else None
            if grant is None or grant.revoked:
                raise OAuthError("invalid_token", "Token expired or revoked")
            grant.revoked = True

    def access(self, token: str) -> AccessToken | None:
        """The live access token `token` is, or None (unknown, expired, or of a revoked grant)."""
        with self._lock:
            access = self._access_tokens.get(token)
            if access is None or access.grant.revoked or access.expires_at <= self._clock():
                return None
            return access

    # --- test controls ---

    def issued(self) -> dict[str, list[str]]:
        """Every secret handed out since the start (a reset forgets the grants, not this record), by kind."""
        with self._lock:
            return {kind: list(values) for kind, values in self._issued.items()}

    def expire_access_tokens(self) -> int:
        with self._lock:
            now = self._clock()
            live = [token for token in self._access_tokens.values() if token.expires_at > now]
            for token in live:
                token.expires_at = now
            return len(live)

    def revoke_grants(self, *, channel_id: str | None = None, refresh_token: str | None = None) -> int:
        """Revokes what the user would remove in their Google account's third-party access page."""
        with self._lock:
            revoked = 0
            for grant in self._grants:
                if grant.revoked:
                    continue
                if refresh_token is not None and refresh_token not in grant.refresh_tokens:
                    continue
                if channel_id is not None and grant.account.channel_id != channel_id:
                    continue
                grant.revoked = True
                revoked += 1
            return revoked

    def reset(self) -> None:
        with self._lock:
            self._consents.clear()
            self._codes.clear()
            self._grants.clear()
            self._refresh_tokens.clear()
            self._access_tokens.clear()


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)
