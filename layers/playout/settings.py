"""Settings of the API, validated once per container at cold start."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from playout.youtube.endpoints import (
    GOOGLE_AUTH_URI,
    GOOGLE_REVOKE_URI,
    GOOGLE_TOKEN_URI,
    YOUTUBE_API_ENDPOINT,
)

GIB = 1024**3


class Settings(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    table_name: str = Field(min_length=3)
    media_bucket: str = Field(min_length=3)
    key_id: str = Field(min_length=1, description="KMS key that encrypts stream keys and OAuth tokens")
    user_pool_id: str = ""
    state_machine_arn: str = ""
    media_job_state_machine_arn: str = Field(default="", description="Step Functions of the media job")
    cluster_arn: str = Field(default="", description="ECS cluster of the stream tasks (for StopTask)")
    schedule_group: str = Field(default="", description="EventBridge Scheduler group of scheduled starts")
    scheduled_start_function_arn: str = ""
    scheduler_role_arn: str = ""
    storage_quota_bytes: int = Field(default=50 * GIB, gt=0)
    max_concurrent_streams: int = Field(default=2, gt=0)
    upload_part_size_bytes: int = Field(default=16 * 1024**2, ge=5 * 1024**2)
    # Within the day after which the bucket's lifecycle rule aborts an unfinished upload.
    presign_expiry_s: int = Field(default=3600, ge=60, le=12 * 3600)
    s3_addressing_style: str = Field(default="virtual", pattern="^(virtual|path|auto)$")
    # Local mode's RTMP server runs on this machine; in AWS a loopback ingest would be the task itself.
    allow_loopback_ingests: bool = False
    # Local mode's tests serve files to import from this machine; in AWS loopback is never a public link.
    allow_loopback_imports: bool = False
    max_concurrent_imports: int = Field(default=2, gt=0)
    # The SPA's origin (CloudFront's URL; local mode's): Google sends the user back to its
    # /api/youtube/callback, which then sends them on to the SPA.
    app_origin: str = Field(default="", pattern=r"^(https?://[^/?#]+)?$")
    # Secrets Manager: the value CloudFront sends in playout.resources.ORIGIN_VERIFY_HEADER. Empty (local
    # mode, which has no CloudFront): no request is checked for it.
    origin_secret_arn: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment


class YouTubeSettings(BaseSettings):
    """Where the Google Cloud project's OAuth client and YouTube answer (`YOUTUBE_*`), for every runtime that
    talks to YouTube: the API, the scheduled start, the stream task. In AWS the client's id and secret are in
    Secrets Manager (`YOUTUBE_CLIENT_SECRET_NAME`, a JSON `{"client_id", "client_secret"}` read when first
    needed); local mode gives them directly, with its emulator's endpoints and the authority of its TLS."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="YOUTUBE_")

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    client_secret_name: str = ""
    auth_uri: str = GOOGLE_AUTH_URI
    token_uri: str = GOOGLE_TOKEN_URI
    revoke_uri: str = GOOGLE_REVOKE_URI
    api_endpoint: str = YOUTUBE_API_ENDPOINT
    # A PEM file of the authority to trust instead of the system's (local mode's emulator); empty: the system.
    ca_bundle: str = ""
    daily_quota_units: int = Field(default=10_000, gt=0)
    http_timeout_s: float = Field(default=20.0, gt=0, le=60)
    # googleapiclient's own retries of 5xx, 429 and rateLimitExceeded (exponential backoff, <= 2**n s each).
    num_retries: int = Field(default=2, ge=0, le=5)

    @property
    def configured(self) -> bool:
        return bool(self.client_id or self.client_secret_name)


@lru_cache(maxsize=1)
def get_youtube_settings() -> YouTubeSettings:
    return YouTubeSettings()
