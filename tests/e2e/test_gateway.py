"""The gateway behaves like CloudFront + the HTTP API: the JWT authorizer's checks, the API's event shape,
the SPA's cache headers and runtime config; and local mode is safe on a shared machine: only the tokens its
own sign-in handed out pass, in sessions still open, and no server answers a page rebound to 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import moto.cognitoidp
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.e2e.conftest import (
    PASSWORD,
    ApiClient,
    LocalModeProcess,
    User,
    cognito_client,
    emulator_of,
    sign_up_and_in,
)

MOTO_SIGNING_KEY = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"


def _forged(config: dict[str, str], user: User, **overrides: Any) -> str:
    """A token for `user` with every claim the user pool would give it, signed with the key moto ships."""
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.{config['region']}.amazonaws.com/{config['userPoolId']}",
        "sub": user.user_id,
        "aud": config["userPoolClientId"],
        "token_use": "id",
        "iat": now,
        "auth_time": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "origin_jti": str(uuid.uuid4()),
        "cognito:username": user.user_id,
        "email": user.email,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    key = RSAKey.import_key(json.loads(gzip.decompress(MOTO_SIGNING_KEY.read_bytes())))
    return jwt.encode({"alg": "RS256", "kid": key.kid or "dummy"}, claims, key)


def _me(local_mode: LocalModeProcess, token: str) -> requests.Response:
    return requests.get(f"{local_mode.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _refused(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"message": "Unauthorized"}  # API Gateway's own answer


@dataclass
class Session:
    """One sign-in through local mode's Cognito proxy, as the app keeps it."""

    id_token: str
    access_token: str
    refresh_token: str


