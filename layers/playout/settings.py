"""Settings of the API, validated once per container at cold start."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # values come from the environment
