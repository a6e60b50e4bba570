"""The local JWT authorizer: the HTTP API authorizer's checks, then the gateway's own: the token was handed
out by local mode's sign-in. Every token here is recorded as handed out, so that each check is seen alone."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from local.auth import JwtAuthorizer, Unauthorized
from local.issued_tokens import IssuedTokens

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_local"
CLIENT_ID = "web-client"
POOL_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "pool"})


def _token(key: RSAKey = POOL_KEY, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "alice",
        "aud": CLIENT_ID,
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "email_verified": True,
    }
    claims.update(overrides)
    return jwt.encode(
        {"alg": "RS256", "kid": "pool"}, {k: v for k, v in claims.items() if v is not None}, key
    )


@pytest.fixture
def issued() -> IssuedTokens:
    return IssuedTokens()


@pytest.fixture
def authorizer(issued: IssuedTokens) -> JwtAuthorizer:
    return JwtAuthorizer("http://unused/jwks.json", ISSUER, [CLIENT_ID], issued, keys=KeySet([POOL_KEY]))


def _handed_out(issued: IssuedTokens, token: str) -> str:
    issued.record({"IdToken": token, "RefreshToken": str(uuid.uuid4())})
    return f"Bearer {token}"


def test_a_token_handed_out_passes_with_its_claims_as_strings(
    authorizer: JwtAuthorizer, issued: IssuedTokens
) -> None:
    authorization = authorizer.authorize(_handed_out(issued, _token()))
    assert authorization.claims["sub"] == "alice"
    assert authorization.claims["email_verified"] == "true"
    assert authorization.scopes is None


def test_an_access_token_passes_by_client_id_with_its_scopes(
    authorizer: JwtAuthorizer, issued: IssuedTokens
) -> None:
    token = _token(aud=None, client_id=CLIENT_ID, token_use="access", scope="aws.cognito.signin.user.admin")
    assert authorizer.authorize(_handed_out(issued, token)).scopes == ["aws.cognito.signin.user.admin"]


def test_a_well_signed_token_never_handed_out_is_refused(authorizer: JwtAuthorizer) -> None:
    with pytest.raises(Unauthorized, match="not handed out by local mode's sign-in"):
        authorizer.authorize(f"Bearer {_token()}")


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "http://127.0.0.1:5000/us-east-1_other"},
        {"aud": "another-client"},
        {"exp": int(time.time()) - 60},
        {"exp": None},
        {"iat": int(time.time()) + 3600},
        {"key": OTHER_KEY},
    ],
    ids=["wrong-issuer", "wrong-audience", "expired", "no-expiry", "issued-in-the-future", "another-key"],
)
def test_the_authorizer_refuses_bad_tokens_even_handed_out(
    authorizer: JwtAuthorizer, issued: IssuedTokens, overrides: dict[str, Any]
) -> None:
    with pytest.raises(Unauthorized):
        authorizer.authorize(_handed_out(issued, _token(**overrides)))


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer ", "Bearer not-a-jwt"])
def test_no_bearer_token_is_refused(authorizer: JwtAuthorizer, header: str | None) -> None:
    with pytest.raises(Unauthorized):
        authorizer.authorize(header)


def test_a_tampered_token_is_refused(authorizer: JwtAuthorizer, issued: IssuedTokens) -> None:
    header, payload, signature = _token().split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    with pytest.raises(Unauthorized):
        authorizer.authorize(_handed_out(issued, tampered))
