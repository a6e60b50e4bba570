"""Monitoring: every log group has a retention (checked at synth), and alarms on what users would feel."""

from __future__ import annotations

import jsii
from aws_cdk import Annotations, Duration, IAspect, Token
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct


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


class Monitoring(Construct):
    """CloudWatch alarms: API 5xx, API Lambda errors, stream workflow failures."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        http_api: apigwv2.HttpApi,
        function: lambda_.IFunction,
        state_machine: sfn.StateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        self.api_server_errors = self._build_alarm(
            "ApiServerErrors",
            http_api.metric_server_error(period=Duration.minutes(5), statistic="Sum"),
            threshold=5,
            description="The HTTP API answered 5xx more than 5 times in 5 minutes",
        )
        self.function_errors = self._build_alarm(
            "ApiFunctionErrors",
            function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description="The API Lambda raised errors",
        )
        self.workflow_failures = self._build_alarm(
            "StreamWorkflowFailures",
            state_machine.metric_failed(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description="A stream workflow execution failed (the stream was marked failed)",
        )
        self.workflow_timeouts = self._build_alarm(
            "StreamWorkflowTimeouts",
            state_machine.metric_timed_out(period=Duration.minutes(5), statistic="Sum"),
            threshold=1,
            description="A stream workflow execution timed out",
        )

    def _build_alarm(
        self, alarm_id: str, metric: cloudwatch.IMetric, *, threshold: float, description: str
    ) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            alarm_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
