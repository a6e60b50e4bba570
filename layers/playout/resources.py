"""Definitions of the stateful resources, read by both the CDK constructs and local mode.

Keeping them here is what lets a test prove that local mode runs on the same shapes as AWS.
"""

from __future__ import annotations

from typing import Any, Final

from playout.youtube.endpoints import CALLBACK_PATH

# GET on these paths has no authorizer (the HTTP API in infra/constructs/api.py, local mode's gateway):
# the health check, the OpenAPI document, and Google's OAuth redirect (no JWT with it; its state is checked).
PUBLIC_ROUTES: Final = ("/api/health", "/api/openapi.json", CALLBACK_PATH)
# The header CloudFront adds to every request it sends the API, its value a secret (infra/constructs/edge.py);
# the API refuses a request without it (functions/api/origin.py). Local mode has no CloudFront, no such check.
ORIGIN_VERIFY_HEADER: Final = "x-playout-origin-verify"

TABLE_PARTITION_KEY: Final = "pk"
TABLE_SORT_KEY: Final = "sk"
TABLE_TTL_ATTRIBUTE: Final = "expires_at"

# Sparse index of the streams that are active (starting, live, stopping): its key is set in the same write as
# the status change into the active set and removed in the one out of it. The watchdog sweeps it every minute
# with one Query instead of a Scan. One partition value is enough: it changes only at status changes (a few
# per run, far below a partition's 1,000 writes/s) and a 1 MB page holds thousands of projected streams.
ACTIVE_STREAMS_INDEX: Final = "active-streams"
ACTIVE_STREAMS_INDEX_KEY: Final = "active_index_pk"
ACTIVE_STREAMS_INDEX_VALUE: Final = "ACTIVE"
# A run that ended moves to this partition of the same index: the watchdog's sweep ends what is still open of
# its YouTube broadcasts (an end YouTube refused for now, a task killed while ending them), then takes it out.
ENDED_RUNS_INDEX_VALUE: Final = "ENDED"
ACTIVE_STREAMS_INDEX_PROJECTION: Final = ("stream_id", "status", "run_id", "task_arn", "started_at")

# Browsers upload parts straight to S3 with presigned PUTs and must read each part's ETag.
MEDIA_BUCKET_CORS_METHODS: Final = ("PUT", "GET", "HEAD")
MEDIA_BUCKET_CORS_EXPOSED_HEADERS: Final = ("ETag",)
MEDIA_BUCKET_CORS_MAX_AGE_S: Final = 3000
ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS: Final = 1
ABORT_INCOMPLETE_UPLOADS_RULE_ID: Final = "abort-incomplete-multipart-uploads"

# Media objects never change once written: a fresh key is used for any new rendition.
IMMUTABLE_CACHE_CONTROL: Final = "public, max-age=31536000, immutable"


def table_key_schema() -> list[dict[str, str]]:
    return [
        {"AttributeName": TABLE_PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": TABLE_SORT_KEY, "KeyType": "RANGE"},
    ]


def table_attribute_definitions() -> list[dict[str, str]]:
    return [
        {"AttributeName": TABLE_PARTITION_KEY, "AttributeType": "S"},
        {"AttributeName": TABLE_SORT_KEY, "AttributeType": "S"},
        {"AttributeName": ACTIVE_STREAMS_INDEX_KEY, "AttributeType": "S"},
    ]


def table_global_secondary_indexes() -> list[dict[str, Any]]:
    """In the DynamoDB API's shape (create_table's GlobalSecondaryIndexes, on-demand); CDK maps the same."""
    return [
        {
            "IndexName": ACTIVE_STREAMS_INDEX,
            "KeySchema": [{"AttributeName": ACTIVE_STREAMS_INDEX_KEY, "KeyType": "HASH"}],
            "Projection": {
                "ProjectionType": "INCLUDE",
                "NonKeyAttributes": list(ACTIVE_STREAMS_INDEX_PROJECTION),
            },
        }
    ]


def media_bucket_cors_rules(allowed_origins: list[str]) -> list[dict[str, Any]]:
    """CORS rules in the S3 API's shape (boto3 put_bucket_cors); CDK maps the same values."""
    return [
        {
            "AllowedOrigins": list(allowed_origins),
            "AllowedMethods": list(MEDIA_BUCKET_CORS_METHODS),
            "AllowedHeaders": ["*"],
            "ExposeHeaders": list(MEDIA_BUCKET_CORS_EXPOSED_HEADERS),
            "MaxAgeSeconds": MEDIA_BUCKET_CORS_MAX_AGE_S,
        }
    ]


def spa_content_security_policy(media_hosts: str, identity_hosts: str = "") -> str:
    """The SPA's CSP: its origin, the media bucket (presigned uploads, previews) and Cognito if elsewhere.

    CloudFront's response headers policy and local mode's gateway both send this one."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: blob: {media_hosts}",
            f"media-src 'self' blob: {media_hosts}",
            " ".join(filter(None, ["connect-src 'self'", identity_hosts, media_hosts])),
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def media_bucket_lifecycle_rules() -> list[dict[str, Any]]:
    """Lifecycle rules in the S3 API's shape (put_bucket_lifecycle_configuration); CDK maps the same."""
    return [
        {
            "ID": ABORT_INCOMPLETE_UPLOADS_RULE_ID,
            "Status": "Enabled",
            "Filter": {"Prefix": ""},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS},
        }
    ]


# The Cognito user pool and its web client (email is the sign-in name, verified automatically).
ACCESS_TOKEN_VALIDITY_MINUTES: Final = 60
ID_TOKEN_VALIDITY_MINUTES: Final = 60
REFRESH_TOKEN_VALIDITY_DAYS: Final = 30


def user_pool_password_policy() -> dict[str, Any]:
    """In the Cognito API's shape (create_user_pool's PasswordPolicy); CDK maps the same values."""
    return {
        "MinimumLength": 12,
        "RequireUppercase": True,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "TemporaryPasswordValidityDays": 3,
    }


# The stream task's container image (stream_task/Dockerfile): what its build context keeps of the repository
# (stream_task/ and layers/, as CodeBuild's source asset and local/task_container.py's podman build send it),
# and how long a stopping task has between SIGTERM and SIGKILL (the task definitions' stopTimeout; Spot gives
# 2 minutes).
IMAGE_CONTEXT_EXCLUDES: Final = (
    "*",
    "!stream_task",
    "!stream_task/**",
    "!layers",
    "!layers/**",
    "**/__pycache__",
    "**/*.pyc",
)
TASK_STOP_TIMEOUT_S: Final = 120
