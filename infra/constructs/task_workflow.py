"""What the stream task's workflow and the media job's share: RunTask on Fargate (Spot or on demand) as a
JSONata state, the exit code and the crash backoff in JSONata, and the cdk-nag acknowledgements a Fargate
task and a workflow that runs it both need."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.nag import acknowledge
from playout.workflow import RetryPolicy

TASK_FAILED = "States.TaskFailed"
ECS_API_ERROR = "ECS.AmazonECSException"
# The cause of States.TaskFailed is the ECS task description (JSON); any other cause reads as no task.
TASK_DESCRIPTION = r"($c := $states.errorOutput.Cause; $contains($c, /^\s*\{/) ? $parse($c) : {})"


def exit_code(container_name: str) -> str:
    """The container's exit code from the task description, null when it never ran (Assign refuses an
    undefined value)."""
    return (
        f"{{% ($code := {TASK_DESCRIPTION}.Containers[Name = '{container_name}'].ExitCode; "
        "$exists($code) ? $code : null) %}"
    )


def backoff_seconds(policy: RetryPolicy) -> str:
    """`policy.delay_s($crashes)`, rounded to whole seconds for a Wait state."""
    return (
        f"{{% $round($min([{policy.interval_s} * $power({policy.backoff_rate}, $crashes - 1), "
        f"{policy.max_delay_s}])) %}}"
    )


def run_task_state(
    scope: Construct,
    state_id: str,
    *,
    cluster: ecs.ICluster,
    task_definition: ecs.FargateTaskDefinition,
    capacity_provider: str,
    subnets: ec2.SubnetSelection,
    security_group: ec2.ISecurityGroup,
    environment_from_variables: Mapping[str, str],
    environment: Mapping[str, str] | None = None,
    propagated_tag_source: ecs.PropagatedTagSource | None = None,
    state_class: type[tasks.EcsRunTask] = tasks.EcsRunTask,
) -> tasks.EcsRunTask:
    """RunTask that waits for the task to stop, on `capacity_provider` (FARGATE_SPOT or FARGATE), with a
    public IP (the VPC has no NAT). The container gets each of `environment_from_variables` (its name: the
    workflow variable's), then `environment` as it is."""
    container = task_definition.default_container
    assert container is not None
    state = state_class(
        scope,
        state_id,
        query_language=sfn.QueryLanguage.JSONATA,
        integration_pattern=sfn.IntegrationPattern.RUN_JOB,
        cluster=cluster,
        task_definition=task_definition,
        launch_target=tasks.EcsFargateLaunchTarget(
            platform_version=ecs.FargatePlatformVersion.LATEST,
            capacity_provider_options=tasks.CapacityProviderOptions.custom(
                [ecs.CapacityProviderStrategy(capacity_provider=capacity_provider, weight=1)]
            ),
        ),
        assign_public_ip=True,
        subnets=subnets,
        security_groups=[security_group],
        container_overrides=[
            tasks.ContainerOverride(
                container_definition=container,
                environment=[
                    *(
                        tasks.TaskEnvironmentVariable(name=name, value=f"{{% ${variable} %}}")
                        for name, variable in environment_from_variables.items()
                    ),
                    *(
                        tasks.TaskEnvironmentVariable(name=name, value=value)
                        for name, value in (environment or {}).items()
                    ),
                ],
            )
        ],
        propagated_tag_source=propagated_tag_source,
        outputs={},
    )
    _scope_task_control_to_cluster(state, cluster)
    return state


def _scope_task_control_to_cluster(state: tasks.EcsRunTask, cluster: ecs.ICluster) -> None:
    """runTask.sync's own statement (ecs:StopTask, ecs:DescribeTasks on '*': task ids exist only at run time)
    gets the ecs:cluster condition, so the workflow can stop or read this cluster's tasks only."""
    statements = [s for s in state._task_policies or [] if "ecs:StopTask" in s.to_statement_json()["Action"]]
    assert statements, "EcsRunTask no longer grants ecs:StopTask: revisit this scoping"
    for statement in statements:
        statement.add_condition("ArnEquals", {"ecs:cluster": cluster.cluster_arn})


def acknowledge_execution_role(task_definition: ecs.TaskDefinition) -> None:
    policy = task_definition.obtain_execution_role().node.try_find_child("DefaultPolicy")
    assert policy is not None
    acknowledge(
        policy,
        "IAM5[Resource::*]",
        "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); image pulls and "
        "log writes in the same policy are scoped to the stack's image repository and the container's log "
        "group.",
    )


def acknowledge_run_task_wildcards(state_machine: sfn.StateMachine) -> None:
    policy = state_machine.role.node.try_find_child("DefaultPolicy")
    assert policy is not None
    acknowledge(
        policy,
        "IAM5[Resource::*]",
        "'*' only where AWS offers no narrower resource: ecs:StopTask/DescribeTasks (task ARNs exist "
        "only at run time; limited to this cluster by the ecs:cluster condition), X-Ray tracing and "
        "CloudWatch Logs delivery for the state machine's log group.",
    )
