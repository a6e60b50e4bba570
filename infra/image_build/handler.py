"""The deploy-time build of the stream task's image: the two handlers of a CDK custom resource provider
(infra/constructs/stream_image.py). `on_event` starts the CodeBuild project on the source this request
names; `is_complete` is asked every 30 s until the build has ended, so that the stack is never deployed
pointing at an image that was not pushed. A failed build fails the deploy (and rolls it back).

The source comes from the request, not from the project's own settings: on a rollback CloudFormation sends
the previous properties, and the build then pushes the previous source's image again.

Runs in Lambda with its standard library and the runtime's boto3."""

from __future__ import annotations

import os
from typing import Any

import boto3

RUNNING = "IN_PROGRESS"


def on_event(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    physical_id = event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-build"
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": physical_id}  # the images stay in the repository
    source = event["ResourceProperties"]["SourceLocation"]  # "bucket/key" of the source asset
    build = boto3.client("codebuild").start_build(
        projectName=os.environ["PROJECT_NAME"],
        sourceTypeOverride="S3",
        sourceLocationOverride=source,
    )["build"]
    return {"PhysicalResourceId": physical_id, "Data": {"BuildId": build["id"]}}


def is_complete(event: dict[str, Any], _context: Any) -> dict[str, Any]:
    if event["RequestType"] == "Delete":
        return {"IsComplete": True}
    build_id = event["Data"]["BuildId"]
    (build,) = boto3.client("codebuild").batch_get_builds(ids=[build_id])["builds"]
    status = build["buildStatus"]
    if status == RUNNING:
        return {"IsComplete": False}
    if status != "SUCCEEDED":
        # The provider fails the resource with this message: the deploy stops and rolls back.
        raise RuntimeError(f"the image build {build_id} ended {status}: see its CodeBuild log")
    return {"IsComplete": True, "Data": {"BuildId": build_id}}
