"""Monitoring: alarms on what users would feel, each notifying one SNS topic (an email subscription when
the stage names one); a dashboard of the API, the functions, the workflows and the streams; and every log
group with a retention (checked at synth).

The streams' own figures are Playout's metrics (playout.metrics): the stream task and the watchdog write
them as EMF lines into their log groups, with the stage as their one dimension.

X-Ray: every Lambda traces actively (the handlers wrap themselves in Powertools' Tracer) and both workflows
trace; the HTTP API itself has no X-Ray option (only REST APIs do), so a request's trace starts at its Lambda.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import jsii
from aws_cdk import Annotations, ArnFormat, Aws, Duration, IAspect, Stack, Token
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from infra.nag import acknowledge
from playout.metrics import NAMESPACE, STAGE_DIMENSION, STAGE_ENV, Metric

FIVE_MINUTES = Duration.minutes(5)
# Step Functions' metrics of its ECS integration (account-wide, both workflows): a task that exited non-zero,
# could not be placed or was stopped.
RUN_TASK_INTEGRATION = f"arn:{Aws.PARTITION}:states:::ecs:runTask.sync"


@jsii.implements(IAspect)
class RequireLogRetention:
    """Fails synth when a log group has no retention, or a Lambda logs to an implicit (never-expiring) group.

    Every construct here passes an explicit `LogGroup` with a retention; this guards the ones added later
    (including custom-resource functions of library constructs).
    """

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, logs.CfnLogGroup) and node.retention_in_days is None:
            Annotations.of(node).add_error("Log group without RetentionInDays")
        if isinstance(node, lambda_.CfnFunction) and not self._has_explicit_log_group(node):
            Annotations.of(node).add_error(
                "Lambda function without an explicit log group (retention unknown)"
            )

    @staticmethod
    def _has_explicit_log_group(function: lambda_.CfnFunction) -> bool:
        config = function.logging_config
        if config is None or Token.is_unresolved(config):
            return config is not None
        log_group = getattr(config, "log_group", None)
        return log_group is not None


@dataclass(frozen=True)
class MonitoringSettings:
    stage: str
    alarm_email: str | None = None  # subscribed to the alarm topic (the address confirms it once)


class Monitoring(Construct):
    """The alarm topic, the alarms and the dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: MonitoringSettings,
        http_api: apigwv2.HttpApi,
        functions: Mapping[str, lambda_.IFunction],
        stream_workflow: sfn.StateMachine,
        media_job_workflow: sfn.StateMachine,
        image_build: codebuild.IProject,
    ) -> None:
        super().__init__(scope, construct_id)
        self._stage = settings.stage
        self.topic = self._build_topic(settings.alarm_email)
        self.alarms: list[cloudwatch.Alarm] = []
        self._build_api_alarms(http_api, functions)
        self._build_workflow_alarms(stream_workflow, media_job_workflow)
        self._build_stream_alarms()
        self._build_image_alarm(image_build)
        self.dashboard = self._build_dashboard(http_api, functions, stream_workflow, media_job_workflow)

    def publish_metrics_from(
        self, *, functions: list[lambda_.Function], containers: list[ecs.ContainerDefinition]
    ) -> None:
        """Tells each publisher of Playout's metrics its stage (their dimension, as the alarms name it)."""
        for function in functions:
            function.add_environment(STAGE_ENV, self._stage)
        for container in containers:
            container.add_environment(STAGE_ENV, self._stage)

    # -- where alarms go -----------------------------------------------------------------------------------

    def _build_topic(self, alarm_email: str | None) -> sns.Topic:
        topic = sns.Topic(self, "AlarmTopic", display_name=f"Playout {self._stage} alarms", enforce_ssl=True)
        stack = Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        acknowledge(
            topic,
            "SNS2",
            "No server-side encryption: a notification holds an alarm's name, state and metric values, "
            "never a secret; CloudWatch cannot publish to a topic under the AWS managed key (aws/sns), and a "
            "customer managed key for it would cost every stage a monthly fee while idle. TLS is enforced.",
        )
        if alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        return topic

    def _alarm(
        self,
        alarm_id: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = (
            cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        ),
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            alarm_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=comparison,
            treat_missing_data=missing,
            alarm_description=description,
        )
        action = cloudwatch_actions.SnsAction(self.topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms.append(alarm)
        return alarm

    # -- alarms ----------------------------------------------------------------------------------------------

    def _build_api_alarms(
        self, http_api: apigwv2.HttpApi, functions: Mapping[str, lambda_.IFunction]
    ) -> None:
        self._alarm(
            "ApiServerErrors",
            http_api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            threshold=5,
            description="The HTTP API answered 5xx 5 times or more in 5 minutes",
        )
        for name, function in functions.items():
            self._alarm(
                f"{name}FunctionErrors",
                function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                description=f"The {name} Lambda raised errors",
            )

    def _build_workflow_alarms(
        self, stream_workflow: sfn.StateMachine, media_job_workflow: sfn.StateMachine
    ) -> None:
        self._alarm(
            "StreamWorkflowFailures",
            stream_workflow.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description="A stream workflow execution failed (the stream was marked failed)",
        )
        self._alarm(
            "StreamWorkflowTimeouts",
            stream_workflow.metric_timed_out(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description="A stream workflow execution timed out",
        )
        self._alarm(
            "MediaJobWorkflowFailures",
            media_job_workflow.metric_failed(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description="A media job workflow failed (its task crashed out of its retries): the media failed",
        )

    def _build_stream_alarms(self) -> None:
        # Which signal says that one stream of several went silent: not the tasks' own Heartbeats metric.
        # A task that hangs or dies publishes nothing, so the sum over all tasks only dips by one stream's
        # share, blurred by streams starting and ending and by each task's beat interval, and with no stream
        # id among the dimensions nothing says which stream is missing. The watchdog compares every active
        # stream with its own heartbeat item each minute: SilentStreams counts exactly the streams whose
        # task went quiet (it stops that task and the workflow resumes the run in a new one), one or many.
        self.heartbeat_stopped = self._alarm(
            "StreamHeartbeatStopped",
            self._metric(Metric.SILENT_STREAMS, "Maximum", Duration.minutes(1)),
            threshold=1,
            description="A live stream's task stopped beating: the watchdog stopped it and a new task "
            "resumes the stream (OK again once every active stream beats)",
        )
        # The watchdog publishes ActiveStreams at every sweep, 0 included: no value means no sweep ran, and
        # then no silent stream would be noticed either.
        self._alarm(
            "WatchdogNotSweeping",
            self._metric(Metric.ACTIVE_STREAMS, "SampleCount", Duration.minutes(10)),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=cloudwatch.TreatMissingData.BREACHING,
            description="The stream watchdog reported no sweep for 10 minutes: silent streams go unnoticed",
        )
        self._alarm(
            "YouTubeQuotaSpent",
            self._metric(Metric.YOUTUBE_QUOTA_LEFT, "Minimum", FIVE_MINUTES),
            threshold=0,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
            description="YouTube's daily quota is spent: starts to YouTube answer 429 until midnight Pacific",
        )

    def _build_image_alarm(self, image_build: codebuild.IProject) -> None:
        # A failed rebuild leaves the previous image in use: streams go on, but Debian's ffmpeg fixes stop
        # reaching new tasks until someone looks (docs/operations.md says how).
        self._alarm(
            "StreamImageBuildFailed",
            image_build.metric_failed_builds(period=Duration.hours(1), statistic="Sum"),
            threshold=1,
            description="The stream task's image build failed (weekly or at deploy): new tasks keep the "
            "previous image, without this week's Debian fixes",
        )

    # -- dashboard -------------------------------------------------------------------------------------------

    def _metric(
        self, metric: Metric, statistic: str, period: Duration, label: str | None = None
    ) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=NAMESPACE,
            metric_name=metric.value,
            dimensions_map={STAGE_DIMENSION: self._stage},
            statistic=statistic,
            period=period,
            label=label,
        )

    def _build_dashboard(
        self,
        http_api: apigwv2.HttpApi,
        functions: Mapping[str, lambda_.IFunction],
        stream_workflow: sfn.StateMachine,
        media_job_workflow: sfn.StateMachine,
    ) -> cloudwatch.Dashboard:
        hour, day = Duration.hours(1), Duration.days(1)
        stream_seconds = self._metric(Metric.STREAM_SECONDS, "Sum", FIVE_MINUTES)

        def graph(title: str, *metrics: cloudwatch.IMetric, width: int = 8) -> cloudwatch.GraphWidget:
            return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)

        def integration(metric_name: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/States",
                metric_name=metric_name,
                dimensions_map={"ServiceIntegrationResourceArn": RUN_TASK_INTEGRATION},
                statistic="Sum",
                period=FIVE_MINUTES,
                label=label,
            )

        rows: list[list[cloudwatch.IWidget]] = [
            [
                cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24, height=4),
            ],
            [
                graph(
                    "API latency p50 / p99 (ms)",
                    http_api.metric_latency(statistic="p50", period=FIVE_MINUTES, label="p50"),
                    http_api.metric_latency(statistic="p99", period=FIVE_MINUTES, label="p99"),
                ),
                graph(
                    "API 4xx / 5xx",
                    http_api.metric_client_error(statistic="Sum", period=FIVE_MINUTES, label="4xx"),
                    http_api.metric_server_error(statistic="Sum", period=FIVE_MINUTES, label="5xx"),
                ),
                graph(
                    "Failed workflow executions",
                    stream_workflow.metric_failed(
                        statistic="Sum", period=FIVE_MINUTES, label="stream failed"
                    ),
                    stream_workflow.metric_timed_out(
                        statistic="Sum", period=FIVE_MINUTES, label="stream timed out"
                    ),
                    media_job_workflow.metric_failed(
                        statistic="Sum", period=FIVE_MINUTES, label="media job failed"
                    ),
                    media_job_workflow.metric_timed_out(
                        statistic="Sum", period=FIVE_MINUTES, label="media job timed out"
                    ),
                ),
            ],
            [
                graph(
                    "Lambda errors",
                    *(
                        f.metric_errors(statistic="Sum", period=FIVE_MINUTES, label=n)
                        for n, f in functions.items()
                    ),
                    width=12,
                ),
                graph(
                    "Lambda throttles",
                    *(
                        f.metric_throttles(statistic="Sum", period=FIVE_MINUTES, label=n)
                        for n, f in functions.items()
                    ),
                    width=12,
                ),
            ],
            [
                graph(
                    "Active streams",
                    self._metric(Metric.ACTIVE_STREAMS, "Maximum", FIVE_MINUTES, "active (watchdog)"),
                    cloudwatch.MathExpression(
                        expression="seconds / PERIOD(seconds)",
                        using_metrics={"seconds": stream_seconds},
                        label="with a running task",
                        period=FIVE_MINUTES,
                    ),
                ),
                graph(
                    "Stream heartbeats",
                    self._metric(Metric.HEARTBEATS, "Sum", FIVE_MINUTES, "written"),
                    self._metric(Metric.HEARTBEAT_FAILURES, "Sum", FIVE_MINUTES, "not written"),
                    self._metric(Metric.SILENT_STREAMS, "Maximum", FIVE_MINUTES, "silent streams"),
                ),
                graph("Restarts per hour", self._metric(Metric.RESTARTS, "Sum", hour, "restarts")),
            ],
            [
                graph(
                    "Destinations failing",
                    self._metric(Metric.DESTINATION_FAILURES, "Sum", FIVE_MINUTES, "drops and give-ups"),
                ),
                graph(
                    "Fargate task failures",
                    integration("ServiceIntegrationsFailed", "tasks failed"),
                    integration("ServiceIntegrationsTimedOut", "tasks timed out"),
                ),
                graph(
                    "YouTube quota left today",
                    self._metric(Metric.YOUTUBE_QUOTA_LEFT, "Minimum", FIVE_MINUTES, "units left"),
                    self._metric(Metric.YOUTUBE_QUOTA_USED, "Maximum", FIVE_MINUTES, "units used"),
                ),
            ],
            [
                graph(
                    "Egress per day (bytes sent)",
                    self._metric(Metric.BYTES_SENT, "Sum", day, "bytes sent"),
                    width=24,
                ),
            ],
        ]
        return cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"Playout-{self._stage}",
            default_interval=Duration.days(1),
            widgets=rows,
        )
