"""API integration tests: the real handler on generated HTTP API (payload 2.0) events, moto for AWS."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from werkzeug.test import EnvironBuilder

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1",
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    TABLE_NAME="playout-test",
    MEDIA_BUCKET="playout-media-test",
    KEY_ID="alias/playout-test",
    STATE_MACHINE_ARN="arn:aws:states:us-east-1:123456789012:stateMachine:playout-test",
    CLUSTER_ARN="arn:aws:ecs:us-east-1:123456789012:cluster/playout-test",
    SCHEDULE_GROUP="playout-test",
    SCHEDULED_START_FUNCTION_ARN="arn:aws:lambda:us-east-1:123456789012:function:playout-scheduled-start",
    SCHEDULER_ROLE_ARN="arn:aws:iam::123456789012:role/playout-scheduler",
    STORAGE_QUOTA_BYTES=str(100 * 1024**2),
    MAX_CONCURRENT_STREAMS="2",
    POWERTOOLS_TRACE_DISABLED="1",
    POWERTOOLS_METRICS_NAMESPACE="Playout",
    POWERTOOLS_SERVICE_NAME="playout",
)

from local.gateway import PROXY_ROUTE_KEY, http_api_event
from local.resources import table_spec
from local.youtube_emulator import RunningEmulator
from playout import aws, launcher, resources, schedules
from playout.models import bind_table


@dataclass
class RecordingLauncher:
    """Stands in for Step Functions, which moto cannot run: records what would have been launched."""

    started: list[tuple[str, str, str]] = field(default_factory=list)
    stopped: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    media_jobs: list[tuple[str, str, str]] = field(default_factory=list)
    fail_with: Exception | None = None
    fail_media_jobs_with: Exception | None = None

    def start(self, stream_id: str, user_id: str, run_id: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.started.append((stream_id, user_id, run_id))

    def stop(self, stream_id: str, user_id: str, run_id: str, task_arn: str | None) -> None:
        self.stopped.append((stream_id, user_id, run_id, task_arn))

    def start_media_job(self, media_id: str, user_id: str, job_id: str) -> None:
        if self.fail_media_jobs_with is not None:
            raise self.fail_media_jobs_with
        self.media_jobs.append((media_id, user_id, job_id))


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    text: str
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values (payload 2.0 lists them apart)

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class ApiClient:
    """Calls the Lambda handler as API Gateway would, signed in as one user."""

    def __init__(self, user_id: str | None, email: str | None = None) -> None:
        self.user_id = user_id
        self.email = email

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        cookies: dict[str, str] | None = None,
        raw_body: bytes | None = None,
        content_type: str = "application/json",
    ) -> ApiResponse:
        """`raw_body`: these bytes as the body, instead of `body` as JSON."""
        from api.handler import lambda_handler

        claims = (
            {"sub": self.user_id, "email": self.email, "cognito:username": self.user_id}
            if self.user_id
            else None
        )
        request = EnvironBuilder(
            method=method,
            base_url="https://api.test",
            path=path,
            query_string=query,
            data=raw_body if raw_body is not None else json.dumps(body) if body is not None else None,
            content_type=content_type,
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else None,
        ).get_request()
        authorizer = {"jwt": {"claims": claims, "scopes": None}} if claims else None
        event = http_api_event(request, route_key=PROXY_ROUTE_KEY, authorizer=authorizer)
        result = lambda_handler(event, _Context())
        return ApiResponse(
            result["statusCode"],
            result.get("headers") or {},
            result.get("body") or "",
            list(result.get("cookies") or []),
        )

    def get(self, path: str, **query: str) -> ApiResponse:
        return self.request("GET", path, query=query or None)

    def post(self, path: str, body: Any = None) -> ApiResponse:
        return self.request("POST", path, body if body is not None else {})

    def put(self, path: str, body: Any = None) -> ApiResponse:
        return self.request("PUT", path, body if body is not None else {})

    def delete(self, path: str) -> ApiResponse:
        return self.request("DELETE", path)


class _Context:
    function_name = "playout-api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:playout-api"
    aws_request_id = "test-request"


@pytest.fixture
def aws_env() -> Iterator[RecordingLauncher]:
    with mock_aws():
        aws.reset_clients()
        bind_table(os.environ["TABLE_NAME"])
        boto3.client("dynamodb").create_table(**table_spec(os.environ["TABLE_NAME"]))
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=os.environ["MEDIA_BUCKET"])
        s3.put_bucket_cors(
            Bucket=os.environ["MEDIA_BUCKET"],
            CORSConfiguration={"CORSRules": resources.media_bucket_cors_rules(["https://app.test"])},
        )
        kms = boto3.client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=os.environ["KEY_ID"], TargetKeyId=key_id)
        boto3.client("scheduler").create_schedule_group(Name=os.environ["SCHEDULE_GROUP"])
        recording = RecordingLauncher()
        previous = launcher.get_launcher()
        launcher.set_launcher(recording)
        schedules.set_scheduler(None)  # the EventBridge Scheduler the settings describe (moto's)
        try:
            yield recording
        finally:
            launcher.set_launcher(previous)
            schedules.set_scheduler(None)
            aws.reset_clients()


@pytest.fixture
def alice(aws_env: RecordingLauncher) -> ApiClient:
    return ApiClient("11111111-aaaa-4aaa-8aaa-111111111111", "alice@example.com")


@pytest.fixture
def bob(aws_env: RecordingLauncher) -> ApiClient:
    return ApiClient("22222222-bbbb-4bbb-8bbb-222222222222", "bob@example.com")


@pytest.fixture
def google(
    emulator: RunningEmulator, aws_env: RecordingLauncher, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningEmulator]:
    """The API pointed at the YouTube emulator the test module runs as its `emulator` fixture; the emulator
    reset afterwards."""
    from tests.integration.youtube_world import (  # it imports this conftest
        control,
        forget_settings,
        point_the_api_at,
    )

    point_the_api_at(emulator, monkeypatch)
    try:
        yield emulator
    finally:
        control(emulator, "POST", "/reset")
        forget_settings()


@pytest.fixture
def library(alice: ApiClient) -> Any:
    """Alice with one ready media and one destination (tests.integration.library.Library)."""
    from tests.integration.library import Library
    from tests.integration.test_api import destination, upload

    return Library(alice, upload(alice)["media_id"], destination(alice)["destination_id"])
