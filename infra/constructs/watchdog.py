"""The stream watchdog: a Lambda on the cluster's ECS task state changes (STOPPED), on the stream workflow's
executions ending, and on a one-minute sweep, which settles runs whose task died without writing the
stream's status, ends the YouTube broadcasts of runs that are over, and stops tasks whose heartbeat is stale
(playout/watchdog.py)."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.data import DataStore
from infra.constructs.functions import acknowledge_function_policy, domain_function
from infra.constructs.least_privilege import (
    WATCHDOG_INDEX_ACTIONS,
    WATCHDOG_TABLE_ACTIONS,
    allow_decrypting_refresh_tokens,
    grant_table_access,
)
from infra.nag import logical_id

WATCHDOG_HANDLER = "stream_watchdog.handler.lambda_handler"
SWEEP_EVERY = Duration.minutes(1)


class StreamWatchdog(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repo_root: Path,
        layer: lambda_.ILayerVersion,
        data: DataStore,
        cluster: ecs.ICluster,
        state_machine: sfn.StateMachine,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = domain_function(
            self,
            "Function",
            repo_root=repo_root,
            layer=layer,
            handler=WATCHDOG_HANDLER,
            environment={
                "TABLE_NAME": data.table.table_name,
                "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                "CLUSTER_ARN": cluster.cluster_arn,
                "POWERTOOLS_SERVICE_NAME": "playout-watchdog",
                "LOG_LEVEL": "INFO",
            },
            log_retention=log_retention,
            timeout=Duration.seconds(55),  # within the sweep's minute
            description="Playout: settles streams whose task died silently, stops tasks that stopped beating",
        )
        self._grant(data, cluster, state_machine)
        self.task_stopped_rule = events.Rule(
            self,
            "TaskStopped",
            description="A stream task stopped: settle its stream if nothing else will",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Task State Change"],
                detail={"clusterArn": [cluster.cluster_arn], "lastStatus": ["STOPPED"]},
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        # A workflow that failed a run with no task behind it (no capacity even on demand) sends no STOPPED
        # event, and the sweep sees only active streams: its end is what ends that run's broadcasts.
        self.run_over_rule = events.Rule(
            self,
            "RunOver",
            description="A stream workflow's execution ended: end the run's YouTube broadcasts if still open",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={
                    "stateMachineArn": [state_machine.state_machine_arn],
                    "status": ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"],
                },
            ),
            targets=[targets.LambdaFunction(self.function, retry_attempts=2)],
        )
        self.sweep_rule = events.Rule(
            self,
            "Sweep",
            description="Every minute: every active stream has a task behind it that still beats",
            schedule=events.Schedule.rate(SWEEP_EVERY),
            targets=[targets.LambdaFunction(self.function, retry_attempts=0)],
        )

    def _grant(self, data: DataStore, cluster: ecs.ICluster, state_machine: sfn.StateMachine) -> None:
        stack = Stack.of(self)
        role = self.function.role
        assert role is not None
        grant_table_access(role, data.table, WATCHDOG_TABLE_ACTIONS, index_actions=WATCHDOG_INDEX_ACTIONS)
        allow_decrypting_refresh_tokens(
            role, data.secrets_key
        )  # a dead run's broadcasts: its channel's token
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadRunExecutions",
                actions=["states:DescribeExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{state_machine.state_machine_name}:*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
            )
        )
        self.function.add_to_role_policy(
            iam.PolicyStatement(
                sid="StopSilentTasks",
                actions=["ecs:StopTask"],
                resources=[
                    stack.format_arn(
                        service="ecs", resource="task", resource_name=f"{cluster.cluster_name}/*"
                    )
                ],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            )
        )
        acknowledge_function_policy(
            self.function,
            {
                "Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:"
                f"<{logical_id(state_machine)}.Name>:*": "DescribeExecution on this state machine's "
                "executions only: each run's execution is named by its run id, known only at run time.",
                "Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/"
                f"<{logical_id(cluster)}>/*": "StopTask on this cluster's tasks only (ecs:cluster "
                "condition): task ids exist only at run time.",
            },
        )
