"""The deploy-time image build (infra/image_build/handler.py): `on_event` starts the CodeBuild build on the
source the request names, and `is_complete` holds the deploy until the build has ended: done when it pushed,
an error (which fails and rolls back the deploy) when it did not."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

from infra.image_build import handler

PROJECT = "playout-stream-image"
_OK = AWSResponse("https://codebuild.us-east-1.amazonaws.com/", 200, {}, None)
SOURCE = "cdk-assets-123456789012-us-east-1/abababab.zip"


@pytest.fixture
def codebuild(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PROJECT_NAME", PROJECT)
    with mock_aws():
        role = boto3.client("iam").create_role(RoleName="build", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("codebuild")
        client.create_project(
            name=PROJECT,
            source={"type": "S3", "location": "assets/first-deploy.zip"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "ARM_CONTAINER",
                "image": "aws/codebuild/x",
                "computeType": "BUILD_GENERAL1_LARGE",
            },
            serviceRole=role,
        )
        yield client


@pytest.fixture
def builds_started(codebuild: Any) -> list[dict[str, Any]]:
    """What each StartBuild asked for (moto keeps no record of a build's source override)."""
    started: list[dict[str, Any]] = []
    boto3.DEFAULT_SESSION = None  # the handler's client comes from a new default session, under mock_aws

    def record(params: dict[str, Any], **_: Any) -> None:
        started.append(dict(params))

    boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.codebuild.StartBuild", record)
    return started


def _event(request_type: str, **extra: Any) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Playout-prod/1",
        "RequestId": "req-1",
        "LogicalResourceId": "StreamingImageDeployImageBuild",
        "ResourceProperties": {"SourceHash": "ab" * 32, "SourceLocation": SOURCE},
        **extra,
    }


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_a_deploy_builds_this_deploys_source_and_waits_for_the_push(
    codebuild: Any, builds_started: list[dict[str, Any]], request_type: str
) -> None:
    started = handler.on_event(_event(request_type), None)
    (build_id,) = codebuild.list_builds_for_project(projectName=PROJECT)["ids"]
    assert started["Data"] == {"BuildId": build_id}
    (asked,) = builds_started
    # Not the project's own source: the request's, so that a rollback builds the previous image again.
    assert (asked["sourceTypeOverride"], asked["sourceLocationOverride"]) == ("S3", SOURCE)
    # The provider merges on_event's answer into what it asks is_complete (moto's build ends at once).
    assert handler.is_complete({**_event(request_type), **started}, None)["IsComplete"] is True


@pytest.mark.parametrize("status", ["FAILED", "FAULT", "STOPPED", "TIMED_OUT"])
def test_a_build_that_did_not_push_fails_the_deploy_with_its_id(
    codebuild: Any, builds_started: list[dict[str, Any]], status: str
) -> None:
    started = handler.on_event(_event("Update", PhysicalResourceId="kept-id"), None)
    assert started["PhysicalResourceId"] == "kept-id"
    build_id = started["Data"]["BuildId"]
    (build,) = codebuild.batch_get_builds(ids=[build_id])["builds"]

    def ended(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # moto reports every build SUCCEEDED: CodeBuild's answer for a build that ended otherwise.
        return _OK, {"builds": [{**build, "buildStatus": status}], "buildsNotFound": []}

    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.codebuild.BatchGetBuilds", ended)
    with pytest.raises(RuntimeError, match=f"{build_id} ended {status}"):
        handler.is_complete({**_event("Update"), **started}, None)


def test_a_build_still_running_keeps_the_deploy_waiting(
    codebuild: Any, builds_started: list[dict[str, Any]]
) -> None:
    started = handler.on_event(_event("Create"), None)
    (build,) = codebuild.batch_get_builds(ids=[started["Data"]["BuildId"]])["builds"]

    def running(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return _OK, {"builds": [{**build, "buildStatus": "IN_PROGRESS"}], "buildsNotFound": []}

    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.codebuild.BatchGetBuilds", running)
    assert handler.is_complete({**_event("Create"), **started}, None) == {"IsComplete": False}


def test_removing_the_stack_builds_nothing(codebuild: Any) -> None:
    event = _event("Delete", PhysicalResourceId="kept-id")
    assert handler.on_event(event, None) == {"PhysicalResourceId": "kept-id"}
    assert handler.is_complete(event, None) == {"IsComplete": True}
    assert codebuild.list_builds_for_project(projectName=PROJECT)["ids"] == []


def test_a_build_that_cannot_start_fails_the_deploy_with_the_reason(
    codebuild: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECT_NAME", "no-such-project")
    with pytest.raises(codebuild.exceptions.ResourceNotFoundException, match="no-such-project"):
        handler.on_event(_event("Create"), None)
