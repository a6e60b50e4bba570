"""infra/cost.py's reading of a template and its arithmetic, on small literal templates."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from infra import cost

RUN_ON_SPOT = {
    "Type": "Task",
    "Next": "Done",
    "Arguments": {
        "Cluster": "@CLUSTER@",
        "TaskDefinition": "StreamTask",
        "NetworkConfiguration": {"AwsvpcConfiguration": {"AssignPublicIp": "ENABLED"}},
        "Overrides": {"ContainerOverrides": [{"Name": "stream"}]},
        "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
    },
}


def _task_definition(container: str, cpu: str, memory: str, **extra: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::ECS::TaskDefinition",
        "Properties": {
            "Cpu": cpu,
            "Memory": memory,
            "RuntimePlatform": {"CpuArchitecture": "ARM64"},
            "ContainerDefinitions": [{"Name": container}],
            **extra,
        },
    }


def _template() -> dict[str, Any]:
    definition = {
        "StartAt": "Begin",
        "States": {
            "Begin": {"Type": "Pass", "Next": "RunOnSpot"},
            "RunOnSpot": RUN_ON_SPOT,
            "Done": {"Type": "Succeed"},
        },
    }
    before, after = json.dumps(definition).split("@CLUSTER@")
    return {
        "Resources": {
            "StreamTask": _task_definition("stream", "256", "512"),
            "MediaJobTask": _task_definition(
                "media-job", "1024", "2048", EphemeralStorage={"SizeInGiB": 120}
            ),
            # A definition as CDK writes it: a Fn::Join of strings and intrinsics.
            "Workflow": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": {"Fn::Join": ["", [before, {"Ref": "Cluster"}, after]]}},
            },
            "Watchdog": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 256}},
            "Api": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Environment": {"Variables": {"YOUTUBE_CLIENT_SECRET_NAME": "playout/prod/x"}}
                },
            },
            "Sweep": {
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "ScheduleExpression": "rate(5 minutes)",
                    "State": "ENABLED",
                    "Targets": [{"Arn": {"Fn::GetAtt": ["Watchdog", "Arn"]}}],
                },
            },
            "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
            "Alarm1": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
            "Alarm2": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
        }
    }


def test_the_template_gives_the_task_sizes_spot_the_public_ip_and_what_stands_idle() -> None:
    facts = cost.deployed(_template())
    assert (facts.stream_task.size.vcpu, facts.stream_task.size.memory_gb) == (0.25, 0.5)
    assert facts.media_job.ephemeral_gib == 120
    assert facts.stream_on_spot
    assert facts.stream_public_ip
    assert facts.transitions_per_run == 3  # Begin, RunOnSpot, Done
    assert (facts.alarms, facts.dashboards, facts.kms_keys, facts.secrets) == (2, 0, 1, 1)
    assert (facts.sweeps_per_hour, facts.sweep_memory_mb) == (12, 256)
    assert facts.web_acl_rules is None


def test_an_hour_of_the_smallest_arm_task_costs_a_third_of_a_cent_on_spot_and_a_cent_on_demand() -> None:
    task = cost.deployed(_template()).stream_task
    assert cost.task_hour_usd(task, spot=True) == pytest.approx(0.25 * 0.01012 + 0.5 * 0.00111)
    assert cost.task_hour_usd(task, spot=False) == pytest.approx(0.25 * 0.03238 + 0.5 * 0.00356)


def test_storage_beyond_the_included_20_gb_is_billed() -> None:
    job = cost.deployed(_template()).media_job
    assert cost.task_hour_usd(job, spot=False) == pytest.approx(0.03238 + 2 * 0.00356 + 100 * 0.000111)


def test_an_hour_of_1080p30_to_one_destination_is_mostly_egress() -> None:
    facts = cost.deployed(_template())
    egress = (6000 + 128) * 1000 / 8 * 3600 / 1e9 * 0.09
    total = cost.stream_hour_total(facts)
    assert total == pytest.approx(
        cost.task_hour_usd(facts.stream_task, spot=True)
        + 0.005
        + egress
        + 720 * 0.625e-6
        + 12 * 0.125e-6
        + 100_000 / 1e9 * 0.5
    )
    assert cost.stream_hour_total(facts, destinations=3) == pytest.approx(total + 2 * egress)


def test_without_spot_or_public_ip_in_the_workflow_their_rows_go() -> None:
    template = _template()
    workflow = template["Resources"]["Workflow"]["Properties"]
    text = cost.joined_text(workflow["DefinitionString"])
    text = text.replace("FARGATE_SPOT", "FARGATE").replace('"ENABLED"', '"DISABLED"')
    workflow["DefinitionString"] = text
    facts = cost.deployed(template)
    items = [line.item for line in cost.stream_hour_lines(facts)]
    assert "Fargate task on demand" in items
    assert not any("Spot" in item or "IPv4" in item for item in items)


def test_a_web_acl_in_the_template_is_counted_idle_with_its_rules() -> None:
    template = _template()
    template["Resources"]["Acl"] = {"Type": "AWS::WAFv2::WebACL", "Properties": {"Rules": [{}, {}]}}
    lines = {line.item: line.usd for line in cost.idle_month_lines(cost.deployed(template))}
    assert lines["WAF web ACL"] == pytest.approx(5 + 2 * 1)


def test_an_x86_task_is_refused_in_plain_words_rather_than_priced_as_arm() -> None:
    template = copy.deepcopy(_template())
    template["Resources"]["StreamTask"]["Properties"]["RuntimePlatform"]["CpuArchitecture"] = "X86_64"
    with pytest.raises(ValueError, match="Linux/ARM Fargate prices only"):
        cost.render(template)


def test_a_template_without_the_stream_task_says_so() -> None:
    template = _template()
    del template["Resources"]["StreamTask"]
    with pytest.raises(ValueError, match="no task definition with a container named 'stream'"):
        cost.deployed(template)


def test_write_replaces_only_what_lies_between_the_markers() -> None:
    document = f"intro\n{cost.BEGIN_MARKER}\nold tables\n{cost.END_MARKER}\nafter\n"
    written = cost.rewrite(document, "new tables\n")
    assert written.startswith("intro\n")
    assert written.endswith(f"{cost.END_MARKER}\nafter\n")
    assert cost.generated_section(written) == "new tables\n"
    with pytest.raises(ValueError, match="markers"):
        cost.rewrite("no markers here", "x")


def test_prices_print_without_scientific_notation() -> None:
    rendered = cost.render(_template())
    assert "e-0" not in rendered
    assert "| stepfunctions_transition | 0.000025 |" in rendered
