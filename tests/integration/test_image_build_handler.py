"""The deploy-time image build (infra/image_build/handler.py) answers CloudFormation only once the CodeBuild
build has ended: SUCCESS when it pushed, FAILED (which rolls the deploy back) when it could not build."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.image_build import handler

PROJECT = "playout-stream-image"


class _CloudFormation(BaseHTTPRequestHandler):
    """Stands in for CloudFormation's presigned response URL: records what the custom resource answers."""

    answers: list[dict[str, Any]]

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.answers.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def response_url() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    answers: list[dict[str, Any]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Answers", (_CloudFormation,), {"answers": answers}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/response", answers
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def codebuild(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PROJECT_NAME", PROJECT)
    with mock_aws():
        role = boto3.client("iam").create_role(RoleName="build", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        client = boto3.client("codebuild")
        client.create_project(
            name=PROJECT,
            source={"type": "S3", "location": "assets/source.zip"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "ARM_CONTAINER",
                "image": "aws/codebuild/x",
                "computeType": "BUILD_GENERAL1_LARGE",
            },
            serviceRole=role,
        )
        yield client


class _Context:
    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def _event(request_type: str, url: str) -> dict[str, Any]:
    return {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/Playout-prod/1",
        "RequestId": "req-1",
        "LogicalResourceId": "StreamingImageDeployBuild",
        "ResourceProperties": {"SourceHash": "ab" * 32},
    }


@pytest.mark.parametrize("request_type", ["Create", "Update"])
def test_a_deploy_builds_the_image_and_answers_once_it_was_pushed(
    codebuild: Any, response_url: tuple[str, list[dict[str, Any]]], request_type: str
) -> None:
    url, answers = response_url
    handler.lambda_handler(_event(request_type, url), _Context())
    (answer,) = answers
    assert answer["Status"] == "SUCCESS", answer
    (build_id,) = codebuild.list_builds_for_project(projectName=PROJECT)["ids"]
    assert build_id in answer["Reason"]
    assert (answer["RequestId"], answer["LogicalResourceId"]) == ("req-1", "StreamingImageDeployBuild")


def test_removing_the_stack_builds_nothing(
    codebuild: Any, response_url: tuple[str, list[dict[str, Any]]]
) -> None:
    url, answers = response_url
    handler.lambda_handler({**_event("Delete", url), "PhysicalResourceId": "kept-id"}, _Context())
    (answer,) = answers
    assert (answer["Status"], answer["PhysicalResourceId"]) == ("SUCCESS", "kept-id")
    assert codebuild.list_builds_for_project(projectName=PROJECT)["ids"] == []


def test_a_build_that_cannot_start_fails_the_deploy_with_the_reason(
    codebuild: Any, response_url: tuple[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECT_NAME", "no-such-project")
    url, answers = response_url
    handler.lambda_handler(_event("Create", url), _Context())
    (answer,) = answers
    assert answer["Status"] == "FAILED"
    assert "no-such-project" in answer["Reason"] or "ResourceNotFound" in answer["Reason"]
