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


def _function_of(resources_by_type: Resources, service_token: Any) -> dict[str, Any]:
    (function,) = [
        f for f in resources_by_type["AWS::Lambda::Function"] if f["LogicalId"] in json.dumps(service_token)
    ]
    return function


def _actions_of(resources_by_type: Resources, function: dict[str, Any]) -> set[str]:
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return {
        action
        for policy in resources_by_type["AWS::IAM::Policy"]
        if role in json.dumps(policy["Properties"]["Roles"])
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action.startswith("codebuild:")
    }


def test_a_deploy_builds_again_when_the_source_changed_and_waits_past_lambdas_15_minutes(
    resources_by_type: Resources,
) -> None:
    deploy_build = _one(resources_by_type, "Custom::StreamTaskImageBuild")
    properties = deploy_build["Properties"]
    assert len(properties["SourceHash"]) == 64  # a new hash: an update, hence a build
    # The build takes the source the request names: a rollback's old properties build the old image.
    location = json.dumps(properties["SourceLocation"])
    assert properties["SourceHash"] in location
    # A provider framework answers CloudFormation; its waiter asks the check handler until the build ends.
    framework = _function_of(resources_by_type, properties["ServiceToken"])
    variables = framework["Properties"]["Environment"]["Variables"]
    start = _function_of(resources_by_type, variables["USER_ON_EVENT_FUNCTION_ARN"])
    check = _function_of(resources_by_type, variables["USER_IS_COMPLETE_FUNCTION_ARN"])
    assert start["Properties"]["Handler"] == "handler.on_event"
    assert check["Properties"]["Handler"] == "handler.is_complete"
    assert _actions_of(resources_by_type, start) == {"codebuild:StartBuild"}
    assert _actions_of(resources_by_type, check) == {"codebuild:BatchGetBuilds"}
    (waiter,) = [
        m
        for m in resources_by_type["AWS::StepFunctions::StateMachine"]
        if "DeployBuildWait" in m["LogicalId"]
    ]
    separator, parts = waiter["Properties"]["DefinitionString"]["Fn::Join"]
    definition = json.loads(separator.join(p if isinstance(p, str) else "arn" for p in parts))
    (poll,) = definition["States"]["framework-isComplete-task"]["Retry"]
    # Asked every 30 s for 55 minutes: past the 45 a build may take, within CloudFormation's hour.
    assert (poll["IntervalSeconds"], poll["MaxAttempts"], poll["BackoffRate"]) == (30, 110, 1)
    assert waiter["Properties"]["LoggingConfiguration"]["Level"] == "ALL"
