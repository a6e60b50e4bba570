"""In AWS the API answers only requests that came through CloudFront, which adds a secret header to each
(infra/constructs/edge.py): one sent straight to the API's own endpoint gets 403, before any route's work."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from werkzeug.test import EnvironBuilder

from local.gateway import PROXY_ROUTE_KEY, http_api_event
from playout.resources import ORIGIN_VERIFY_HEADER
from playout.settings import get_settings
from tests.integration.conftest import RecordingLauncher

ORIGIN_SECRET = "Zq8wV2kT1nR5pL9xC3mB7yH4jF6dS0aE"


@pytest.fixture
def guarded_handler(aws_env: RecordingLauncher, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API handler as deployed: ORIGIN_SECRET_ARN in its environment, the secret in Secrets Manager."""
    import api.handler

    arn = boto3.client("secretsmanager").create_secret(
        Name="playout/test/origin", SecretString=ORIGIN_SECRET
    )["ARN"]
    monkeypatch.setenv("ORIGIN_SECRET_ARN", arn)
    get_settings.cache_clear()
    yield importlib.reload(api.handler).lambda_handler
    monkeypatch.delenv("ORIGIN_SECRET_ARN")
    get_settings.cache_clear()
    importlib.reload(api.handler)  # the other tests' handler: local mode's, without the check


class _Context:
    function_name = "playout-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:playout-api"
    aws_request_id = "origin-test"


def _call(handler: Any, path: str, headers: dict[str, str], route_key: str) -> dict[str, Any]:
    request = EnvironBuilder(
        method="GET", base_url="https://api.test", path=path, headers=headers
    ).get_request()
    claims = {"sub": "u-origin", "email": "origin@example.com", "cognito:username": "u-origin"}
    authorizer = {"jwt": {"claims": claims, "scopes": None}} if route_key == PROXY_ROUTE_KEY else None
    result: dict[str, Any] = handler(
        http_api_event(request, route_key=route_key, authorizer=authorizer), _Context()
    )
    return result


@pytest.mark.parametrize(
    ("path", "route_key"), [("/api/health", "GET /api/health"), ("/api/me", PROXY_ROUTE_KEY)]
)
def test_a_request_without_cloudfronts_header_is_refused(
    guarded_handler: Any, path: str, route_key: str
) -> None:
    for headers in ({}, {ORIGIN_VERIFY_HEADER: "guessed"}, {ORIGIN_VERIFY_HEADER: ORIGIN_SECRET[:-1]}):
        result = _call(guarded_handler, path, headers, route_key)
        assert result["statusCode"] == 403, headers
        assert json.loads(result["body"]) == {
            "error": {"code": "forbidden", "message": "requests to this API go through the app's address"}
        }


def test_a_request_through_cloudfront_is_answered(guarded_handler: Any) -> None:
    health = _call(guarded_handler, "/api/health", {ORIGIN_VERIFY_HEADER: ORIGIN_SECRET}, "GET /api/health")
    assert (health["statusCode"], json.loads(health["body"])) == (200, {"status": "ok"})
    me = _call(guarded_handler, "/api/me", {ORIGIN_VERIFY_HEADER: ORIGIN_SECRET}, PROXY_ROUTE_KEY)
    assert me["statusCode"] == 200
    assert json.loads(me["body"])["user_id"] == "u-origin"
