"""The gateway behaves like CloudFront + the HTTP API: the JWT authorizer's checks, the API's event shape,
the SPA's cache headers and runtime config."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import moto.cognitoidp
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.e2e.conftest import LocalModeProcess, User

MOTO_SIGNING_KEY = Path(moto.cognitoidp.__file__).parent / "resources" / "jwks-private.json.gz"


def _token(config: dict[str, str], user: User, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.{config['region']}.amazonaws.com/{config['userPoolId']}",
        "sub": user.user_id,
        "aud": config["userPoolClientId"],
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        "cognito:username": user.user_id,
    }
    claims.update(overrides)
    claims = {name: value for name, value in claims.items() if value is not None}
    key = RSAKey.import_key(json.loads(gzip.decompress(MOTO_SIGNING_KEY.read_bytes())))
    return jwt.encode({"alg": "RS256", "kid": key.kid or "dummy"}, claims, key)


def _me(local_mode: LocalModeProcess, token: str) -> requests.Response:
    return requests.get(f"{local_mode.url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_well_formed_token_passes(
    local_mode: LocalModeProcess, runtime_config: dict[str, str], alice: User
) -> None:
    response = _me(local_mode, _token(runtime_config, alice))
    assert response.status_code == 200, response.text
    assert response.json()["user_id"] == alice.user_id


@pytest.mark.parametrize(
    "overrides",
    [
        {"iss": "http://127.0.0.1:5000/us-east-1_other"},
        {"aud": "another-client"},
        {"exp": int(time.time()) - 60},
        {"exp": None},
        {"iat": int(time.time()) + 3600},
    ],
    ids=["wrong-issuer", "wrong-audience", "expired", "no-expiry", "issued-in-the-future"],
)
def test_the_authorizer_refuses_bad_tokens(
    local_mode: LocalModeProcess, runtime_config: dict[str, str], alice: User, overrides: dict[str, Any]
) -> None:
    response = _me(local_mode, _token(runtime_config, alice, **overrides))
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


def test_a_tampered_token_is_refused(local_mode: LocalModeProcess, alice: User) -> None:
    header, payload, signature = alice.id_token.split(".")
    tampered = f"{header}.{payload[:-4]}AAAA.{signature}"
    assert _me(local_mode, tampered).status_code == 401


def test_access_tokens_are_accepted_by_client_id(
    local_mode: LocalModeProcess, runtime_config: dict[str, str], alice: User
) -> None:
    token = _token(
        runtime_config, alice, aud=None, token_use="access", client_id=runtime_config["userPoolClientId"]
    )
    assert _me(local_mode, token).status_code == 200


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
