"""What the HTTP API's JWT authorizer does, done locally against the moto user pool's JWKS.

API Gateway checks: a `Bearer` token, an RS256 signature by a key of the issuer's JWKS, `iss`, `aud` (or
`client_id` for access tokens) among the configured audiences, `exp` in the future, `nbf`/`iat` not in the
future. Then what API Gateway cannot know: the token was handed out by local mode's own sign-in, in a session
still open (local/issued_tokens.py), since anyone can sign a token with moto's shipped key.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local.issued_tokens import IssuedTokens

CLOCK_SKEW_S = 5


class Unauthorized(Exception):
    pass


@dataclass(frozen=True)
class Authorization:
    claims: dict[str, str]
    scopes: list[str] | None


class JwtAuthorizer:
    def __init__(
        self,
        jwks_url: str,
        issuer: str,
        audiences: list[str],
        issued: IssuedTokens,
        keys: KeySet | None = None,
    ) -> None:
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._audiences = set(audiences)
        self._issued = issued
        self._keys = keys  # read from `jwks_url` at the first request when not given

    def _key_set(self) -> KeySet:
        if self._keys is None:
            response = requests.get(self._jwks_url, timeout=5)
            response.raise_for_status()
            self._keys = KeySet.import_key_set(response.json())
        return self._keys

    def authorize(self, authorization_header: str | None) -> Authorization:
        if not authorization_header:
            raise Unauthorized("no Authorization header")
        scheme, _, token = authorization_header.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("not a Bearer token")
        try:
            decoded = jwt.decode(token.strip(), self._key_set(), algorithms=["RS256"])
        except (JoseError, ValueError) as error:
            raise Unauthorized(f"invalid token: {type(error).__name__}") from None
        claims: dict[str, Any] = dict(decoded.claims)
        self._check_claims(claims)
        if not self._issued.holds(token.strip()):
            raise Unauthorized("not handed out by local mode's sign-in, or its session ended")
        scope = claims.get("scope")
        return Authorization(
            claims={name: _claim_string(value) for name, value in claims.items()},
            scopes=str(scope).split() if scope else None,
        )

    def _check_claims(self, claims: dict[str, Any]) -> None:
        now = time.time()
        if claims.get("iss") != self._issuer:
            raise Unauthorized("wrong issuer")
        audience = claims.get("aud", claims.get("client_id"))
        audiences = set(audience) if isinstance(audience, list) else {audience}
        if not audiences & self._audiences:
            raise Unauthorized("wrong audience")
        try:
            expires = float(claims["exp"])
        except (KeyError, TypeError, ValueError):
            raise Unauthorized("no expiry") from None
        if expires <= now - CLOCK_SKEW_S:
            raise Unauthorized("expired")
        for name in ("nbf", "iat"):
            if name in claims and float(claims[name]) > now + CLOCK_SKEW_S:
                raise Unauthorized(f"{name} in the future")


def _claim_string(value: Any) -> str:
    """HTTP API hands claims to the integration as strings (numbers, booleans and lists included)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_string(item) for item in value) + "]"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value)
