"""The stream task's image is rebuilt every week (and at deploy when its source changed) with fresh packages,
into the stack's own repository, under the tag both task definitions run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constructs.stream_image import IMAGE_TAG

pytestmark = pytest.mark.infra

Resources = dict[str, list[dict[str, Any]]]


def _one(resources_by_type: Resources, type_name: str) -> dict[str, Any]:
    (resource,) = resources_by_type[type_name]
    return resource


def _build_commands(project: dict[str, Any]) -> list[str]:
    spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    return [command for phase in spec["phases"].values() for command in phase["commands"]]


def test_both_task_definitions_run_the_repositorys_rebuilt_tag(resources_by_type: Resources) -> None:
    repository = _one(resources_by_type, "AWS::ECR::Repository")
    assert repository["Properties"]["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["Properties"]["ImageTagMutability"] == "MUTABLE"  # the tag moves to each build
    deploy_build = _one(resources_by_type, "Custom::StreamTaskImageBuild")
    for task in resources_by_type["AWS::ECS::TaskDefinition"]:
        (container,) = task["Properties"]["ContainerDefinitions"]
        image = container["Image"]["Fn::Join"][1]
        assert {"Ref": repository["LogicalId"]} in image
        assert image[-1] == f":{IMAGE_TAG}"
        # Never a task definition naming an image that was not pushed yet.
        assert deploy_build["LogicalId"] in task["DependsOn"]
    # No image asset is built by the CDK CLI any more: CodeBuild builds it.
    assert "aws-cdk:asset" not in json.dumps(resources_by_type["AWS::ECS::TaskDefinition"])


def test_the_build_takes_fresh_packages_and_pushes_the_tag_the_tasks_run(
    resources_by_type: Resources,
) -> None:
    project = _one(resources_by_type, "AWS::CodeBuild::Project")
    environment = project["Properties"]["Environment"]
    assert environment["Type"] == "ARM_CONTAINER"  # the tasks run on arm64
    assert environment["PrivilegedMode"] is True
    variables = {v["Name"]: v["Value"] for v in environment["EnvironmentVariables"]}
    assert variables["IMAGE_TAG"] == IMAGE_TAG
    assert variables["DOCKER_BUILDKIT"] == "1"  # only the stages its target needs
    commands = _build_commands(project)
    (build,) = [c for c in commands if c.startswith("docker build")]
    assert "--pull" in build  # the current base image
    assert "--no-cache" in build  # apt-get runs again: the current Debian packages
    assert (
        "--file stream_task/Dockerfile --target task " in build
    )  # the engine's ffmpeg compiled in the build
    assert '--tag "$REPOSITORY_URI:$IMAGE_TAG"' in build
    assert any(c.startswith("docker push") for c in commands)
    assert project["Properties"]["Source"]["Type"] == "S3"  # the source asset (stream_task/ and layers/)


def test_a_weekly_rule_starts_the_build(resources_by_type: Resources) -> None:
    project = _one(resources_by_type, "AWS::CodeBuild::Project")
    (rule,) = [
        r
        for r in resources_by_type["AWS::Events::Rule"]
        if project["LogicalId"] in json.dumps(r["Properties"].get("Targets", []))
    ]
    assert rule["Properties"]["ScheduleExpression"] == "cron(0 4 ? * MON *)"
    assert rule["Properties"]["State"] == "ENABLED"


def test_a_deploy_builds_again_when_the_source_changed_and_waits_for_it(resources_by_type: Resources) -> None:
    deploy_build = _one(resources_by_type, "Custom::StreamTaskImageBuild")
    assert len(deploy_build["Properties"]["SourceHash"]) == 64  # a new hash: an update, hence a build
    (function,) = [
        f
        for f in resources_by_type["AWS::Lambda::Function"]
        if f["LogicalId"] in json.dumps(deploy_build["Properties"]["ServiceToken"])
    ]
    assert function["Properties"]["Timeout"] == 900  # it waits for the build (up to Lambda's 15 minutes)
    statements = [
        s
        for p in resources_by_type["AWS::IAM::Policy"]
        if function["Properties"]["Role"]["Fn::GetAtt"][0] in json.dumps(p["Properties"]["Roles"])
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    (codebuild,) = [s for s in statements if "codebuild:StartBuild" in s["Action"]]
    assert sorted(codebuild["Action"]) == ["codebuild:BatchGetBuilds", "codebuild:StartBuild"]
    project = _one(resources_by_type, "AWS::CodeBuild::Project")
    assert codebuild["Resource"] == {"Fn::GetAtt": [project["LogicalId"], "Arn"]}
