"""Streaming: VPC without NAT, ECS cluster (Fargate + Spot), the stream task and its Step Functions workflow.

Workflow (input `{stream_id, user_id, run_id}`, JSONata, variables instead of a growing state):

    Begin ─> RunOnSpot ──ECS.AmazonECSException (no Spot capacity)──> RunOnDemand
                │ exit 0                                                  │ exit 0
                v                                                          v
               Done <───────────────────────────────────────────────────────
    any other exit (States.TaskFailed: exit code and run time read from the ECS task description; any
    other error: no exit code) ─> Route = `playout.workflow.next_step`:
        143 ─> RunOnSpot at once (the crash budget untouched; re-armed after a healthy run)
        3 ─> SettleEnded ─> Done          2, 4 ─> SettleFailed ─> StreamFailed (Fail: the alarm)
        crash within the budget ─> Backoff (Wait) ─> RunOnSpot      budget spent ─> SettleFailed

Settle* write the stream's end and release the owner's active-stream slot in one DynamoDB transaction,
conditional on the run; a failed condition means the task already wrote it. No state has a timeout: a
healthy stream runs as long as it is wanted. Each task adds about 8 history events (10 with a backoff), so
the 25,000-event limit of an execution allows about 3,000 task restarts per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.data import DataStore
from infra.constructs.least_privilege import STREAM_TASK_TABLE_ACTIONS, grant_table_access
from infra.constructs.stream_image import StreamTaskImage
from infra.constructs.task_workflow import (
    ECS_API_ERROR,
    TASK_DESCRIPTION,
    TASK_FAILED,
    acknowledge_execution_role,
    acknowledge_run_task_wildcards,
    backoff_seconds,
    exit_code,
    run_task_state,
)
from infra.nag import acknowledge, logical_id
from playout import resources
from playout.health import ON_DEMAND, SPOT
from playout.models import PROFILE_SK
from playout.usage import STREAM_TASK_SIZE
from playout.workflow import (
    EXIT_ENDED_UNWRITTEN,
    EXIT_FAILED_FOR_GOOD,
    EXIT_INTERRUPTED,
    EXIT_SETTLED,
    RETRY_POLICY,
)

STREAM_CONTAINER_NAME = "stream"
TRANSACTION_CANCELLED = "DynamoDb.TransactionCanceledException"
DYNAMODB_TRANSIENT = (
    "DynamoDb.ThrottlingException",
    "DynamoDb.ProvisionedThroughputExceededException",
    "DynamoDb.RequestLimitExceededException",
    "DynamoDb.InternalServerErrorException",
)
ACTIVE_STATUSES = ("starting", "live", "stopping")
# State names (the contract with tests/infra, which walks the definition).
RUN_ON_SPOT, RUN_ON_DEMAND, ROUTE, BACKOFF = "RunOnSpot", "RunOnDemand", "Route", "Backoff"
SETTLE_ENDED, SETTLE_FAILED, DONE = "SettleEnded", "SettleFailed", "Done"
# Workflow variables -> what the task's container gets (nothing secret) and how RunTask tags the task.
TASK_ENVIRONMENT = {"STREAM_ID": "stream_id", "USER_ID": "user_id", "RUN_ID": "run_id"}
RUN_TASK_TAGS = {"playout:stream_id": "stream_id", "playout:user_id": "user_id", "playout:run_id": "run_id"}
# From the ECS task description: how long the task ran (0 when it never started). Times are epoch
# milliseconds; an ISO string is read too. Every path yields a value: Assign refuses an undefined one.
_MS = "function($t) { $type($t) = 'string' ? $toMillis($t) : $t }"
EXIT_CODE = exit_code(STREAM_CONTAINER_NAME)
RAN_S = (
    f"{{% ($task := {TASK_DESCRIPTION}; $ms := {_MS}; "
    "($exists($task.StartedAt) and $exists($task.StoppedAt)) "
    "? ($ms($task.StoppedAt) - $ms($task.StartedAt)) / 1000 : 0) %}"
)
BACKOFF_SECONDS = backoff_seconds(RETRY_POLICY)
# XPath picture for pynamodb's DATETIME_FORMAT '%Y-%m-%dT%H:%M:%S.%f+0000' (milliseconds, then 000).
_PYNAMODB_UTC_PICTURE = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001]000+0000"


@dataclass(frozen=True)
class StreamingSettings:
    log_retention: logs.RetentionDays
    task_cpu: int = STREAM_TASK_SIZE.cpu_units  # the size bench/ measured a stream to need
    task_memory_mib: int = STREAM_TASK_SIZE.memory_mib


class Streaming(Construct):
    """Runs one Fargate task per live stream, driven by a Step Functions STANDARD workflow."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repo_root: Path,
        data: DataStore,
        settings: StreamingSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self.vpc = self._build_vpc()
        self.cluster = self._build_cluster()
        self.task_security_group = self._build_task_security_group()
        self.task_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)
        # One image for the stream task and the media job (another command), rebuilt every week.
        self.stream_image = StreamTaskImage(
            self, "Image", repo_root=repo_root, log_retention=settings.log_retention
        )
        self.image = self.stream_image.image
        self.task_definition = self._build_task_definition(repo_root, data)
        self.stream_image.used_by(self.task_definition)
        self._grant_task_access(data)
        self.state_machine = self._build_state_machine(data)

    # -- network and cluster ------------------------------------------------------------------------------

    def _build_vpc(self) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=2,
            nat_gateways=0,  # tasks get a public IP: a NAT gateway would cost more than the streams
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24)
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
                "DynamoDB": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.DYNAMODB),
            },
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=self._settings.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        return vpc

    def _build_cluster(self) -> ecs.Cluster:
        return ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
            enable_fargate_capacity_providers=True,
        )

    def _build_task_security_group(self) -> ec2.SecurityGroup:
        # Egress only (S3/DynamoDB through gateway endpoints, RTMP(S) ingests and HTTPS on the internet).
        return ec2.SecurityGroup(
            self,
            "TaskSecurityGroup",
            vpc=self.vpc,
            allow_all_outbound=True,
            description="Playout stream tasks: no inbound, outbound to ingests and AWS APIs",
        )

    # -- the stream task -------------------------------------------------------------------------------------

    def _build_task_definition(self, repo_root: Path, data: DataStore) -> ecs.FargateTaskDefinition:
        task_definition = ecs.FargateTaskDefinition(
            self,
            "StreamTask",
            cpu=self._settings.task_cpu,
            memory_limit_mib=self._settings.task_memory_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        container_logs = logs.LogGroup(
            self,
            "StreamTaskLogs",
            retention=self._settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        task_definition.add_container(
            STREAM_CONTAINER_NAME,
            image=self.image,
            essential=True,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="stream", log_group=container_logs),
            environment={
                "TABLE_NAME": data.table.table_name,
                "MEDIA_BUCKET": data.media_bucket.bucket_name,
                "POWERTOOLS_SERVICE_NAME": "playout-stream",
            },
            stop_timeout=Duration.seconds(resources.TASK_STOP_TIMEOUT_S),
            # An init process reaps ffmpeg's children and forwards SIGTERM to the supervisor.
            linux_parameters=ecs.LinuxParameters(self, "StreamLinuxParameters", init_process_enabled=True),
        )
        return task_definition

    def _grant_task_access(self, data: DataStore) -> None:
        task_role = self.task_definition.task_role
        grant_table_access(task_role, data.table, STREAM_TASK_TABLE_ACTIONS)
        # Objects only (no List*/GetBucket*): the task reads the media its stream spec names.
        task_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadMedia", actions=["s3:GetObject"], resources=[data.media_bucket.arn_for_objects("*")]
            )
        )
        # The only reader of stream keys (and of refresh tokens, for the broadcasts it ends and rotates).
        task_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptSecrets", actions=["kms:Decrypt"], resources=[data.secrets_key.key_arn]
            )
        )
        self._acknowledge_task_findings(data)

    def _acknowledge_task_findings(self, data: DataStore) -> None:
        task_policy = self.task_definition.task_role.node.try_find_child("DefaultPolicy")
        assert task_policy is not None
        acknowledge(
            task_policy,
            f"IAM5[Resource::<{logical_id(data.media_bucket)}.Arn>/*]",
            "s3:GetObject on the media bucket's objects: which media a stream plays is data (its playlist), "
            "so objects can only be named by the bucket's prefix. Read-only; no list, no write.",
        )
        acknowledge_execution_role(self.task_definition)
        acknowledge(
            self.task_definition,
            "ECS2",
            "The container's environment holds resource names only (table, bucket, service name); secrets "
            "(stream keys, OAuth tokens) are read from DynamoDB and decrypted with KMS by the task itself.",
        )

    # -- the workflow ----------------------------------------------------------------------------------------

    def _build_state_machine(self, data: DataStore) -> sfn.StateMachine:
        done = sfn.Succeed(self, DONE, comment="The task settled the stream, or the workflow wrote its end")
        stream_failed = sfn.Fail.jsonata(self, "StreamFailed", error="StreamFailed", cause="{% $reason %}")
        settle_ended = self._build_settle(data, SETTLE_ENDED, status="ended")
        settle_failed = self._build_settle(data, SETTLE_FAILED, status="failed")
        _add_settle_error_handling(settle_ended, already_settled=done)
        _add_settle_error_handling(settle_failed, already_settled=stream_failed)
        settle_ended.next(done)
        settle_failed.next(stream_failed)

        begin = sfn.Pass.jsonata(
            self,
            "Begin",
            assign={
                "stream_id": "{% $states.input.stream_id %}",
                "user_id": "{% $states.input.user_id %}",
                "run_id": "{% $states.input.run_id %}",
                "crashes": 0,
            },
        )
        run_on_spot = self._build_run_task(RUN_ON_SPOT, capacity_provider="FARGATE_SPOT", capacity=SPOT)
        run_on_demand = self._build_run_task(RUN_ON_DEMAND, capacity_provider="FARGATE", capacity=ON_DEMAND)
        backoff = sfn.CustomState(
            self,
            BACKOFF,
            state_json={"Type": "Wait", "QueryLanguage": "JSONata", "Seconds": BACKOFF_SECONDS},
        )
        route = self._build_route(
            resume=run_on_spot,
            backoff=backoff,
            settle_ended=settle_ended,
            settle_failed=settle_failed,
            done=done,
        )
        backoff.next(run_on_spot)

        # A task that exits 0 succeeds the state; any other exit fails it with States.TaskFailed, whose cause
        # is the ECS task description (exit code, start and stop times): route on those.
        for run_task in (run_on_spot, run_on_demand):
            run_task.next(done)
        run_on_spot.add_catch(run_on_demand, errors=[ECS_API_ERROR])  # Spot has no capacity: on-demand
        for run_task in (run_on_spot, run_on_demand):
            run_task.add_catch(route, errors=[TASK_FAILED], assign={"exit_code": EXIT_CODE, "ran_s": RAN_S})
            run_task.add_catch(route, errors=[sfn.Errors.ALL], assign={"exit_code": "{% null %}", "ran_s": 0})

        workflow_logs = logs.LogGroup(
            self, "WorkflowLogs", retention=self._settings.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        state_machine = sfn.StateMachine(
            self,
            "StreamWorkflow",
            state_machine_type=sfn.StateMachineType.STANDARD,
            query_language=sfn.QueryLanguage.JSONATA,
            definition_body=sfn.DefinitionBody.from_chainable(begin.next(run_on_spot)),
            comment="One stream run until it ends: resumes interrupted tasks, retries crashes in a budget "
            "that re-arms after a healthy run, falls back from Spot, writes the end the task could not",
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=workflow_logs, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        # The Settle states' transaction: the stream's status and the owner's active-stream counter.
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="SettleStream", actions=["dynamodb:UpdateItem"], resources=[data.table.table_arn]
            )
        )
        self._grant_run_task_tagging(state_machine)
        acknowledge_run_task_wildcards(state_machine)
        workflow_policy = state_machine.role.node.try_find_child("DefaultPolicy")
        assert workflow_policy is not None
        acknowledge(
            workflow_policy,
            "IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/"
            f"<{logical_id(self.cluster)}>/*]",
            "ecs:TagResource on this cluster's tasks, only as part of RunTask (ecs:CreateAction condition): "
            "the cost allocation tags are set when the task is created, and task ids exist only then.",
        )
        return state_machine

    def tasks_arn(self) -> str:
        return Stack.of(self).format_arn(
            service="ecs", resource="task", resource_name=f"{self.cluster.cluster_name}/*"
        )

    def allow_stopping_tasks(self, function: lambda_.Function) -> None:
        """Stop asks ECS to stop the run's task (SIGTERM): the cluster's name and StopTask on its tasks."""
        function.add_environment("CLUSTER_ARN", self.cluster.cluster_arn)
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="StopStreamTasks",
                actions=["ecs:StopTask"],
                resources=[self.tasks_arn()],
                conditions={"ArnEquals": {"ecs:cluster": self.cluster.cluster_arn}},
            )
        )
        role = function.role
        assert role is not None
        policy = role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        acknowledge(
            policy,
            "IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/"
            f"<{logical_id(self.cluster)}>/*]",
            "StopTask on this cluster's stream tasks only (ecs:cluster condition): a stream's task id exists "
            "only at run time.",
        )

    def _grant_run_task_tagging(self, state_machine: sfn.StateMachine) -> None:
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="TagTasksAtLaunch",
                actions=["ecs:TagResource"],
                resources=[self.tasks_arn()],
                conditions={"StringEquals": {"ecs:CreateAction": "RunTask"}},
            )
        )

    def _build_run_task(self, state_id: str, *, capacity_provider: str, capacity: str) -> tasks.EcsRunTask:
        # No task timeout: a healthy 24/7 stream runs as long as it is wanted.
        return run_task_state(
            self,
            state_id,
            cluster=self.cluster,
            task_definition=self.task_definition,
            capacity_provider=capacity_provider,
            subnets=self.task_subnets,
            security_group=self.task_security_group,
            environment_from_variables=TASK_ENVIRONMENT,
            environment={"CAPACITY": capacity},  # for the cost meter: which capacity this task runs on
            propagated_tag_source=ecs.PropagatedTagSource.TASK_DEFINITION,
            state_class=_TaggedRunTask,
        )

    def _build_route(
        self,
        *,
        resume: sfn.IChainable,
        backoff: sfn.IChainable,
        settle_ended: sfn.IChainable,
        settle_failed: sfn.IChainable,
        done: sfn.IChainable,
    ) -> sfn.Choice:
        """`playout.workflow.next_step` in JSONata: the same exit codes, budget, re-arm and reasons."""
        budget = f"($ran_s >= {RETRY_POLICY.healthy_after_s} ? 0 : $crashes)"
        failed_for_good = ", ".join(str(code) for code in EXIT_FAILED_FOR_GOOD)
        how = (
            "($type($exit_code) = 'number' ? 'exited with code ' & $string($exit_code) "
            ": 'could not be started')"
        )
        return (
            sfn.Choice.jsonata(self, ROUTE, comment="playout.workflow.next_step")
            .when(sfn.Condition.jsonata(f"{{% $exit_code = {EXIT_SETTLED} %}}"), done)
            .when(sfn.Condition.jsonata(f"{{% $exit_code = {EXIT_ENDED_UNWRITTEN} %}}"), settle_ended)
            .when(
                sfn.Condition.jsonata(f"{{% $exit_code in [{failed_for_good}] %}}"),
                settle_failed,
                assign={"reason": "{% 'the stream task failed (exit code ' & $string($exit_code) & ')' %}"},
            )
            .when(
                sfn.Condition.jsonata(f"{{% $exit_code = {EXIT_INTERRUPTED} %}}"),
                resume,
                assign={"crashes": f"{{% {budget} %}}"},
            )
            .when(
                sfn.Condition.jsonata(f"{{% {budget} >= {RETRY_POLICY.max_attempts} %}}"),
                settle_failed,
                assign={
                    "crashes": f"{{% {budget} %}}",
                    "reason": f"{{% 'the stream task ' & {how} & ' ' & $string({budget} + 1) & "
                    "' times in a row; retries were exhausted' %}",
                },
            )
            .when(
                sfn.Condition.jsonata("{% true %}"),
                backoff,
                assign={"crashes": f"{{% {budget} + 1 %}}"},
            )
        )

    def _build_settle(self, data: DataStore, state_id: str, *, status: str) -> sfn.CustomState:
        """The stream's end and the owner's counter in one transaction, conditional on the run (`finish`)."""
        return sfn.CustomState(
            self,
            state_id,
            state_json={
                "Type": "Task",
                "QueryLanguage": "JSONata",
                "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:dynamodb:transactWriteItems",
                "Arguments": settle_transaction(data.table.table_name, status),
                "Output": {},
            },
        )


