"""The Lambdas beside the API's (watchdog, scheduled start): the same code asset, layer and runtime."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.api import API_ARCHITECTURE, API_RUNTIME
from infra.nag import acknowledge, acknowledge_basic_execution_role


def domain_function(
    scope: Construct,
    construct_id: str,
    *,
    repo_root: Path,
    layer: lambda_.ILayerVersion,
    handler: str,
    environment: dict[str, str],
    log_retention: logs.RetentionDays,
    timeout: Duration,
    description: str,
) -> lambda_.Function:
    log_group = logs.LogGroup(
        scope, f"{construct_id}Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
    )
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=API_RUNTIME,
        architecture=API_ARCHITECTURE,
        code=lambda_.Code.from_asset(str(repo_root / "functions"), exclude=["**/__pycache__", "*.pyc"]),
        handler=handler,
        layers=[layer],
        memory_size=256,
        timeout=timeout,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        environment=environment,
        description=description,
    )
    acknowledge(
        function,
        "L1",
        "Python 3.12 is pinned on purpose, as for the API function: the shared dependency layer is built "
        "from cp312 arm64 wheels (infra/layer_build.py); moving runtime means rebuilding the layer too.",
    )
    role = function.role
    assert role is not None
    acknowledge_basic_execution_role(role)
    return function


def acknowledge_function_policy(function: lambda_.Function, findings: dict[str, str]) -> None:
    """Acknowledge IAM5 findings on the function's default policy (after every grant was added)."""
    role = function.role
    assert role is not None
    policy = role.node.try_find_child("DefaultPolicy")
    assert policy is not None
    acknowledge(
        policy,
        "IAM5[Resource::*]",
        "Only the X-Ray statement (xray:PutTraceSegments/PutTelemetryRecords) uses '*': X-Ray has no "
        "resource-level permissions.",
    )
    for finding, reason in findings.items():
        acknowledge(policy, f"IAM5[{finding}]", reason)
