"""Monitoring that reaches someone: every alarm notifies the alarm topic (an email subscription when the stage
names an address), the dashboard shows what an operator looks at, the streams' metrics are Playout's own
(the names and the stage dimension their publishers use), and the API's Lambdas trace with X-Ray."""

from __future__ import annotations

import json
from typing import Any

import pytest

from playout.metrics import NAMESPACE, STAGE_DIMENSION, STAGE_ENV, Metric
from tests.infra.conftest import ALARM_EMAIL, Synth

pytestmark = pytest.mark.infra

Resources = dict[str, list[dict[str, Any]]]
STAGE = "prod"
DASHBOARD_TITLES = {
    "Alarms",
    "API latency p50 / p99 (ms)",
    "API 4xx / 5xx",
    "Failed workflow executions",
    "Lambda errors",
    "Lambda throttles",
    "Active streams",
    "Stream heartbeats",
    "Restarts per hour",
    "Destinations failing",
    "Fargate task failures",
    "YouTube quota left today",
    "Egress per day (bytes sent)",
}


def _text(value: Any) -> str:
    """A Fn::Join'ed string with each Ref/GetAtt written as its logical id (`<Id>`, `<Id.Attr>`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_text(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected intrinsic {value}")


def _one(resources_by_type: Resources, type_name: str, logical_id_part: str = "") -> dict[str, Any]:
    matches = [r for r in resources_by_type.get(type_name, []) if logical_id_part in r["LogicalId"]]
    assert len(matches) == 1, [r["LogicalId"] for r in matches]
    return matches[0]


@pytest.fixture(scope="module")
def topic(resources_by_type: Resources) -> dict[str, Any]:
    return _one(resources_by_type, "AWS::SNS::Topic", "AlarmTopic")


@pytest.fixture(scope="module")
def widgets(resources_by_type: Resources) -> dict[str, dict[str, Any]]:
    dashboard = _one(resources_by_type, "AWS::CloudWatch::Dashboard")["Properties"]
    assert dashboard["DashboardName"] == f"Playout-{STAGE}"
    body = json.loads(_text(dashboard["DashboardBody"]))
    return {widget["properties"]["title"]: widget["properties"] for widget in body["widgets"]}


def _our_functions(resources_by_type: Resources) -> list[dict[str, Any]]:
    """The app's Lambdas (the functions/ code), not CDK's own custom-resource handlers."""
    return [
        f
        for f in resources_by_type["AWS::Lambda::Function"]
        if f["Properties"]["Handler"].endswith(".handler.lambda_handler")
    ]


def _our_workflows(resources_by_type: Resources) -> list[dict[str, Any]]:
    """The app's workflows, not the waiter of aws-cdk-lib's custom resource provider (the image build's)."""
    return [
        m
        for m in resources_by_type["AWS::StepFunctions::StateMachine"]
        if "framework-isComplete-task" not in json.dumps(m["Properties"]["DefinitionString"])
    ]


def _playout_series(widget: dict[str, Any]) -> dict[str, list[Any]]:
    """The widget's Playout metrics by name (a row: namespace, name, dimension name, value, options)."""
    return {row[1]: row for row in widget["metrics"] if row[0] == NAMESPACE}


# -- where alarms go -----------------------------------------------------------------------------------------


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears(
    resources_by_type: Resources, topic: dict[str, Any]
) -> None:
    alarms = resources_by_type["AWS::CloudWatch::Alarm"]
    assert len(alarms) >= 10
    for alarm in alarms:
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [{"Ref": topic["LogicalId"]}], alarm["LogicalId"]
        assert properties["OKActions"] == [{"Ref": topic["LogicalId"]}], alarm["LogicalId"]
        assert properties["AlarmDescription"]


def test_the_topic_takes_tls_only_and_publishes_from_this_accounts_alarms(
    resources_by_type: Resources, topic: dict[str, Any]
) -> None:
    policy = _one(resources_by_type, "AWS::SNS::TopicPolicy")["Properties"]
    assert policy["Topics"] == [{"Ref": topic["LogicalId"]}]
    statements = policy["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for s in statements
    )
    (cloudwatch,) = [s for s in statements if s["Effect"] == "Allow"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert cloudwatch["Action"] == "sns:Publish"
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert _text(cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]).endswith(":<AWS::AccountId>:alarm:*")


def test_the_alarm_email_is_subscribed_when_the_stage_names_one(
    resources_by_type: Resources, topic: dict[str, Any]
) -> None:
    subscription = _one(resources_by_type, "AWS::SNS::Subscription")["Properties"]
    assert subscription == {
        "Endpoint": ALARM_EMAIL,
        "Protocol": "email",
        "TopicArn": {"Ref": topic["LogicalId"]},
    }


def test_without_an_alarm_email_the_topic_has_no_subscriber_and_still_every_alarm(
    synth_without_alarm_email: Synth,
) -> None:
    assert synth_without_alarm_email.returncode == 0, synth_without_alarm_email.output[-4000:]
    resources = synth_without_alarm_email.template["Resources"].values()
    types = [r["Type"] for r in resources]
    assert "AWS::SNS::Subscription" not in types
    assert types.count("AWS::SNS::Topic") == 1
    for alarm in (r for r in resources if r["Type"] == "AWS::CloudWatch::Alarm"):
        assert len(alarm["Properties"]["AlarmActions"]) == 1


# -- alarms --------------------------------------------------------------------------------------------------


def test_every_function_raising_errors_alarms(resources_by_type: Resources) -> None:
    watched = {
        a["Properties"]["Dimensions"][0]["Value"]["Ref"]
        for a in resources_by_type["AWS::CloudWatch::Alarm"]
        if a["Properties"].get("MetricName") == "Errors"
    }
    assert watched == {f["LogicalId"] for f in _our_functions(resources_by_type)}
    assert len(watched) == 3  # the API, the watchdog, the scheduled start


def test_failed_stream_and_media_job_workflows_and_api_5xx_alarm(resources_by_type: Resources) -> None:
    by_metric: dict[str, list[str]] = {}
    for alarm in resources_by_type["AWS::CloudWatch::Alarm"]:
        properties = alarm["Properties"]
        dimension = json.dumps(properties.get("Dimensions", []))
        by_metric.setdefault(f"{properties['Namespace']}/{properties['MetricName']}", []).append(dimension)
    assert any("StreamWorkflow" in d for d in by_metric["AWS/States/ExecutionsFailed"])
    assert any("MediaJobWorkflow" in d for d in by_metric["AWS/States/ExecutionsFailed"])
    assert any("StreamWorkflow" in d for d in by_metric["AWS/States/ExecutionsTimedOut"])
    assert by_metric["AWS/ApiGateway/5xx"]


def test_a_stream_whose_heartbeat_stops_alarms_within_a_minute_of_the_watchdog_seeing_it(
    resources_by_type: Resources,
) -> None:
    alarm = _one(resources_by_type, "AWS::CloudWatch::Alarm", "StreamHeartbeatStopped")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, Metric.SILENT_STREAMS)
    assert alarm["Dimensions"] == [{"Name": STAGE_DIMENSION, "Value": STAGE}]
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Period"] == 60
    assert alarm["EvaluationPeriods"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Threshold"] == 1  # one silent stream, however many others beat


def test_a_watchdog_that_stops_sweeping_alarms(resources_by_type: Resources) -> None:
    alarm = _one(resources_by_type, "AWS::CloudWatch::Alarm", "WatchdogNotSweeping")["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (NAMESPACE, Metric.ACTIVE_STREAMS)
    assert alarm["TreatMissingData"] == "breaching"  # no value at all is what a dead sweep looks like
    assert alarm["ComparisonOperator"] == "LessThanThreshold"


def test_a_failed_image_build_alarms(resources_by_type: Resources) -> None:
    alarm = _one(resources_by_type, "AWS::CloudWatch::Alarm", "StreamImageBuildFailed")["Properties"]
    project = _one(resources_by_type, "AWS::CodeBuild::Project")
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/CodeBuild", "FailedBuilds")
    (dimension,) = alarm["Dimensions"]
    assert (dimension["Name"], dimension["Value"]) == ("ProjectName", {"Ref": project["LogicalId"]})
    assert (alarm["Statistic"], alarm["Threshold"]) == ("Sum", 1)


def test_the_watchdog_and_the_stream_task_publish_for_this_stage(resources_by_type: Resources) -> None:
    watchdog = _one(resources_by_type, "AWS::Lambda::Function", "WatchdogFunction")["Properties"]
    assert watchdog["Environment"]["Variables"][STAGE_ENV] == STAGE
    task = _one(resources_by_type, "AWS::ECS::TaskDefinition", "StreamTask")["Properties"]
    (container,) = task["ContainerDefinitions"]
    assert {e["Name"]: e["Value"] for e in container["Environment"]}[STAGE_ENV] == STAGE
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"  # where the EMF lines become metrics


# -- dashboard -----------------------------------------------------------------------------------------------


def test_the_dashboard_has_every_widget_an_operator_looks_at(widgets: dict[str, dict[str, Any]]) -> None:
    assert set(widgets) == DASHBOARD_TITLES
    assert len(widgets["Alarms"]["alarms"]) >= 10


def test_api_latency_percentiles_and_error_classes(widgets: dict[str, dict[str, Any]]) -> None:
    latency = widgets["API latency p50 / p99 (ms)"]["metrics"]
    assert [(row[0], row[1], row[-1]["stat"]) for row in latency] == [
        ("AWS/ApiGateway", "Latency", "p50"),
        ("AWS/ApiGateway", "Latency", "p99"),
    ]
    assert [row[1] for row in widgets["API 4xx / 5xx"]["metrics"]] == ["4xx", "5xx"]


def test_errors_and_throttles_of_every_function(
    widgets: dict[str, dict[str, Any]], resources_by_type: Resources
) -> None:
    functions = {f"<{f['LogicalId']}>" for f in _our_functions(resources_by_type)}
    for title, metric_name in (("Lambda errors", "Errors"), ("Lambda throttles", "Throttles")):
        rows = widgets[title]["metrics"]
        assert {row[1] for row in rows} == {metric_name}
        assert {row[3] for row in rows} == functions


def test_failed_executions_of_both_workflows(
    widgets: dict[str, dict[str, Any]], resources_by_type: Resources
) -> None:
    stream = f"<{_one(resources_by_type, 'AWS::StepFunctions::StateMachine', 'StreamWorkflow')['LogicalId']}>"
    media = (
        f"<{_one(resources_by_type, 'AWS::StepFunctions::StateMachine', 'MediaJobWorkflow')['LogicalId']}>"
    )
    rows = widgets["Failed workflow executions"]["metrics"]
    assert {(row[1], row[3]) for row in rows} == {
        ("ExecutionsFailed", stream),
        ("ExecutionsTimedOut", stream),
        ("ExecutionsFailed", media),
        ("ExecutionsTimedOut", media),
    }


def test_the_streams_figures_are_the_metrics_their_publishers_write(
    widgets: dict[str, dict[str, Any]],
) -> None:
    expected = {
        "Active streams": {Metric.ACTIVE_STREAMS: "Maximum", Metric.STREAM_SECONDS: "Sum"},
        "Stream heartbeats": {
            Metric.HEARTBEATS: "Sum",
            Metric.HEARTBEAT_FAILURES: "Sum",
            Metric.SILENT_STREAMS: "Maximum",
        },
        "Restarts per hour": {Metric.RESTARTS: "Sum"},
        "Destinations failing": {Metric.DESTINATION_FAILURES: "Sum"},
        "YouTube quota left today": {
            Metric.YOUTUBE_QUOTA_LEFT: "Minimum",
            Metric.YOUTUBE_QUOTA_USED: "Maximum",
        },
        "Egress per day (bytes sent)": {Metric.BYTES_SENT: "Sum"},
    }
    for title, stats in expected.items():
        series = _playout_series(widgets[title])
        assert set(series) == {m.value for m in stats}, title
        for name, row in series.items():
            assert row[2:4] == [STAGE_DIMENSION, STAGE], (title, name)
            assert row[-1].get("stat", "Average") == stats[Metric(name)], (title, name)
    assert _playout_series(widgets["Restarts per hour"])[Metric.RESTARTS][-1]["period"] == 3600
    assert _playout_series(widgets["Egress per day (bytes sent)"])[Metric.BYTES_SENT][-1]["period"] == 86400
    (expression,) = [row[0] for row in widgets["Active streams"]["metrics"] if "expression" in row[0]]
    assert expression["expression"] == "seconds / PERIOD(seconds)"  # task-seconds per second: streams


def test_fargate_task_failures_are_the_workflows_run_task_integration(
    widgets: dict[str, dict[str, Any]], resources_by_type: Resources
) -> None:
    rows = widgets["Fargate task failures"]["metrics"]
    assert {row[1] for row in rows} == {"ServiceIntegrationsFailed", "ServiceIntegrationsTimedOut"}
    (integration,) = {row[3] for row in rows}
    for workflow in _our_workflows(resources_by_type):
        assert f'"Resource":"{integration}"' in _text(workflow["Properties"]["DefinitionString"])


# -- tracing -------------------------------------------------------------------------------------------------


def test_every_lambda_and_workflow_traces_with_x_ray(resources_by_type: Resources) -> None:
    for function in _our_functions(resources_by_type):
        assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}, function["LogicalId"]
        assert "POWERTOOLS_TRACE_DISABLED" not in function["Properties"]["Environment"]["Variables"]
    for workflow in _our_workflows(resources_by_type):
        assert workflow["Properties"]["TracingConfiguration"] == {"Enabled": True}, workflow["LogicalId"]


# -- the context value --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given", ["ops@example", "ops@example.com, cto@example.com", "two words@example.com"]
)
def test_an_alarm_email_that_is_not_one_address_is_refused_in_plain_words(given: str) -> None:
    from aws_cdk import App

    from infra.stack import StageSettings

    with pytest.raises(ValueError, match=r"alarm_email must be one email address such as ops@example\.com"):
        StageSettings.from_context(App(context={"alarm_email": given}))
    assert StageSettings.from_context(App(context={"alarm_email": " ops@example.com "})).alarm_email == (
        "ops@example.com"
    )
    assert StageSettings.from_context(App()).alarm_email is None
