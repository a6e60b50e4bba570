"""Streaming: VPC without NAT, ECS cluster (Fargate + Spot), the stream task and its Step Functions workflow.

Workflow (input `{stream_id, user_id, run_id}`):

    RunOnSpot ──TaskFailed: retry per RETRY_POLICY
       │ ECS.AmazonECSException (Spot capacity unavailable: RunTask itself fails)
       v
    RunOnDemand ──TaskFailed / AmazonECSException: retry per RETRY_POLICY
       │ any error left (both states)
       v
    MarkFailed (conditional on run_id and an active status) ──> StreamFailed (Fail)
       │ DynamoDB.ConditionalCheckFailedException: the run was already superseded or ended
       v
    AlreadySettled (Succeed)

A container that exits non-zero surfaces in `ecs:runTask.sync` as `States.TaskFailed`; a RunTask call that
Fargate cannot place surfaces as `ECS.AmazonECSException` ("Capacity is unavailable at this time").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from aws_cdk.aws_ecr_assets import Platform
from constructs import Construct

from infra.constructs.data import DataStore
from infra.nag import acknowledge, logical_id
from playout import resources
from playout.workflow import RETRY_POLICY, TASK_TIMEOUT_S

STREAM_CONTAINER_NAME = "stream"
TASK_FAILED = "States.TaskFailed"
ECS_API_ERROR = "ECS.AmazonECSException"
CONDITIONAL_CHECK_FAILED = "DynamoDB.ConditionalCheckFailedException"
ACTIVE_STATUSES = ("starting", "live", "stopping")
# XPath picture for pynamodb's DATETIME_FORMAT '%Y-%m-%dT%H:%M:%S.%f+0000' (milliseconds, then 000).
_PYNAMODB_UTC_PICTURE = "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001]000+0000"

# Everything but what the image needs (build context = repo root): stream_task/ and layers/.
_IMAGE_CONTEXT_EXCLUDES = [
    "*",
    "!stream_task",
    "!stream_task/**",
    "!layers",
    "!layers/**",
    "**/__pycache__",
    "**/*.pyc",
]


@dataclass(frozen=True)
class StreamingSettings:
    log_retention: logs.RetentionDays
    task_cpu: int = 512
    task_memory_mib: int = 1024


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
        self.task_definition = self._build_task_definition(repo_root, data)
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
            image=ecs.ContainerImage.from_asset(
                str(repo_root),
                file="stream_task/Dockerfile",
                exclude=_IMAGE_CONTEXT_EXCLUDES,
                platform=Platform.LINUX_ARM64,
            ),
            essential=True,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="stream", log_group=container_logs),
            environment={
                "TABLE_NAME": data.table.table_name,
                "MEDIA_BUCKET": data.media_bucket.bucket_name,
                "POWERTOOLS_SERVICE_NAME": "playout-stream",
            },
            stop_timeout=Duration.seconds(120),
            # An init process reaps ffmpeg's children and forwards SIGTERM to the supervisor.
            linux_parameters=ecs.LinuxParameters(self, "StreamLinuxParameters", init_process_enabled=True),
        )
        return task_definition

    def _grant_task_access(self, data: DataStore) -> None:
        task_role = self.task_definition.task_role
        data.table.grant_read_write_data(task_role)
        # Objects only (no List*/GetBucket*): the task reads the media its stream spec names.
        task_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadMedia", actions=["s3:GetObject"], resources=[data.media_bucket.arn_for_objects("*")]
            )
        )
        data.secrets_key.grant_decrypt(task_role)
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
        execution_role = self.task_definition.obtain_execution_role()
        execution_policy = execution_role.node.try_find_child("DefaultPolicy")
        assert execution_policy is not None
        acknowledge(
            execution_policy,
            "IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires '*'); image pulls and "
            "log writes in the same policy are scoped to the asset repository and the task's log group.",
        )
        acknowledge(
            self.task_definition,
            "ECS2",
            "The container's environment holds resource names only (table, bucket, service name); secrets "
            "(stream keys, OAuth tokens) are read from DynamoDB and decrypted with KMS by the task itself.",
        )

    # -- the workflow ----------------------------------------------------------------------------------------

    def _build_state_machine(self, data: DataStore) -> sfn.StateMachine:
        mark_failed = self._build_stamp_failure_time().next(self._build_mark_failed(data))
        run_on_demand = self._build_run_task("RunOnDemand", capacity_provider="FARGATE")
        _add_retry_policy(run_on_demand, TASK_FAILED, ECS_API_ERROR)
        run_on_demand.add_catch(mark_failed, errors=[sfn.Errors.ALL], result_path="$.error")

        run_on_spot = self._build_run_task("RunOnSpot", capacity_provider="FARGATE_SPOT")
        _add_retry_policy(run_on_spot, TASK_FAILED)
        run_on_spot.add_catch(run_on_demand, errors=[ECS_API_ERROR], result_path="$.spot_error")
        run_on_spot.add_catch(mark_failed, errors=[sfn.Errors.ALL], result_path="$.error")

        workflow_logs = logs.LogGroup(
            self, "WorkflowLogs", retention=self._settings.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        state_machine = sfn.StateMachine(
            self,
            "StreamWorkflow",
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(run_on_spot),
            comment="One stream task until it ends: retries crashes, falls back from Spot, records failure",
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=workflow_logs, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        workflow_policy = state_machine.role.node.try_find_child("DefaultPolicy")
        assert workflow_policy is not None
        acknowledge(
            workflow_policy,
            "IAM5[Resource::*]",
            "'*' only where AWS offers no narrower resource: ecs:StopTask/DescribeTasks (task ARNs exist "
            "only at run time), X-Ray tracing and CloudWatch Logs delivery for the state machine's "
            "log group.",
        )
        return state_machine

    def _build_run_task(self, state_id: str, *, capacity_provider: str) -> tasks.EcsRunTask:
        container = self.task_definition.default_container
        assert container is not None
        return tasks.EcsRunTask(
            self,
            state_id,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            cluster=self.cluster,
            task_definition=self.task_definition,
            launch_target=tasks.EcsFargateLaunchTarget(
                platform_version=ecs.FargatePlatformVersion.LATEST,
                capacity_provider_options=tasks.CapacityProviderOptions.custom(
                    [ecs.CapacityProviderStrategy(capacity_provider=capacity_provider, weight=1)]
                ),
            ),
            assign_public_ip=True,
            subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_groups=[self.task_security_group],
            container_overrides=[
                tasks.ContainerOverride(
                    container_definition=container,
                    environment=[
                        tasks.TaskEnvironmentVariable(
                            name="STREAM_ID", value=sfn.JsonPath.string_at("$.stream_id")
                        ),
                        tasks.TaskEnvironmentVariable(
                            name="USER_ID", value=sfn.JsonPath.string_at("$.user_id")
                        ),
                        tasks.TaskEnvironmentVariable(
                            name="RUN_ID", value=sfn.JsonPath.string_at("$.run_id")
                        ),
                    ],
                )
            ],
            task_timeout=sfn.Timeout.duration(Duration.seconds(TASK_TIMEOUT_S)),
            result_path=sfn.JsonPath.DISCARD,
        )

    def _build_stamp_failure_time(self) -> sfn.Pass:
        """Add `ended_at` in the exact format pynamodb's UTCDateTimeAttribute reads back (`...ffffff+0000`).

        `$$.State.EnteredTime` is ISO 8601 with `Z` (and Java drops a zero fraction), which the API's model
        would fail to parse; one JSONata Pass state formats the current time instead.
        """
        return sfn.Pass.jsonata(
            self,
            "StampFailureTime",
            outputs=(
                "{% $merge([$states.input, "
                f"{{'ended_at': $fromMillis($millis(), '{_PYNAMODB_UTC_PICTURE}')}}]) %}}"
            ),
        )

    def _build_mark_failed(self, data: DataStore) -> sfn.IChainable:
        status_values = {
            f":{status}": tasks.DynamoAttributeValue.from_string(status) for status in ACTIVE_STATUSES
        }
        mark_failed = tasks.DynamoUpdateItem(
            self,
            "MarkFailed",
            table=data.table,
            key={
                resources.TABLE_PARTITION_KEY: tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.format("USER#{}", sfn.JsonPath.string_at("$.user_id"))
                ),
                resources.TABLE_SORT_KEY: tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.format("STREAM#{}", sfn.JsonPath.string_at("$.stream_id"))
                ),
            },
            update_expression="SET #status = :failed, #error = :error, ended_at = :ended_at",
            condition_expression=(f"run_id = :run_id AND #status IN ({', '.join(status_values)})"),
            expression_attribute_names={"#status": "status", "#error": "error"},
            expression_attribute_values={
                ":failed": tasks.DynamoAttributeValue.from_string("failed"),
                # A readable reason for the app; the raw cause (the ECS task description) stays in the
                # execution history.
                ":error": tasks.DynamoAttributeValue.from_string(
                    sfn.JsonPath.format(
                        "the stream task stopped unexpectedly and retries were exhausted ({})",
                        sfn.JsonPath.string_at("$.error.Error"),
                    )
                ),
                ":ended_at": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.ended_at")),
                ":run_id": tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at("$.run_id")),
                **status_values,
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        mark_failed.add_catch(
            sfn.Succeed(
                self, "AlreadySettled", comment="The run was superseded or already ended: nothing to do"
            ),
            errors=[CONDITIONAL_CHECK_FAILED],
            result_path=sfn.JsonPath.DISCARD,
        )
        return mark_failed.next(
            sfn.Fail(self, "StreamFailed", error="StreamFailed", cause_path="$.error.Cause")
        )


def _add_retry_policy(state: sfn.TaskStateBase, *errors: str) -> None:
    """`playout.workflow.RETRY_POLICY`, the same policy the local launcher applies."""
    state.add_retry(
        errors=list(errors),
        max_attempts=RETRY_POLICY.max_attempts,
        interval=Duration.seconds(RETRY_POLICY.interval_s),
        backoff_rate=RETRY_POLICY.backoff_rate,
        max_delay=Duration.seconds(RETRY_POLICY.max_delay_s),
    )
