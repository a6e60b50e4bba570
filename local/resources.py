"""The local stand-ins of the stack's stateful resources, created in moto from the definitions CDK uses.

Table keys, TTL attribute, bucket CORS and lifecycle come from `playout.resources` (shared with
infra/constructs/data.py); the user pool and its client mirror infra/constructs/api.py, which
tests/e2e/test_local_matches_cdk.py checks against the synthesized template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import boto3

from playout import resources

REGION: Final = "us-east-1"
TABLE_NAME: Final = "playout-local"
MEDIA_BUCKET: Final = "playout-local-media"
USER_POOL_NAME: Final = "playout-local"
USER_POOL_CLIENT_NAME: Final = "web"

# The user pool as infra/constructs/api.py declares it (email is the sign-in name, verified automatically).
USER_POOL_USERNAME_ATTRIBUTES: Final = ("email",)
USER_POOL_AUTO_VERIFIED_ATTRIBUTES: Final = ("email",)
USER_POOL_CLIENT_AUTH_FLOWS: Final = (
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
)
TOKEN_VALIDITY: Final = {
    "AccessToken": resources.ACCESS_TOKEN_VALIDITY_MINUTES,
    "IdToken": resources.ID_TOKEN_VALIDITY_MINUTES,
    "RefreshToken": resources.REFRESH_TOKEN_VALIDITY_DAYS,
}
TOKEN_VALIDITY_UNITS: Final = {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "days"}


@dataclass(frozen=True)
class LocalResources:
    endpoint_url: str
    region: str
    table_name: str
    media_bucket: str
    key_id: str
    user_pool_id: str
    user_pool_client_id: str

    @property
    def issuer(self) -> str:
        # moto signs tokens with the real AWS issuer URL, not its own address.
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint_url}/{self.user_pool_id}/.well-known/jwks.json"


def _client(service: str, endpoint_url: str, region: str) -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto accepts any credentials
    )


def table_spec(table_name: str) -> dict[str, Any]:
    return {
        "TableName": table_name,
        "KeySchema": resources.table_key_schema(),
        "AttributeDefinitions": resources.table_attribute_definitions(),
        "GlobalSecondaryIndexes": resources.table_global_secondary_indexes(),
        "BillingMode": "PAY_PER_REQUEST",
    }


def user_pool_spec(name: str = USER_POOL_NAME) -> dict[str, Any]:
    return {
        "PoolName": name,
        "UsernameAttributes": list(USER_POOL_USERNAME_ATTRIBUTES),
        "AutoVerifiedAttributes": list(USER_POOL_AUTO_VERIFIED_ATTRIBUTES),
        "Schema": [{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}],
        "Policies": {"PasswordPolicy": resources.user_pool_password_policy()},
        "MfaConfiguration": "OPTIONAL",
        "AccountRecoverySetting": {"RecoveryMechanisms": [{"Priority": 1, "Name": "verified_email"}]},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": False},
    }


def user_pool_client_spec(user_pool_id: str) -> dict[str, Any]:
    return {
        "UserPoolId": user_pool_id,
        "ClientName": USER_POOL_CLIENT_NAME,
        "GenerateSecret": False,
        "ExplicitAuthFlows": list(USER_POOL_CLIENT_AUTH_FLOWS),
        "PreventUserExistenceErrors": "ENABLED",
        "EnableTokenRevocation": True,
        "AccessTokenValidity": TOKEN_VALIDITY["AccessToken"],
        "IdTokenValidity": TOKEN_VALIDITY["IdToken"],
        "RefreshTokenValidity": TOKEN_VALIDITY["RefreshToken"],
        "TokenValidityUnits": dict(TOKEN_VALIDITY_UNITS),
    }


def create_all(endpoint_url: str, origin: str, region: str = REGION) -> LocalResources:
    """Creates table, media bucket, KMS key, user pool and client in the moto server at `endpoint_url`.

    `origin` is the app's origin (http://127.0.0.1:<port>): the only one the bucket's CORS rule admits.
    """
    dynamodb = _client("dynamodb", endpoint_url, region)
    dynamodb.create_table(**table_spec(TABLE_NAME))
    dynamodb.update_time_to_live(
        TableName=TABLE_NAME,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": resources.TABLE_TTL_ATTRIBUTE},
    )

    s3 = _client("s3", endpoint_url, region)
    s3.create_bucket(Bucket=MEDIA_BUCKET)
    s3.put_bucket_encryption(
        Bucket=MEDIA_BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    s3.put_bucket_cors(
        Bucket=MEDIA_BUCKET, CORSConfiguration={"CORSRules": resources.media_bucket_cors_rules([origin])}
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=MEDIA_BUCKET, LifecycleConfiguration={"Rules": resources.media_bucket_lifecycle_rules()}
    )

    kms = _client("kms", endpoint_url, region)
    key_id = kms.create_key(Description="Playout: envelope for stream keys and OAuth tokens")["KeyMetadata"][
        "KeyId"
    ]
    kms.enable_key_rotation(KeyId=key_id)

    cognito = _client("cognito-idp", endpoint_url, region)
    user_pool_id = cognito.create_user_pool(**user_pool_spec())["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(**user_pool_client_spec(user_pool_id))["UserPoolClient"][
        "ClientId"
    ]

    return LocalResources(
        endpoint_url=endpoint_url,
        region=region,
        table_name=TABLE_NAME,
        media_bucket=MEDIA_BUCKET,
        key_id=key_id,
        user_pool_id=user_pool_id,
        user_pool_client_id=client_id,
    )
