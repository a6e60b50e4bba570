"""The deploy-time build of the stream task's image: a CloudFormation custom resource that starts the
CodeBuild project (infra/constructs/stream_image.py) and answers only when the build has ended, so that the
stack is never deployed pointing at an image that was not pushed. A failed build fails the deploy (and rolls
it back).

Runs in Lambda with its standard library and the runtime's boto3: the response goes to CloudFormation's
presigned URL (cfn-response's protocol)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Any

import boto3

POLL_S = 15
# Lambda stops at 15 minutes: leave time to answer CloudFormation.
ANSWER_BEFORE_MS = 30_000
DONE = {"SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT"}


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    physical_id = event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-build"
    try:
        if event["RequestType"] == "Delete":
            _answer(event, "SUCCESS", physical_id, "nothing to delete: the images stay in the repository")
            return
        codebuild = boto3.client("codebuild")
        build = codebuild.start_build(projectName=os.environ["PROJECT_NAME"])["build"]
        status = _wait(codebuild, build["id"], context)
        if status == "SUCCEEDED":
            _answer(event, "SUCCESS", physical_id, f"build {build['id']} pushed the image")
        else:
            _answer(
                event, "FAILED", physical_id, f"build {build['id']} ended {status}: see its CodeBuild log"
            )
    except Exception as error:  # CloudFormation waits an hour for an answer that never comes otherwise
        _answer(event, "FAILED", physical_id, f"{type(error).__name__}: {error}")


def _wait(codebuild: Any, build_id: str, context: Any) -> str:
    while context.get_remaining_time_in_millis() > ANSWER_BEFORE_MS + POLL_S * 1000:
        (build,) = codebuild.batch_get_builds(ids=[build_id])["builds"]
        if build["buildStatus"] in DONE:
            return str(build["buildStatus"])
        time.sleep(POLL_S)
    return "still running when the deploy could wait no longer"


def _answer(event: dict[str, Any], status: str, physical_id: str, reason: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310  (CloudFormation's presigned https URL)
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""}
    )
    with urllib.request.urlopen(request, timeout=30):  # noqa: S310
        pass
