"""The tokens local mode's sign-in handed out, and the sessions they belong to.

moto signs the tokens of every user pool with one private key that ships inside moto
(moto/cognitoidp/resources/jwks-private.json.gz), so anyone on the machine can sign a token for any user that
passes every check of the JWT authorizer. The gateway therefore also requires that its own Cognito proxy
handed out this very token (its SHA-256 is kept, never the token) and that its session is still open.

A session begins with a sign-in (its refresh token names it) and holds the tokens of that sign-in and of
every refresh with its refresh token. RevokeToken ends that session; GlobalSignOut ends all of the user's
sessions, as does DeleteUser. Real Cognito keeps honouring an access token at API Gateway until it expires
after a sign-out; here it stops at once, which only makes local mode stricter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

SIGNED_TOKENS: Final = ("AccessToken", "IdToken")


@dataclass(frozen=True)
class _Issued:
    user: str  # the token's `sub`
    session: str  # the digest of the session's refresh token
    expires_at: float


class IssuedTokens:
    """What the Cognito proxy handed out, by digest; safe to share between the gateway's threads."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, _Issued] = {}
        self._sessions: dict[str, str] = {}  # open session -> its user
        self._ended: set[str] = set()  # sessions ended: their refresh tokens are refused

    def record(self, result: Mapping[str, Any], refresh_token: str | None = None) -> None:
        """An `AuthenticationResult` as the user pool answered a sign-in (it names a new refresh token) or a
        refresh with `refresh_token` (its tokens join that token's session)."""
        new_refresh_token = result.get("RefreshToken")
        session_token = new_refresh_token if isinstance(new_refresh_token, str) else refresh_token
        now = self._clock()
        issued: dict[str, _Issued] = {}
        for name in SIGNED_TOKENS:
            token = result.get(name)
            if not isinstance(token, str):
                continue
            claims = unverified_claims(token)
            user = str(claims.get("sub", ""))
            session = _digest(session_token) if session_token else _digest(token)
            issued[_digest(token)] = _Issued(user, session, _expiry(claims, result, now))
        with self._lock:
            if session_token and _digest(session_token) in self._ended:
                return  # a refresh that raced its session's end
            self._tokens = {digest: t for digest, t in self._tokens.items() if t.expires_at > now}
            self._tokens.update(issued)
            for token_issued in issued.values():
                self._sessions.setdefault(token_issued.session, token_issued.user)

    def holds(self, token: str) -> bool:
        """Whether `token` was handed out here, its session is open and it has not expired."""
        with self._lock:
            issued = self._tokens.get(_digest(token))
        return issued is not None and issued.expires_at > self._clock()

    def end_session(self, refresh_token: str) -> None:
        """RevokeToken: the session of `refresh_token` ends; its tokens stop working, it refreshes no more."""
        session = _digest(refresh_token)
        with self._lock:
            self._end({session})

    def end_sessions_of(self, user: str) -> None:
        """GlobalSignOut, DeleteUser: every session of `user` ends."""
        with self._lock:
            self._end({session for session, owner in self._sessions.items() if owner == user})

    def session_ended(self, refresh_token: str) -> bool:
        with self._lock:
            return _digest(refresh_token) in self._ended

    def _end(self, sessions: set[str]) -> None:
        self._ended.update(sessions)
        for session in sessions:
            self._sessions.pop(session, None)
        self._tokens = {digest: t for digest, t in self._tokens.items() if t.session not in sessions}


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking its signature: for tokens the user pool itself just answered
    with. An empty dict for anything that is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _expiry(claims: Mapping[str, Any], result: Mapping[str, Any], now: float) -> float:
    try:
        return float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        return now + float(result.get("ExpiresIn") or 0)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
