"""The media job: one Fargate task per upload or import (probe, thumbnail, conform), the stream task's image
with the entry point `python -m stream_task.media_job`, driven by a Step Functions STANDARD workflow.

Workflow (input `{media_id, user_id, job_id}`: ids only, JSONata):

    Begin ─> RunOnSpot ──ECS.AmazonECSException (no Spot capacity)──> RunOnDemand ──exit 0──> Done
    any other exit ─> Route (`playout.workflow.next_step` under MEDIA_JOB_RETRY_POLICY):
        143 ─> RunOnSpot at once          crash within the budget ─> Backoff ─> RunOnSpot
        2, 4, or the budget spent ─> ReadMedia ─> (still this job's, unfinished) SettleFailed ─> DeleteObjects
                                   ─> JobFailed (Fail: the alarm)
                                   (this job's, conforming) SettleFailedKeepingOriginal ─> DeleteConformedCopy
                                   ─> JobFailed

SettleFailed is `playout.media_jobs.MediaJobSteps.fail` as one DynamoDB transaction: the media `failed`
with a reason, conditional on its job, status and the bytes it held as read; the owner's counter given those
bytes back (and an import slot, when it was importing). Its objects are then deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs import task_workflow
from infra.constructs.data import DataStore
from infra.constructs.least_privilege import MEDIA_JOB_TABLE_ACTIONS, grant_table_access
from infra.constructs.streaming import Streaming
from infra.nag import acknowledge, logical_id
from playout import resources
from playout.models import MEDIA_PREFIX, PROFILE_SK
from playout.workflow import EXIT_FAILED_FOR_GOOD, EXIT_INTERRUPTED, EXIT_SETTLED, MEDIA_JOB_RETRY_POLICY

MEDIA_JOB_CONTAINER_NAME = "media-job"
MEDIA_JOB_COMMAND = ["python", "-m", "stream_task.media_job"]
JOB_STATUSES = ("importing", "probing", "conforming")
TASK_ENVIRONMENT = {"MEDIA_ID": "media_id", "USER_ID": "user_id", "JOB_ID": "job_id"}
RUN_ON_SPOT, RUN_ON_DEMAND, ROUTE, BACKOFF = "RunOnSpot", "RunOnDemand", "Route", "Backoff"
READ_MEDIA, SETTLE_FAILED, DELETE_OBJECTS, DONE = "ReadMedia", "SettleFailed", "DeleteObjects", "Done"
SETTLE_FAILED_KEEPING_ORIGINAL, DELETE_CONFORMED_COPY = "SettleFailedKeepingOriginal", "DeleteConformedCopy"
FAILED_REASON = "the media job failed; upload the file again"
CONFORM_FAILED_REASON = "the conform failed again after a retry; the original is kept"
EXIT_CODE = task_workflow.exit_code(MEDIA_JOB_CONTAINER_NAME)
BACKOFF_SECONDS = task_workflow.backoff_seconds(MEDIA_JOB_RETRY_POLICY)


@dataclass(frozen=True)
class MediaJobSettings:
    log_retention: logs.RetentionDays
    storage_quota_bytes: int
    # Conforming is CPU-bound (x264 medium); 2 GB holds ffmpeg's frame queues at 1080p.
    cpu: int = 1024
    memory_mib: int = 2048
    # A 50 GB original and its conformed copy (smaller: capped at YouTube's bitrate) on the scratch disk.
    ephemeral_storage_gib: int = 120


class MediaJobs(Construct):
    """One Fargate task per media job, on the stream tasks' cluster and network, from their image."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        data: DataStore,
        streaming: Streaming,
        settings: MediaJobSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self._streaming = streaming
        self.task_definition = self._build_task_definition(data)
        self._grant_task_access(data)
        self.state_machine = self._build_state_machine(data)

    def allow_starting_jobs(self, function: lambda_.Function) -> None:
        """Completing an upload or creating an import starts a job: the state machine and StartExecution."""
        function.add_environment("MEDIA_JOB_STATE_MACHINE_ARN", self.state_machine.state_machine_arn)
        self.state_machine.grant_start_execution(function)

    # -- the task -------------------------------------------------------------------------------------------

    def _build_task_definition(self, data: DataStore) -> ecs.FargateTaskDefinition:
        task_definition = ecs.FargateTaskDefinition(
            self,
            "MediaJobTask",
            cpu=self._settings.cpu,
            memory_limit_mib=self._settings.memory_mib,
            ephemeral_storage_gib=self._settings.ephemeral_storage_gib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        container_logs = logs.LogGroup(
            self, "MediaJobLogs", retention=self._settings.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        task_definition.add_container(
            MEDIA_JOB_CONTAINER_NAME,
            image=self._streaming.image,
            # The image's ENTRYPOINT is the stream task's; a command would only append arguments to it.
            entry_point=MEDIA_JOB_COMMAND,
            essential=True,
            logging=ecs.LogDrivers.aws_logs(stream_prefix="media-job", log_group=container_logs),
            environment={
                "TABLE_NAME": data.table.table_name,
                "MEDIA_BUCKET": data.media_bucket.bucket_name,
                "STORAGE_QUOTA_BYTES": str(self._settings.storage_quota_bytes),
                "POWERTOOLS_SERVICE_NAME": "playout-media-job",
            },
            stop_timeout=Duration.seconds(resources.TASK_STOP_TIMEOUT_S),
            linux_parameters=ecs.LinuxParameters(self, "MediaJobLinuxParameters", init_process_enabled=True),
        )
        self._streaming.stream_image.used_by(task_definition)
        return task_definition

    def _grant_task_access(self, data: DataStore) -> None:
        role = self.task_definition.task_role
        # The job's own items only by key; no Scan, no index.
        grant_table_access(role, data.table, MEDIA_JOB_TABLE_ACTIONS)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="MediaObjects",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[data.media_bucket.arn_for_objects("media/*")],
            )
        )
        if data.media_bucket.encryption_key is not None:
            data.media_bucket.encryption_key.grant_encrypt_decrypt(role)
        policy = role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        acknowledge(
            policy,
            f"IAM5[Resource::<{logical_id(data.media_bucket)}.Arn>/media/*]",
            "The media job reads an original and writes its thumbnail and conformed copy under media/; which "
            "media is data (the job's ids), so objects can only be named by prefix. No list.",
        )
        task_workflow.acknowledge_execution_role(self.task_definition)
        acknowledge(
            self.task_definition,
            "ECS2",
            "The container's environment holds resource names and the quota only; the job's ids come as "
            "overrides, and it handles no secret.",
        )

    # -- the workflow ---------------------------------------------------------------------------------------

    def _build_state_machine(self, data: DataStore) -> sfn.StateMachine:
        done = sfn.Succeed(self, DONE, comment="The job wrote the media's fate (ready or failed)")
        job_failed = sfn.Fail(self, "JobFailed", error="MediaJobFailed", cause=FAILED_REASON)
        begin = sfn.Pass.jsonata(
            self,
            "Begin",
            assign={
                "media_id": "{% $states.input.media_id %}",
                "user_id": "{% $states.input.user_id %}",
                "job_id": "{% $states.input.job_id %}",
                "crashes": 0,
            },
        )
        run_on_spot = self._build_run_task(RUN_ON_SPOT, "FARGATE_SPOT")
        run_on_demand = self._build_run_task(RUN_ON_DEMAND, "FARGATE")
        backoff = sfn.CustomState(
            self, BACKOFF, state_json={"Type": "Wait", "QueryLanguage": "JSONata", "Seconds": BACKOFF_SECONDS}
        )
        backoff.next(run_on_spot)
        settle = self._build_settle_failed(data, done=job_failed)
        budget = "$crashes"  # MEDIA_JOB_RETRY_POLICY never re-arms: a long conform that crashed would again
        failed_for_good = ", ".join(str(code) for code in EXIT_FAILED_FOR_GOOD)
        route = (
            sfn.Choice.jsonata(self, ROUTE, comment="playout.workflow.next_step (MEDIA_JOB_RETRY_POLICY)")
            .when(sfn.Condition.jsonata(f"{{% $exit_code = {EXIT_SETTLED} %}}"), done)
            .when(sfn.Condition.jsonata(f"{{% $exit_code in [{failed_for_good}] %}}"), settle)
            .when(sfn.Condition.jsonata(f"{{% $exit_code = {EXIT_INTERRUPTED} %}}"), run_on_spot)
            .when(sfn.Condition.jsonata(f"{{% {budget} >= {MEDIA_JOB_RETRY_POLICY.max_attempts} %}}"), settle)
            .when(sfn.Condition.jsonata("{% true %}"), backoff, assign={"crashes": f"{{% {budget} + 1 %}}"})
        )
        for run_task in (run_on_spot, run_on_demand):
            run_task.next(done)
        run_on_spot.add_catch(run_on_demand, errors=[task_workflow.ECS_API_ERROR])
        for run_task in (run_on_spot, run_on_demand):
            run_task.add_catch(route, errors=[task_workflow.TASK_FAILED], assign={"exit_code": EXIT_CODE})
            run_task.add_catch(route, errors=[sfn.Errors.ALL], assign={"exit_code": "{% null %}"})

        workflow_logs = logs.LogGroup(
            self,
            "MediaWorkflowLogs",
            retention=self._settings.log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        state_machine = sfn.StateMachine(
            self,
            "MediaJobWorkflow",
            state_machine_type=sfn.StateMachineType.STANDARD,
            query_language=sfn.QueryLanguage.JSONATA,
            definition_body=sfn.DefinitionBody.from_chainable(begin.next(run_on_spot)),
            comment="One media job: probe, thumbnail, conform; retries crashes, falls back from Spot, fails "
            "the media (releasing its bytes) when the job could not",
            timeout=Duration.hours(24),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=workflow_logs, level=sfn.LogLevel.ALL, include_execution_data=False
            ),
        )
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="SettleMedia",
                actions=["dynamodb:GetItem", "dynamodb:UpdateItem"],
                resources=[data.table.table_arn],
            )
        )
        state_machine.add_to_role_policy(
            iam.PolicyStatement(
                sid="DeleteMediaObjects",
                actions=["s3:DeleteObject"],
                resources=[data.media_bucket.arn_for_objects("media/*")],
            )
        )
        task_workflow.acknowledge_run_task_wildcards(state_machine)
        workflow_policy = state_machine.role.node.try_find_child("DefaultPolicy")
        assert workflow_policy is not None
        acknowledge(
            workflow_policy,
            f"IAM5[Resource::<{logical_id(data.media_bucket)}.Arn>/media/*]",
            "A failed job's objects are deleted by key under media/ (the media's ids are data).",
        )
        return state_machine

    def _build_run_task(self, state_id: str, capacity_provider: str) -> tasks.EcsRunTask:
        return task_workflow.run_task_state(
            self,
            state_id,
            cluster=self._streaming.cluster,
            task_definition=self.task_definition,
            capacity_provider=capacity_provider,
            subnets=self._streaming.task_subnets,
            security_group=self._streaming.task_security_group,
            environment_from_variables=TASK_ENVIRONMENT,
        )

    def _build_settle_failed(self, data: DataStore, *, done: sfn.IChainable) -> sfn.IChainable:
        """`MediaJobSteps.fail`: read the media, then (if still this job's and unfinished) one transaction."""
        key = {
            resources.TABLE_PARTITION_KEY: {"S": "{% 'USER#' & $user_id %}"},
            resources.TABLE_SORT_KEY: {"S": f"{{% '{MEDIA_PREFIX}' & $media_id %}}"},
        }
        read = sfn.CustomState(
            self,
            READ_MEDIA,
            state_json={
                "Type": "Task",
                "QueryLanguage": "JSONata",
                "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:dynamodb:getItem",
                "Arguments": {"TableName": data.table.table_name, "Key": key, "ConsistentRead": True},
                "Assign": {
                    "item": "{% $exists($states.result.Item) ? $states.result.Item : {} %}",
                },
                "Output": {},
            },
        )
        settle = sfn.CustomState(
            self, SETTLE_FAILED, state_json=_settle_failed_state(data.table.table_name, key)
        )
        delete = sfn.CustomState(
            self,
            DELETE_OBJECTS,
            state_json={
                "Type": "Map",
                "QueryLanguage": "JSONata",
                "Items": "{% ['source', 'conformed.mp4', 'thumbnail.webp'] %}",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "DeleteObject",
                    "States": {
                        "DeleteObject": {
                            "Type": "Task",
                            "QueryLanguage": "JSONata",
                            "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:s3:deleteObject",
                            "Arguments": {
                                "Bucket": data.media_bucket.bucket_name,
                                "Key": "{% 'media/' & $states.context.Execution.Input.user_id & '/' & "
                                "$states.context.Execution.Input.media_id & '/' & $states.input %}",
                            },
                            "End": True,
                        }
                    },
                },
                "Output": {},
            },
        )
        settle.add_catch(done, errors=["DynamoDb.TransactionCanceledException"])  # the job wrote its fate
        settle.next(delete)
        delete.next(done)
        # Media that could not be conformed keeps its original (and its count) for its owner to delete.
        keep = sfn.CustomState(
            self, SETTLE_FAILED_KEEPING_ORIGINAL, state_json=_settle_failed_keeping_original_state(data, key)
        )
        delete_copy = sfn.CustomState(
            self,
            DELETE_CONFORMED_COPY,
            state_json={
                "Type": "Task",
                "QueryLanguage": "JSONata",
                "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:s3:deleteObject",
                "Arguments": {
                    "Bucket": data.media_bucket.bucket_name,
                    "Key": "{% 'media/' & $user_id & '/' & $media_id & '/conformed.mp4' %}",
                },
                "Output": {},
            },
        )
        keep.add_catch(done, errors=["DynamoDb.ConditionalCheckFailedException"])
        keep.next(delete_copy)
        delete_copy.next(done)
        this_job = "$exists($item.job_id) and $item.job_id.S = $job_id"
        statuses = ", ".join(f"'{s}'" for s in JOB_STATUSES)
        unfinished = (
            sfn.Choice.jsonata(self, "StillThisJobs")
            .when(sfn.Condition.jsonata(f"{{% {this_job} and $item.status.S = 'conforming' %}}"), keep)
            .when(sfn.Condition.jsonata(f"{{% {this_job} and $item.status.S in [{statuses}] %}}"), settle)
        )
        unfinished.otherwise(done)
        return read.next(unfinished)