class _TaggedRunTask(tasks.EcsRunTask):
    """RunTask with the cost allocation tags (`EcsRunTask` has no `Tags` property)."""

    def to_state_json(self, top_level_query_language: sfn.QueryLanguage | None = None) -> dict[str, Any]:
        state = dict(super().to_state_json(top_level_query_language))
        state["Arguments"] = {
            **state["Arguments"],
            "Tags": [
                {"Key": key, "Value": f"{{% ${variable} %}}"} for key, variable in RUN_TASK_TAGS.items()
            ],
            "EnableECSManagedTags": True,
        }
        return state


def settle_transaction(table_name: str, status: str) -> dict[str, Any]:
    """TransactWriteItems arguments: `status` (+ `error` = $reason when failed), `ended_at`, from the active
    index's active partition to its ended one, conditional on the run and an active status; and the owner's
    `active_streams` counter - 1."""
    statuses = {f":{s}": {"S": s} for s in ACTIVE_STATUSES}
    sets = [
        "#status = :status",
        "ended_at = :ended_at",
        f"{resources.ACTIVE_STREAMS_INDEX_KEY} = :ended_runs",
    ]
    values: dict[str, Any] = {
        ":status": {"S": status},
        ":ended_runs": {"S": resources.ENDED_RUNS_INDEX_VALUE},
        ":ended_at": {"S": f"{{% $fromMillis($millis(), '{_PYNAMODB_UTC_PICTURE}') %}}"},
        ":run_id": {"S": "{% $run_id %}"},
        **statuses,
    }
    names = {"#status": "status"}
    if status == "failed":
        sets.append("#error = :error")
        values[":error"] = {"S": "{% $reason %}"}
        names["#error"] = "error"
    return {
        "TransactItems": [
            {
                "Update": {
                    "TableName": table_name,
                    "Key": {
                        resources.TABLE_PARTITION_KEY: {"S": "{% 'USER#' & $user_id %}"},
                        resources.TABLE_SORT_KEY: {"S": "{% 'STREAM#' & $stream_id %}"},
                    },
                    "UpdateExpression": f"SET {', '.join(sets)}",
                    "ConditionExpression": f"run_id = :run_id AND #status IN ({', '.join(statuses)})",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "TableName": table_name,
                    "Key": {
                        resources.TABLE_PARTITION_KEY: {"S": "{% 'USER#' & $user_id %}"},
                        resources.TABLE_SORT_KEY: {"S": PROFILE_SK},
                    },
                    "UpdateExpression": "ADD active_streams :released",
                    "ExpressionAttributeValues": {":released": {"N": "-1"}},
                }
            },
        ]
    }


def _add_settle_error_handling(state: sfn.CustomState, *, already_settled: sfn.IChainable) -> None:
    # A cancelled transaction is a failed condition (the task or the watchdog wrote the end: nothing to do)
    # or, rarely, a conflict with another write: retried first, so only the condition is left to catch.
    state.add_retry(
        errors=[TRANSACTION_CANCELLED, *DYNAMODB_TRANSIENT],
        max_attempts=3,
        interval=Duration.seconds(1),
        backoff_rate=2.0,
    )
    state.add_catch(already_settled, errors=[TRANSACTION_CANCELLED])
