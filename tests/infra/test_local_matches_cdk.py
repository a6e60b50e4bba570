"""Local mode runs on the same resource shapes as the AWS stack.

The resources `local.resources.create_all` makes in moto are read back and compared with the shared
definitions of `playout.resources` and with the template of the session's one synth (tests/infra/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from infra.constructs.api import STATIC_PUBLIC_ROUTES
from local import gateway
from local import resources as local_resources
from playout import resources

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_TEMPLATE = "Playout-prod.template.json"
ORIGIN = "http://127.0.0.1:8080"
_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


@pytest.fixture(scope="module")
def local_state() -> dict[str, Any]:
    """Creates the local resources in a private moto server and reads back what AWS APIs report."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        res = local_resources.create_all(f"http://{host}:{port}", origin=ORIGIN)

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=res.endpoint_url,
                region_name=res.region,
                aws_access_key_id="local",
                aws_secret_access_key="local",
            )

        dynamodb, s3, kms, cognito = (client(s) for s in ("dynamodb", "s3", "kms", "cognito-idp"))
        return {
            "resources": res,
            "table": dynamodb.describe_table(TableName=res.table_name)["Table"],
            "ttl": dynamodb.describe_time_to_live(TableName=res.table_name)["TimeToLiveDescription"],
            "cors": s3.get_bucket_cors(Bucket=res.media_bucket)["CORSRules"],
            "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=res.media_bucket)["Rules"],
            "encryption": s3.get_bucket_encryption(Bucket=res.media_bucket)[
                "ServerSideEncryptionConfiguration"
            ],
            "key_rotation": kms.get_key_rotation_status(KeyId=res.key_id)["KeyRotationEnabled"],
            "user_pool": cognito.describe_user_pool(UserPoolId=res.user_pool_id)["UserPool"],
            "client": cognito.describe_user_pool_client(
                UserPoolId=res.user_pool_id, ClientId=res.user_pool_client_id
            )["UserPoolClient"],
        }
    finally:
        server.stop()


def _one(template: dict[str, Any], kind: str, has: str | None = None) -> dict[str, Any]:
    found = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == kind and (has is None or has in r["Properties"])
    ]
    assert len(found) == 1, f"expected one {kind}{f' with {has}' if has else ''}, found {len(found)}"
    return dict(found[0])


