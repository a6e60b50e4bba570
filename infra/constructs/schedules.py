"""Scheduled starts: an EventBridge Scheduler group for one-time schedules (one per scheduled stream, created
by the API), the role the scheduler assumes (it may invoke one Lambda), and that Lambda, which starts the
stream `playout.schedules.PREWARM_LEAD` before its time."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.data import DataStore
from infra.constructs.functions import acknowledge_function_policy, domain_function
from infra.constructs.least_privilege import (
    SCHEDULED_START_TABLE_ACTIONS,
    allow_decrypting_refresh_tokens,
    allow_encrypting_secrets,
    grant_table_access,
)
from infra.nag import acknowledge, logical_id

SCHEDULED_START_HANDLER = "scheduled_start.handler.lambda_handler"


class StreamSchedules(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repo_root: Path,
        layer: lambda_.ILayerVersion,
        data: DataStore,
        state_machine: sfn.StateMachine,
        max_concurrent_streams: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.group = scheduler.CfnScheduleGroup(self, "Group")
        self.function = domain_function(
            self,
            "StartFunction",
            repo_root=repo_root,
            layer=layer,
            handler=SCHEDULED_START_HANDLER,
            environment={
                "TABLE_NAME": data.table.table_name,
                "MEDIA_BUCKET": data.media_bucket.bucket_name,
                "KEY_ID": data.secrets_key.key_id,
                "STATE_MACHINE_ARN": state_machine.state_machine_arn,
                "MAX_CONCURRENT_STREAMS": str(max_concurrent_streams),
                "POWERTOOLS_SERVICE_NAME": "playout-schedules",
                "LOG_LEVEL": "INFO",
            },
            log_retention=log_retention,
            timeout=Duration.seconds(30),
            description="Playout: starts a scheduled stream at its pre-warm time",
        )
        role = self.function.role
        assert role is not None
        grant_table_access(role, data.table, SCHEDULED_START_TABLE_ACTIONS)
        # A YouTube channel's refresh token (decrypt) and, at its first start, its liveStream's key (encrypt).
        allow_encrypting_secrets(role, data.secrets_key)
        allow_decrypting_refresh_tokens(role, data.secrets_key)
        state_machine.grant_start_execution(self.function)
        acknowledge_function_policy(self.function, {})
        self.role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description="EventBridge Scheduler: invoke the scheduled-start Lambda, nothing else",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"],
                resources=[self.function.function_arn, f"{self.function.function_arn}:*"],
            )
        )
        policy = self.role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        acknowledge(
            policy,
            f"IAM5[Resource::<{logical_id(self.function)}.Arn>:*]",
            "Invoke of the scheduled-start function only, any of its versions or aliases (how Lambda ARNs "
            "are qualified); no other function.",
        )

    @property
    def group_name(self) -> str:
        return self.group.ref

    def schedules_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="scheduler", resource="schedule", resource_name=f"{self.group_name}/*"
        )

    def allow_scheduling(self, function: lambda_.Function) -> None:
        """What the API needs to create, move and delete the group's schedules, and its environment."""
        function.add_environment("SCHEDULE_GROUP", self.group_name)
        function.add_environment("SCHEDULED_START_FUNCTION_ARN", self.function.function_arn)
        function.add_environment("SCHEDULER_ROLE_ARN", self.role.role_arn)
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="ManageScheduledStarts",
                actions=["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"],
                resources=[self.schedules_arn()],
            )
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="PassSchedulerRole",
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
        role = function.role
        assert role is not None
        policy = role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        acknowledge(
            policy,
            "IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/"
            f"<{Stack.of(self).resolve(self.group.logical_id)}>/*]",
            "Create/update/delete schedules in this app's scheduled-start group only: one schedule per "
            "scheduled stream, named by its id at run time.",
        )