def _settle_failed_keeping_original_state(data: DataStore, key: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:dynamodb:updateItem",
        "Arguments": {
            "TableName": data.table.table_name,
            "Key": key,
            "UpdateExpression": "SET #status = :failed, #error = :reason REMOVE progress_pct",
            "ConditionExpression": "job_id = :job_id AND #status = :conforming",
            "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
            "ExpressionAttributeValues": {
                ":failed": {"S": "failed"},
                ":reason": {"S": CONFORM_FAILED_REASON},
                ":job_id": {"S": "{% $job_id %}"},
                ":conforming": {"S": "conforming"},
            },
        },
        "Output": {},
    }


def _settle_failed_state(table_name: str, key: dict[str, Any]) -> dict[str, Any]:
    counted = "{% $exists($item.counted_bytes) ? $item.counted_bytes.N : '0' %}"
    profile_key = {
        resources.TABLE_PARTITION_KEY: {"S": "{% 'USER#' & $user_id %}"},
        resources.TABLE_SORT_KEY: {"S": PROFILE_SK},
    }
    return {
        "Type": "Task",
        "QueryLanguage": "JSONata",
        "Resource": f"arn:{Aws.PARTITION}:states:::aws-sdk:dynamodb:transactWriteItems",
        "Arguments": {
            "TransactItems": [
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": key,
                        "UpdateExpression": "SET #status = :failed, #error = :reason, counted_bytes = :zero "
                        "REMOVE progress_pct",
                        "ConditionExpression": "job_id = :job_id AND #status = :status "
                        "AND counted_bytes = :counted",
                        "ExpressionAttributeNames": {"#status": "status", "#error": "error"},
                        "ExpressionAttributeValues": {
                            ":failed": {"S": "failed"},
                            ":reason": {"S": FAILED_REASON},
                            ":zero": {"N": "0"},
                            ":job_id": {"S": "{% $job_id %}"},
                            ":status": {"S": "{% $item.status.S %}"},
                            ":counted": {"N": counted},
                        },
                    }
                },
                {
                    "Update": {
                        "TableName": table_name,
                        "Key": profile_key,
                        "UpdateExpression": "ADD storage_used_bytes :released, active_imports :imports",
                        "ExpressionAttributeValues": {
                            ":released": {"N": f"{{% $string(-$number({counted[3:-3]})) %}}"},
                            ":imports": {"N": "{% $item.status.S = 'importing' ? '-1' : '0' %}"},
                        },
                    }
                },
            ]
        },
        "Output": {},
    }