def _sign_in(cognito: Any, config: dict[str, str], user: User) -> Session:
    result = cognito.initiate_auth(
        ClientId=config["userPoolClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.email, "PASSWORD": PASSWORD},
    )["AuthenticationResult"]
    return Session(result["IdToken"], result["AccessToken"], result["RefreshToken"])


def _refreshed(cognito: Any, config: dict[str, str], session: Session) -> Session:
    result = cognito.initiate_auth(
        ClientId=config["userPoolClientId"],
        AuthFlow="REFRESH_TOKEN_AUTH",
        AuthParameters={"REFRESH_TOKEN": session.refresh_token},
    )["AuthenticationResult"]
    return Session(result["IdToken"], result["AccessToken"], session.refresh_token)


def test_a_token_signed_with_motos_shipped_key_is_refused(
    local_mode: LocalModeProcess, runtime_config: dict[str, str], alice: User
) -> None:
    assert _me(local_mode, alice.id_token).status_code == 200
    # Every claim right, signed by the key the user pool signs with, but never handed out by its sign-in.
    _refused(_me(local_mode, _forged(runtime_config, alice)))
    access = _forged(
        runtime_config, alice, aud=None, token_use="access", client_id=runtime_config["userPoolClientId"]
    )
    _refused(_me(local_mode, access))
    unauthorized = [
        json.loads(line)
        for line in local_mode.log_file.read_text().splitlines()
        if '"unauthorized"' in line and "not handed out" in line
    ]
    assert unauthorized, "the gateway says why it refused"


def test_a_tampered_token_is_refused(local_mode: LocalModeProcess, alice: User) -> None:
    header, payload, signature = alice.id_token.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    _refused(_me(local_mode, tampered))


def test_refreshed_tokens_work_and_sign_outs_end_them(
    local_mode: LocalModeProcess, runtime_config: dict[str, str]
) -> None:
    cognito = cognito_client(local_mode, runtime_config["region"])
    grace = sign_up_and_in(local_mode, runtime_config, f"grace-{secrets.token_hex(4)}@example.com")
    laptop, phone = _sign_in(cognito, runtime_config, grace), _sign_in(cognito, runtime_config, grace)
    refreshed = _refreshed(cognito, runtime_config, laptop)
    assert refreshed.id_token != laptop.id_token
    for token in (refreshed.id_token, refreshed.access_token, laptop.id_token, phone.id_token):
        assert _me(local_mode, token).json()["user_id"] == grace.user_id

    # Sign-out on the laptop (what the app calls: RevokeToken) ends the laptop's session alone.
    cognito.revoke_token(Token=laptop.refresh_token, ClientId=runtime_config["userPoolClientId"])
    for token in (laptop.id_token, laptop.access_token, refreshed.id_token):
        _refused(_me(local_mode, token))
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        _refreshed(cognito, runtime_config, laptop)
    assert _me(local_mode, phone.id_token).status_code == 200

    # Sign-out everywhere (GlobalSignOut) ends every other session too, refreshed tokens included.
    on_phone = _refreshed(cognito, runtime_config, phone)
    assert _me(local_mode, on_phone.id_token).status_code == 200
    cognito.global_sign_out(AccessToken=phone.access_token)
    for token in (phone.id_token, phone.access_token, on_phone.id_token, grace.id_token):
        _refused(_me(local_mode, token))
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        _refreshed(cognito, runtime_config, phone)

    # Signing in again opens a new session that works.
    again = _sign_in(cognito, runtime_config, grace)
    assert _me(local_mode, again.id_token).json()["user_id"] == grace.user_id


def test_a_page_rebound_to_local_mode_reads_nothing(
    local_mode: LocalModeProcess, runtime_config: dict[str, str], alice: User, alice_api: ApiClient
) -> None:
    """DNS rebinding: a page of attacker.example, its name now resolving to 127.0.0.1, sends its own host's
    name. Every server of local mode refuses it with 421: the gateway (app, config, API, Cognito proxy), the
    S3 endpoint (presigned URLs) and the YouTube emulator (its consent page)."""
    port = local_mode.url.rpartition(":")[2]
    upload = alice_api.ok(
        "POST", "/api/media", {"filename": "a.mp4", "size_bytes": 3, "content_type": "video/mp4"}, status=201
    )
    part_url = upload["upload"]["parts"][0]["url"]
    consent_url = alice_api.ok("POST", "/api/youtube/connect")["authorization_url"]
    cognito_call = {
        "headers": {
            "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
            "Content-Type": "application/x-amz-json-1.1",
        },
        "data": json.dumps(
            {
                "ClientId": runtime_config["userPoolClientId"],
                "AuthFlow": "USER_PASSWORD_AUTH",
                "AuthParameters": {"USERNAME": alice.email, "PASSWORD": PASSWORD},
            }
        ),
    }
    requests_to_make: list[tuple[str, str, dict[str, Any], int]] = [
        ("GET", f"{local_mode.url}/", {}, 200),
        ("GET", f"{local_mode.url}/config.json", {}, 200),
        ("GET", f"{local_mode.url}/api/me", {"headers": {"Authorization": f"Bearer {alice.id_token}"}}, 200),
        ("POST", f"{local_mode.url}/cognito/", cognito_call, 200),
        ("PUT", part_url, {"data": b"abc"}, 200),
        ("GET", consent_url, {"verify": emulator_of(local_mode).ca_certificate}, 200),
    ]
    for method, url, options, served_status in requests_to_make:
        served_port = url.split("://", 1)[1].split("/", 1)[0].rpartition(":")[2]
        for host in ("attacker.example", f"attacker.example:{served_port}"):
            headers = {**options.get("headers", {}), "Host": host}
            refused = requests.request(method, url, **{**options, "headers": headers}, timeout=10)
            assert refused.status_code == 421, f"{method} {url} as {host}: {refused.status_code}"
            assert refused.json() == {
                "error": {
                    "code": "misdirected_request",
                    "message": f"This server answers only requests addressed to 127.0.0.1:{served_port} or "
                    f"localhost:{served_port}; this one names another host.",
                }
            }
        # ... while the names it is served at work as before (a presigned URL signs its own host alone).
        served = requests.request(method, url, **options, timeout=10)
        assert served.status_code == served_status, f"{method} {url}: {served.text[:300]}"
        headers = {**options.get("headers", {}), "Host": f"localhost:{served_port}"}
        by_name = requests.request(method, url, **{**options, "headers": headers}, timeout=10)
        assert by_name.status_code != 421, f"{method} {url} as localhost"
    assert requests.get(f"http://localhost:{port}/api/health", timeout=10).json() == {"status": "ok"}


def test_public_routes_need_no_token(local_mode: LocalModeProcess) -> None:
    assert requests.get(f"{local_mode.url}/api/health", timeout=10).json() == {"status": "ok"}
    document = requests.get(f"{local_mode.url}/api/openapi.json", timeout=10)
    assert document.status_code == 200
    assert "/api/me" in document.json()["paths"]
    # Only GET is public: any other verb on the same path goes through the authorizer.
    assert requests.post(f"{local_mode.url}/api/health", timeout=10).status_code == 401


def test_runtime_config_and_cache_headers(
    local_mode: LocalModeProcess, runtime_config: dict[str, str]
) -> None:
    assert runtime_config["apiUrl"] == "/api"
    assert runtime_config["cognitoEndpoint"] == f"{local_mode.url}/cognito/"
    assert requests.get(f"{local_mode.url}/config.json", timeout=10).headers["Cache-Control"] == "no-cache"

    index = requests.get(f"{local_mode.url}/", timeout=10)
    assert index.status_code == 200
    assert index.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    route = requests.get(f"{local_mode.url}/streams/123", timeout=10)  # a client-side route
    assert route.status_code == 200
    assert route.text == index.text
    asset = next(part.split('"')[0] for part in index.text.split('src="')[1:] if part.startswith("/assets/"))
    hashed = requests.get(f"{local_mode.url}{asset}", timeout=10)
    assert hashed.status_code == 200
    assert hashed.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert requests.get(f"{local_mode.url}/missing.js", timeout=10).status_code == 404


def test_cognito_proxy_refuses_admin_actions(
    local_mode: LocalModeProcess, runtime_config: dict[str, str]
) -> None:
    response = requests.post(
        f"{local_mode.url}/cognito/",
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.AdminConfirmSignUp",
            "Content-Type": "application/x-amz-json-1.1",
        },
        data=json.dumps({"UserPoolId": runtime_config["userPoolId"], "Username": "x@example.com"}),
        timeout=10,
    )
    assert response.status_code == 400
    assert response.json()["__type"] == "MissingAuthenticationTokenException"
