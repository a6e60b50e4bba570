"""The gateway's record of the tokens its sign-in handed out: only those pass, until their session ends."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from local.issued_tokens import IssuedTokens, unverified_claims

SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "test"})


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _jwt(sub: str, token_use: str, now: float, lifetime_s: int = 3600) -> str:
    claims = {"sub": sub, "token_use": token_use, "iat": int(now), "exp": int(now) + lifetime_s}
    claims["jti"] = str(uuid.uuid4())
    return jwt.encode({"alg": "RS256", "kid": "test"}, claims, SIGNING_KEY)


def _sign_in(sub: str, now: float) -> dict[str, Any]:
    """An AuthenticationResult as the user pool answers a sign-in."""
    return {
        "AccessToken": _jwt(sub, "access", now),
        "IdToken": _jwt(sub, "id", now),
        "RefreshToken": str(uuid.uuid4()),
        "ExpiresIn": 3600,
        "TokenType": "Bearer",
    }


def _refresh(sub: str, now: float) -> dict[str, Any]:
    """What a refresh answers: new tokens, no new refresh token."""
    return {"AccessToken": _jwt(sub, "access", now), "IdToken": _jwt(sub, "id", now), "ExpiresIn": 3600}


def _signed_in(issued: IssuedTokens, clock: Clock, *users: str) -> list[dict[str, Any]]:
    """One sign-in per user named, each recorded."""
    results = [_sign_in(user, clock.now) for user in users]
    for result in results:
        issued.record(result)
    return results


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issued(clock: Clock) -> IssuedTokens:
    return IssuedTokens(clock=clock)


def test_only_tokens_handed_out_pass(issued: IssuedTokens, clock: Clock) -> None:
    signed_in = _sign_in("alice", clock.now)
    issued.record(signed_in)
    assert issued.holds(signed_in["IdToken"])
    assert issued.holds(signed_in["AccessToken"])
    # Same user, same key, same claims, but never handed out: refused.
    assert not issued.holds(_jwt("alice", "id", clock.now))
    assert not issued.holds(signed_in["RefreshToken"])  # not a bearer token of the API
    assert not issued.holds("")


def test_a_token_passes_until_it_expires(issued: IssuedTokens, clock: Clock) -> None:
    signed_in = _sign_in("alice", clock.now)
    issued.record(signed_in)
    clock.now += 3599
    assert issued.holds(signed_in["IdToken"])
    clock.now += 1
    assert not issued.holds(signed_in["IdToken"])


def test_refreshed_tokens_pass_and_join_the_session(issued: IssuedTokens, clock: Clock) -> None:
    signed_in = _sign_in("alice", clock.now)
    issued.record(signed_in)
    clock.now += 3000
    refreshed = _refresh("alice", clock.now)
    issued.record(refreshed, refresh_token=signed_in["RefreshToken"])
    assert issued.holds(refreshed["IdToken"])
    assert issued.holds(signed_in["IdToken"])  # the older token still has 10 minutes

    issued.end_session(signed_in["RefreshToken"])
    assert not issued.holds(refreshed["IdToken"])
    assert not issued.holds(signed_in["AccessToken"])
    assert issued.session_ended(signed_in["RefreshToken"])


def test_revoking_one_refresh_token_ends_that_session_alone(issued: IssuedTokens, clock: Clock) -> None:
    laptop, phone, bob = _signed_in(issued, clock, "alice", "alice", "bob")
    issued.end_session(laptop["RefreshToken"])
    assert not issued.holds(laptop["IdToken"])
    assert issued.holds(phone["IdToken"])
    assert issued.holds(bob["IdToken"])
    assert not issued.session_ended(phone["RefreshToken"])


def test_signing_out_everywhere_ends_every_session_of_the_user_alone(
    issued: IssuedTokens, clock: Clock
) -> None:
    laptop, phone, bob = _signed_in(issued, clock, "alice", "alice", "bob")
    refreshed = _refresh("alice", clock.now)
    issued.record(refreshed, refresh_token=phone["RefreshToken"])

    issued.end_sessions_of("alice")
    for token in (laptop["IdToken"], laptop["AccessToken"], phone["IdToken"], refreshed["AccessToken"]):
        assert not issued.holds(token)
    assert issued.session_ended(laptop["RefreshToken"])
    assert issued.session_ended(phone["RefreshToken"])
    assert issued.holds(bob["IdToken"])
    assert not issued.session_ended(bob["RefreshToken"])

    # A new sign-in afterwards is a new session that works.
    again = _sign_in("alice", clock.now)
    issued.record(again)
    assert issued.holds(again["IdToken"])


def test_a_refresh_answered_after_its_session_ended_is_not_kept(issued: IssuedTokens, clock: Clock) -> None:
    signed_in = _sign_in("alice", clock.now)
    issued.record(signed_in)
    issued.end_sessions_of("alice")
    late = _refresh("alice", clock.now)
    issued.record(late, refresh_token=signed_in["RefreshToken"])
    assert not issued.holds(late["IdToken"])


def test_expired_tokens_are_forgotten_as_new_ones_come(issued: IssuedTokens, clock: Clock) -> None:
    old = _sign_in("alice", clock.now)
    issued.record(old)
    clock.now += 7200
    issued.record(_sign_in("bob", clock.now))
    clock.now -= 7200  # even were the clock to go back, the expired tokens are gone
    assert not issued.holds(old["IdToken"])


@pytest.mark.parametrize("text", ["", "not-a-jwt", "a.b.c", "a.bnVsbA.c", "a.WzFd.c"])
def test_unverified_claims_of_what_is_no_jwt_are_none(text: str) -> None:
    assert unverified_claims(text) == {}


def test_unverified_claims_of_a_jwt() -> None:
    token = _jwt("alice", "id", time.time())
    assert unverified_claims(token)["sub"] == "alice"