def _sorted(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


# --- local mode vs the shared definitions ---


def test_local_table_uses_the_shared_keys_and_ttl(local_state: dict[str, Any]) -> None:
    table = local_state["table"]
    assert table["KeySchema"] == resources.table_key_schema()
    assert _sorted(table["AttributeDefinitions"]) == _sorted(resources.table_attribute_definitions())
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert local_state["ttl"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": resources.TABLE_TTL_ATTRIBUTE,
    }


def test_local_bucket_uses_the_shared_cors_and_lifecycle(local_state: dict[str, Any]) -> None:
    assert local_state["cors"] == resources.media_bucket_cors_rules([ORIGIN])
    (rule,) = local_state["lifecycle"]
    assert rule["Status"] == "Enabled"
    assert rule["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": resources.ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS
    }
    (encryption,) = local_state["encryption"]["Rules"]
    assert encryption["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


# --- local mode vs the synthesized stack ---


def test_table_matches_the_stack(local_state: dict[str, Any], template: dict[str, Any]) -> None:
    cdk = _one(template, "AWS::DynamoDB::Table")
    assert cdk["KeySchema"] == local_state["table"]["KeySchema"]
    assert _sorted(cdk["AttributeDefinitions"]) == _sorted(local_state["table"]["AttributeDefinitions"])
    assert cdk["BillingMode"] == local_state["table"]["BillingModeSummary"]["BillingMode"]
    assert cdk["TimeToLiveSpecification"] == {
        "AttributeName": local_state["ttl"]["AttributeName"],
        "Enabled": True,
    }
    local_indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in local_state["table"]["GlobalSecondaryIndexes"]
    }
    cdk_indexes = {
        index["IndexName"]: (index["KeySchema"], index["Projection"])
        for index in cdk["GlobalSecondaryIndexes"]
    }
    assert cdk_indexes == local_indexes
    assert set(cdk_indexes) == {resources.ACTIVE_STREAMS_INDEX}


def test_media_bucket_matches_the_stack(local_state: dict[str, Any], template: dict[str, Any]) -> None:
    cdk = _one(template, "AWS::S3::Bucket", has="CorsConfiguration")
    (cdk_rule,) = cdk["CorsConfiguration"]["CorsRules"]
    (local_rule,) = local_state["cors"]
    assert cdk_rule["AllowedMethods"] == local_rule["AllowedMethods"]
    assert cdk_rule["AllowedHeaders"] == local_rule["AllowedHeaders"]
    assert cdk_rule["ExposedHeaders"] == local_rule["ExposeHeaders"]
    assert cdk_rule["MaxAge"] == local_rule["MaxAgeSeconds"]
    assert len(cdk_rule["AllowedOrigins"]) == len(local_rule["AllowedOrigins"]) == 1  # the app's own origin

    (cdk_lifecycle,) = [
        r for r in cdk["LifecycleConfiguration"]["Rules"] if "AbortIncompleteMultipartUpload" in r
    ]
    (local_lifecycle,) = local_state["lifecycle"]
    assert cdk_lifecycle["Id"] == local_lifecycle["ID"]
    assert cdk_lifecycle["Status"] == local_lifecycle["Status"]
    assert (
        cdk_lifecycle["AbortIncompleteMultipartUpload"] == local_lifecycle["AbortIncompleteMultipartUpload"]
    )
    (cdk_sse,) = cdk["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    (local_sse,) = local_state["encryption"]["Rules"]
    assert cdk_sse["ServerSideEncryptionByDefault"] == local_sse["ApplyServerSideEncryptionByDefault"]


def test_secrets_key_matches_the_stack(local_state: dict[str, Any], template: dict[str, Any]) -> None:
    keys = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    assert any(k.get("EnableKeyRotation") for k in keys)
    assert local_state["key_rotation"] is True


def test_user_pool_matches_the_stack(local_state: dict[str, Any], template: dict[str, Any]) -> None:
    cdk = _one(template, "AWS::Cognito::UserPool")
    pool = local_state["user_pool"]
    assert cdk["UsernameAttributes"] == pool["UsernameAttributes"]
    assert cdk["AutoVerifiedAttributes"] == pool["AutoVerifiedAttributes"]
    assert cdk["Policies"]["PasswordPolicy"] == pool["Policies"]["PasswordPolicy"]
    assert cdk["MfaConfiguration"] == pool["MfaConfiguration"]
    assert cdk["AccountRecoverySetting"] == pool["AccountRecoverySetting"]
    assert cdk["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    local_email = next(a for a in pool["SchemaAttributes"] if a["Name"] == "email")
    cdk_email = next(a for a in cdk["Schema"] if a["Name"] == "email")
    assert (cdk_email["Required"], cdk_email["Mutable"]) == (local_email["Required"], local_email["Mutable"])


def _validity_s(client: dict[str, Any], token: str) -> int:
    unit = (client.get("TokenValidityUnits") or {}).get(token, "days" if token == "RefreshToken" else "hours")
    return int(client[f"{token}Validity"]) * _SECONDS[unit]


def test_user_pool_client_matches_the_stack(local_state: dict[str, Any], template: dict[str, Any]) -> None:
    cdk = _one(template, "AWS::Cognito::UserPoolClient")
    client = local_state["client"]
    assert set(cdk["ExplicitAuthFlows"]) == set(client["ExplicitAuthFlows"])
    assert "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]  # what the SPA and the e2e clients use
    assert cdk["GenerateSecret"] is False
    assert "ClientSecret" not in client
    assert cdk["PreventUserExistenceErrors"] == client["PreventUserExistenceErrors"]
    assert cdk["EnableTokenRevocation"] == client["EnableTokenRevocation"]
    for token in ("AccessToken", "IdToken", "RefreshToken"):
        assert _validity_s(cdk, token) == _validity_s(client, token), token


def test_gateway_routes_match_the_http_api(template: dict[str, Any]) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"].get("AuthorizationType", "NONE")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Route"
    }
    public = {key for key, auth in routes.items() if auth == "NONE"}
    # The routes CloudFront serves as files (the OpenAPI document) are public too, and never reach the API.
    assert public == {f"GET {path}" for path in gateway.PUBLIC_ROUTES if path not in STATIC_PUBLIC_ROUTES}
    (distribution,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"
    ]
    behaviors = {b["PathPattern"] for b in distribution["Properties"]["DistributionConfig"]["CacheBehaviors"]}
    assert set(STATIC_PUBLIC_ROUTES) <= set(gateway.PUBLIC_ROUTES) & behaviors
    assert routes[gateway.PROXY_ROUTE_KEY] == "JWT"
    (authorizer,) = [
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::ApiGatewayV2::Authorizer"
    ]
    issuer = json.dumps(authorizer["JwtConfiguration"]["Issuer"])
    assert "https://cognito-idp." in issuer  # the real issuer URL, which moto's tokens carry too
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
