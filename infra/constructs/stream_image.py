"""The stream task's image, rebuilt every week so that Debian's ffmpeg fixes reach it.

ffmpeg and ffprobe parse bytes that anyone can upload; a CDK image asset is built once, at the deploy that
changed its source, and then never again. Instead:

- an ECR repository of the stack's own (scan on push) holds the image; both task definitions (the stream task
  and the media job) name its tag `IMAGE_TAG`, which ECS resolves when it starts a task: a new task runs the
  latest push, a running one keeps its image;
- a CodeBuild project builds `stream_task/Dockerfile` from the same context a CDK asset would send
  (stream_task/ and layers/, uploaded as a source asset), with `--pull --no-cache`, so that every build
  takes the current base image and the current Debian packages, and pushes `IMAGE_TAG` and a dated tag;
- an EventBridge rule starts it every week (`REBUILD_SCHEDULE`);
- at deploy, a custom resource starts it whenever the source changed and waits for the build (a provider
  polls it, up to DEPLOY_BUILD_WAIT), so that a stack is never deployed pointing at an image that was not
  pushed (a failed build fails and rolls back the deploy).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CustomResource, Duration, IgnoreMode, RemovalPolicy, custom_resources
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.nag import BASIC_EXECUTION_ROLE, acknowledge, acknowledge_basic_execution_role, logical_id
from playout.resources import IMAGE_CONTEXT_EXCLUDES

IMAGE_TAG = "current"
DOCKERFILE = "stream_task/Dockerfile"
DOCKERFILE_TARGET = "task"  # the engine's ffmpeg compiled in its own stage
# Every Monday 04:00 UTC (Debian's security updates land through the week).
REBUILD_SCHEDULE = events.Schedule.cron(week_day="MON", hour="4", minute="0")
KEEP_IMAGES = 8  # about two months of weekly builds, to roll back to
BUILD_TIMEOUT = Duration.minutes(45)
# The deploy waits for the build (the engine's ffmpeg is compiled: 10-20 minutes), past Lambda's 15 minutes:
# a custom resource provider asks every DEPLOY_BUILD_POLL whether the build has ended.
DEPLOY_BUILD_POLL = Duration.seconds(30)
DEPLOY_BUILD_WAIT = Duration.minutes(55)  # a custom resource must answer within the hour
_BUILD_HANDLER_DIR = Path(__file__).resolve().parent.parent / "image_build"


class StreamTaskImage(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, repo_root: Path, log_retention: logs.RetentionDays
    ) -> None:
        super().__init__(scope, construct_id)
        self.repository = ecr.Repository(
            self,
            "Repository",
            image_scan_on_push=True,
            image_tag_mutability=ecr.TagMutability.MUTABLE,  # IMAGE_TAG moves to each new build
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=KEEP_IMAGES)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.source = s3_assets.Asset(
            self,
            "Source",
            path=str(repo_root),
            exclude=list(IMAGE_CONTEXT_EXCLUDES),  # what the image needs: stream_task/ and layers/
            ignore_mode=IgnoreMode.DOCKER,
        )
        self.project = self._build_project(log_retention)
        self.weekly_rebuild = events.Rule(
            self,
            "WeeklyRebuild",
            description="Rebuild the stream task's image: Debian's ffmpeg fixes reach new tasks",
            schedule=REBUILD_SCHEDULE,
            targets=[targets.CodeBuildProject(self.project, retry_attempts=2)],
        )
        self.deploy_build = self._build_at_deploy(log_retention)
        self.image = ecs.ContainerImage.from_ecr_repository(self.repository, IMAGE_TAG)

    def used_by(self, task_definition: ecs.TaskDefinition) -> None:
        """The task definition is made after the image it names was pushed."""
        task_definition.node.add_dependency(self.deploy_build)

    def _build_project(self, log_retention: logs.RetentionDays) -> codebuild.Project:
        build_logs = logs.LogGroup(
            self, "BuildLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        project = codebuild.Project(
            self,
            "Build",
            description="Playout: build stream_task/Dockerfile (linux/arm64) with fresh packages and push it",
            source=codebuild.Source.s3(bucket=self.source.bucket, path=self.source.s3_object_key),
            environment=codebuild.BuildEnvironment(
                build_image=codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0,
                compute_type=codebuild.ComputeType.LARGE,  # the engine's ffmpeg is compiled from source
                privileged=True,  # docker build
            ),
            environment_variables={
                "REPOSITORY_URI": codebuild.BuildEnvironmentVariable(value=self.repository.repository_uri),
                "IMAGE_TAG": codebuild.BuildEnvironmentVariable(value=IMAGE_TAG),
                # BuildKit builds only the stages the target needs (not the local target's, whose build
                # context exists only on a developer's machine).
                "DOCKER_BUILDKIT": codebuild.BuildEnvironmentVariable(value="1"),
            },
            build_spec=codebuild.BuildSpec.from_object(
                {
                    "version": "0.2",
                    "phases": {
                        "pre_build": {
                            "commands": [
                                'aws ecr get-login-password --region "$AWS_REGION" | docker login '
                                '--username AWS --password-stdin "${REPOSITORY_URI%%/*}"'
                            ]
                        },
                        "build": {
                            "on-failure": "ABORT",
                            "commands": [
                                f"docker build --pull --no-cache --file {DOCKERFILE} "
                                f"--target {DOCKERFILE_TARGET} "
                                '--tag "$REPOSITORY_URI:$IMAGE_TAG" '
                                '--tag "$REPOSITORY_URI:built-$(date -u +%Y%m%dT%H%M%SZ)" .',
                                'docker push --all-tags "$REPOSITORY_URI"',
                            ],
                        },
                    },
                }
            ),
            timeout=BUILD_TIMEOUT,
            logging=codebuild.LoggingOptions(
                cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=build_logs)
            ),
        )
        self.repository.grant_pull_push(project)
        acknowledge(
            project,
            "CB3",
            "Privileged mode is what `docker build` needs inside CodeBuild; the project runs only this "
            "repository's Dockerfile from the stack's own source asset, on a schedule or at deploy.",
        )
        acknowledge(
            project,
            "CB4",
            "The project produces no artifacts (it pushes to ECR, encrypted at rest by ECR); its logs go to "
            "a CloudWatch log group and its source is the CDK asset bucket's object, both encrypted by AWS.",
        )
        role = project.role
        assert role is not None
        policy = role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        for finding in (
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
            "Resource::*",
            f"Resource::arn:<AWS::Partition>:codebuild:<AWS::Region>:<AWS::AccountId>:report-group/"
            f"<{logical_id(project)}>-*",
            "Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:/aws/codebuild/"
            f"<{logical_id(project)}>:*",
        ):
            acknowledge(
                policy,
                f"IAM5[{finding}]",
                "Generated by aws-cdk-lib for a CodeBuild project: read of its source in the CDK asset "
                "bucket, its own report groups and default log group's streams, and "
                "ecr:GetAuthorizationToken (AWS offers no resource for it); pushes are scoped to this "
                "stack's repository.",
            )
        return project

    def _build_at_deploy(self, log_retention: logs.RetentionDays) -> CustomResource:
        def handler(name: str, entry: str, actions: list[str], description: str) -> lambda_.Function:
            function = lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_14,
                architecture=lambda_.Architecture.ARM_64,
                code=lambda_.Code.from_asset(str(_BUILD_HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
                handler=f"handler.{entry}",
                timeout=Duration.minutes(1),
                memory_size=128,
                log_group=logs.LogGroup(
                    self, f"{name}Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
                ),
                environment={"PROJECT_NAME": self.project.project_name},
                description=description,
            )
            function.add_to_role_policy(
                iam.PolicyStatement(actions=actions, resources=[self.project.project_arn])
            )
            role = function.role
            assert role is not None
            acknowledge_basic_execution_role(role)
            return function

        start = handler(
            "DeployBuildStart",
            "on_event",
            ["codebuild:StartBuild"],
            "Playout: at deploy, start the stream task's image build on this deploy's source",
        )
        check = handler(
            "DeployBuildCheck",
            "is_complete",
            ["codebuild:BatchGetBuilds"],
            "Playout: at deploy, tell whether the stream task's image build has pushed",
        )
        provider = custom_resources.Provider(
            self,
            "DeployBuildWait",
            on_event_handler=start,
            is_complete_handler=check,
            query_interval=DEPLOY_BUILD_POLL,
            total_timeout=DEPLOY_BUILD_WAIT,
            log_group=logs.LogGroup(
                self, "DeployBuildWaitLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
            ),
            disable_waiter_state_machine_logging=False,
            waiter_state_machine_log_options=custom_resources.LogOptions(
                destination=logs.LogGroup(
                    self,
                    "DeployBuildWaiterLogs",
                    retention=log_retention,
                    removal_policy=RemovalPolicy.DESTROY,
                ),
                level=sfn.LogLevel.ALL,
            ),
        )
        self._acknowledge_provider_framework(provider, [start, check])
        return CustomResource(
            self,
            "DeployImageBuild",
            service_token=provider.service_token,
            resource_type="Custom::StreamTaskImageBuild",
            # A changed source (the Dockerfile, the supervisor, the domain package) builds again; the build
            # takes the source named here, so a rollback's previous properties build the previous image.
            properties={
                "SourceHash": self.source.asset_hash,
                "SourceLocation": f"{self.source.s3_bucket_name}/{self.source.s3_object_key}",
            },
        )

    @staticmethod
    def _acknowledge_provider_framework(
        provider: custom_resources.Provider, handlers: list[lambda_.Function]
    ) -> None:
        """aws-cdk-lib's custom resource provider framework: its three Lambdas and its waiter."""
        framework = [provider.node.find_child(f"framework-{name}") for name in ("isComplete", "onTimeout")]
        for function in [*handlers, *framework]:
            assert isinstance(function, lambda_.Function)
            acknowledge(
                provider,
                f"IAM5[Resource::<{logical_id(function)}.Arn>:*]",
                "Generated by aws-cdk-lib's provider framework: lambda:InvokeFunction on one function of "
                "this provider and its versions (`:*`), nothing else.",
            )
        acknowledge(
            provider,
            BASIC_EXECUTION_ROLE,
            "The provider framework's functions (aws-cdk-lib) log "
            "with AWS's basic execution policy, to the provider's own log group (with retention).",
        )
        acknowledge(
            provider,
            "IAM5[Resource::*]",
            "The waiter state machine's log delivery (logs:CreateLogDelivery and the like) has no resource "
            "to scope to: AWS documents `*` for them.",
        )
        acknowledge(
            provider,
            "SF2",
            "The waiter state machine only polls one CodeBuild build at deploy; its executions are logged "
            "(ALL) to their own log group, which is what a failed deploy is read from.",
        )
