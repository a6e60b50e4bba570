"""Properties of the synthesized stack that matter (security, cost, the contracts with the other parts)."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.cost import joined_text as _flatten
from playout import resources
from playout.workflow import MEDIA_JOB_RETRY_POLICY, RETRY_POLICY, Action, Step, next_step
from tests.infra.conftest import REPO_ROOT, Synth
from tests.infra.workflow_sim import Workflow, evaluate

pytestmark = pytest.mark.infra

Resources = dict[str, list[dict[str, Any]]]


def _one(resources_by_type: Resources, type_name: str, logical_id_part: str = "") -> dict[str, Any]:
    matches = [r for r in resources_by_type.get(type_name, []) if logical_id_part in r["LogicalId"]]
    assert len(matches) == 1, [r["LogicalId"] for r in matches]
    return matches[0]


def _statements_of_role(resources_by_type: Resources, role_part: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in resources_by_type["AWS::IAM::Policy"]:
        roles = json.dumps(policy["Properties"].get("Roles", []))
        if role_part in roles:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statements, f"no policy attached to a role matching {role_part}"
    return statements


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _state_machine_definition(resources_by_type: Resources) -> dict[str, Any]:
    state_machine = _one(resources_by_type, "AWS::StepFunctions::StateMachine", "StreamWorkflow")
    return json.loads(_flatten(state_machine["Properties"]["DefinitionString"]))


# -- synth, cdk-nag, cfn-lint --------------------------------------------------------------------------------


def test_synth_succeeds_with_no_unacknowledged_nag_findings(synth: Synth) -> None:
    assert synth.returncode == 0, synth.output[-6000:]
    report = synth.validation_report
    violations = [v for plugin in report["pluginReports"] for v in plugin["violations"]]
    assert violations == []
    suppressed = [v for plugin in report["pluginReports"] for v in plugin.get("suppressedViolations", [])]
    assert suppressed, "cdk-nag did not run"
    assert all(len(v["reason"]) >= 40 for v in suppressed), "every acknowledgment needs a real reason"


def test_cfn_lint_reports_no_errors(synth: Synth) -> None:
    cfn_lint = Path(REPO_ROOT / ".venv" / "bin" / "cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), "--format", "json", str(synth.template_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == []
    # Known, justified warnings only: CDK-generated DependsOn next to a GetAtt (W3005), and the ACL the
    # access-log bucket needs for CloudFront standard logging (W3045).
    assert {f["Rule"]["Id"] for f in findings} <= {"W3005", "W3045"}


# -- data ----------------------------------------------------------------------------------------------------


def test_table_matches_playout_resources(resources_by_type: Resources) -> None:
    table = _one(resources_by_type, "AWS::DynamoDB::Table")["Properties"]
    assert table["KeySchema"] == resources.table_key_schema()
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        resources.table_attribute_definitions(), key=str
    )
    assert table["TimeToLiveSpecification"] == {
        "AttributeName": resources.TABLE_TTL_ATTRIBUTE,
        "Enabled": True,
    }
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["GlobalSecondaryIndexes"] == resources.table_global_secondary_indexes()


def test_media_bucket_is_private_encrypted_and_cors_ready_for_multipart(
    resources_by_type: Resources, template: dict[str, Any]
) -> None:
    bucket = _one(resources_by_type, "AWS::S3::Bucket", "DataMediaBucket")
    properties = bucket["Properties"]
    assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (rule,) = properties["CorsConfiguration"]["CorsRules"]
    assert rule["ExposedHeaders"] == list(resources.MEDIA_BUCKET_CORS_EXPOSED_HEADERS)
    assert rule["AllowedMethods"] == list(resources.MEDIA_BUCKET_CORS_METHODS)
    assert "DomainName" in json.dumps(rule["AllowedOrigins"]), "CORS origin is the app's CloudFront domain"
    lifecycle = properties["LifecycleConfiguration"]["Rules"]
    assert any(
        r.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation")
        == resources.ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS
        for r in lifecycle
    )
    assert "LoggingConfiguration" in properties
    bucket_policy = next(
        p
        for p in resources_by_type["AWS::S3::BucketPolicy"]
        if bucket["LogicalId"] in json.dumps(p["Properties"]["Bucket"])
    )
    assert any(
        s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
        for s in bucket_policy["Properties"]["PolicyDocument"]["Statement"]
    )


def test_every_bucket_is_encrypted_private_and_tls_only(resources_by_type: Resources) -> None:
    policies = json.dumps([p["Properties"] for p in resources_by_type["AWS::S3::BucketPolicy"]])
    for bucket in resources_by_type["AWS::S3::Bucket"]:
        assert "BucketEncryption" in bucket["Properties"], bucket["LogicalId"]
        assert bucket["Properties"]["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
        assert bucket["LogicalId"] in policies, f"{bucket['LogicalId']} has no TLS-only bucket policy"


def test_secrets_key_rotates(resources_by_type: Resources) -> None:
    assert _one(resources_by_type, "AWS::KMS::Key")["Properties"]["EnableKeyRotation"] is True


# -- api -----------------------------------------------------------------------------------------------------


def test_api_lambda_runtime_architecture_handler_and_environment(resources_by_type: Resources) -> None:
    function = _one(resources_by_type, "AWS::Lambda::Function", "ApiFunction")["Properties"]
    runtime_version = tuple(int(part) for part in function["Runtime"].removeprefix("python").split("."))
    assert runtime_version >= (3, 12)
    assert function["Architectures"] == ["arm64"]
    assert function["Handler"] == "api.handler.lambda_handler"
    assert function["MemorySize"] == 512
    assert function["Timeout"] == 29
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert len(function["Layers"]) == 1
    assert set(function["Environment"]["Variables"]) == {
        "TABLE_NAME",
        "MEDIA_BUCKET",
        "KEY_ID",
        "USER_POOL_ID",
        "STATE_MACHINE_ARN",
        "MEDIA_JOB_STATE_MACHINE_ARN",
        "CLUSTER_ARN",
        "SCHEDULE_GROUP",
        "SCHEDULED_START_FUNCTION_ARN",
        "SCHEDULER_ROLE_ARN",
        "STORAGE_QUOTA_BYTES",
        "MAX_CONCURRENT_STREAMS",
        "POWERTOOLS_SERVICE_NAME",
        "LOG_LEVEL",
        "APP_ORIGIN",
        "YOUTUBE_CLIENT_SECRET_NAME",
        "ORIGIN_SECRET_ARN",
    }
    assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "playout"
    # Google sends the browser back to the app's own origin (CloudFront's), whose /api/ is this API.
    assert "WebDistribution" in json.dumps(function["Environment"]["Variables"]["APP_ORIGIN"])


def test_googles_oauth_client_is_read_from_secrets_manager_never_given_in_an_environment(
    resources_by_type: Resources,
) -> None:
    environments = [
        json.dumps(f["Properties"].get("Environment", {})) for f in resources_by_type["AWS::Lambda::Function"]
    ] + [
        json.dumps(t["Properties"]["ContainerDefinitions"])
        for t in resources_by_type["AWS::ECS::TaskDefinition"]
    ]
    for environment in environments:
        assert 'YOUTUBE_CLIENT_SECRET"' not in environment
        assert "YOUTUBE_CLIENT_ID" not in environment
    task = _one(resources_by_type, "AWS::ECS::TaskDefinition", "StreamTask")["Properties"]
    (container,) = task["ContainerDefinitions"]
    names = {e["Name"]: e["Value"] for e in container["Environment"]}
    assert names["YOUTUBE_CLIENT_SECRET_NAME"] == "playout/prod/youtube-oauth-client"
    readers = []
    for policy in resources_by_type["AWS::IAM::Policy"]:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if "OriginSecret" in json.dumps(statement["Resource"]):
                continue  # CloudFront's origin header (tests/infra/test_edge.py)
            if any(a.startswith("secretsmanager:") for a in _actions(statement)):
                assert set(_actions(statement)) == {
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:DescribeSecret",
                }
                assert _flatten(statement["Resource"]).endswith(
                    ":secret:playout/prod/youtube-oauth-client-??????"
                )
                readers.append(policy["LogicalId"])
    assert len(readers) == 4, readers  # the API, the scheduled start, the stream task, the watchdog


def test_layer_is_arm64_python(resources_by_type: Resources) -> None:
    layer = _one(resources_by_type, "AWS::Lambda::LayerVersion", "ApiDependenciesLayer")["Properties"]
    assert layer["CompatibleArchitectures"] == ["arm64"]
    assert layer["CompatibleRuntimes"] == [
        _one(resources_by_type, "AWS::Lambda::Function", "ApiFunction")["Properties"]["Runtime"]
    ]


def test_api_routes_are_jwt_protected_except_public_ones(resources_by_type: Resources) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in resources_by_type["AWS::ApiGatewayV2::Route"]
    }
    assert routes["ANY /api/{proxy+}"]["AuthorizationType"] == "JWT"
    for public in ("GET /api/health", "GET /api/youtube/callback"):  # openapi.json: a file at the edge
        assert routes[public].get("AuthorizationType", "NONE") == "NONE"
    authorizer = _one(resources_by_type, "AWS::ApiGatewayV2::Authorizer")["Properties"]
    assert authorizer["AuthorizerType"] == "JWT"
    assert "cognito-idp" in _flatten(authorizer["JwtConfiguration"]["Issuer"])


def test_api_stage_is_throttled_and_logged(resources_by_type: Resources) -> None:
    stage = _one(resources_by_type, "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0
    assert "DestinationArn" in stage["AccessLogSettings"]


def test_user_pool_client_has_no_secret_and_the_flows_the_spa_uses(resources_by_type: Resources) -> None:
    client = _one(resources_by_type, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client.get("GenerateSecret", False) is False
    assert set(client["ExplicitAuthFlows"]) >= {
        "ALLOW_USER_PASSWORD_AUTH",
        "ALLOW_USER_SRP_AUTH",
        "ALLOW_REFRESH_TOKEN_AUTH",
    }


def test_api_lambda_kms_access_is_encrypt_decrypt_only(resources_by_type: Resources) -> None:
    kms_actions = {
        action
        for statement in _statements_of_role(resources_by_type, "ApiFunctionServiceRole")
        for action in _actions(statement)
        if action.startswith("kms:")
    }
    assert kms_actions == {"kms:Encrypt", "kms:Decrypt"}


# -- streaming -----------------------------------------------------------------------------------------------


def test_vpc_has_no_nat_gateway_and_gateway_endpoints(resources_by_type: Resources) -> None:
    assert "AWS::EC2::NatGateway" not in resources_by_type
    endpoints = resources_by_type["AWS::EC2::VPCEndpoint"]
    assert {e["Properties"]["VpcEndpointType"] for e in endpoints} == {"Gateway"}
    assert len(endpoints) == 2


def test_task_definition_is_small_arm64_with_stop_timeout(resources_by_type: Resources) -> None:
    task = _one(resources_by_type, "AWS::ECS::TaskDefinition", "StreamTask")["Properties"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    # bench/ measured a 1080p30 stream with 3 destinations at under half of 0.25 vCPU and 150 MB.
    assert (task["Cpu"], task["Memory"]) == ("256", "512")
    (container,) = task["ContainerDefinitions"]
    assert container["StopTimeout"] == 120
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert {e["Name"] for e in container["Environment"]} >= {
        "TABLE_NAME",
        "MEDIA_BUCKET",
        "POWERTOOLS_SERVICE_NAME",
    }


def test_cluster_offers_fargate_spot(resources_by_type: Resources) -> None:
    association = _one(resources_by_type, "AWS::ECS::ClusterCapacityProviderAssociations")["Properties"]
    assert set(association["CapacityProviders"]) == {"FARGATE", "FARGATE_SPOT"}


def test_task_role_has_no_wildcard_actions_and_cannot_encrypt(resources_by_type: Resources) -> None:
    statements = _statements_of_role(resources_by_type, "StreamingStreamTaskTaskRole")
    actions = [action for statement in statements for action in _actions(statement)]
    assert not [a for a in actions if "*" in a]
    assert "kms:Decrypt" in actions
    assert not [a for a in actions if a.startswith("kms:") and a != "kms:Decrypt"]
    assert not [a for a in actions if a.startswith("s3:") and a != "s3:GetObject"]


TASK_STARTED_MS = 1_767_000_000_000


def _task_failure(exit_code: int | None, ran_s: float, iso_times: bool = False) -> str:
    """The cause of States.TaskFailed: the ECS task description, as runTask.sync reports it."""
    started, stopped = TASK_STARTED_MS, TASK_STARTED_MS + int(ran_s * 1000)
    times: dict[str, Any] = {"StartedAt": started, "StoppedAt": stopped}
    if iso_times:
        times = {
            key: datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
            for key, ms in times.items()
        }
    container: dict[str, Any] = {"Name": "stream", "LastStatus": "STOPPED"}
    if exit_code is not None:
        container["ExitCode"] = exit_code
    return json.dumps({"Containers": [container], "StopCode": "EssentialContainerExited", **times})


@pytest.fixture(scope="module")
def workflow(resources_by_type: Resources) -> Workflow:
    return Workflow(_state_machine_definition(resources_by_type))


@pytest.mark.parametrize("crashes", [0, 1, 2, 3])
@pytest.mark.parametrize("ran_s", [0.0, 5.0, RETRY_POLICY.healthy_after_s - 1, RETRY_POLICY.healthy_after_s])
@pytest.mark.parametrize("exit_code", [0, 1, 2, 3, 4, 137, 143, 255, None])
def test_the_state_machine_routes_every_exit_as_next_step_does(
    workflow: Workflow, exit_code: int | None, ran_s: float, crashes: int
) -> None:
    variables = {"stream_id": "str_1", "user_id": "u-1", "run_id": "run_1", "crashes": crashes}
    expected = next_step(exit_code, ran_s, crashes)
    for state in ("RunOnSpot", "RunOnDemand"):
        outcome = workflow.after_failure(
            state, "States.TaskFailed", _task_failure(exit_code, ran_s), variables
        )
        step = outcome.step
        if expected.action in (Action.RESUME, Action.RETRY):
            assert step == Step(expected.action, crashes=expected.crashes, delay_s=expected.delay_s), (
                outcome.path
            )
            assert outcome.path[-1] == "RunOnSpot"  # every new task tries Spot first
        else:
            assert (step.action, step.reason) == (expected.action, expected.reason), outcome.path


def test_the_run_time_is_read_from_iso_times_too(workflow: Workflow) -> None:
    variables = {"crashes": 3}
    healthy = RETRY_POLICY.healthy_after_s + 1
    outcome = workflow.after_failure(
        "RunOnSpot", "States.TaskFailed", _task_failure(1, healthy, True), variables
    )
    assert outcome.step == next_step(1, healthy, 3)
    assert outcome.variables["ran_s"] == healthy


def test_a_launch_error_counts_as_a_crash_and_spot_falls_back_to_on_demand(workflow: Workflow) -> None:
    variables = {"crashes": 0}
    spot = workflow.after_failure("RunOnSpot", "ECS.AmazonECSException", "Capacity is unavailable", variables)
    assert spot.path == ["RunOnSpot", "RunOnDemand"]
    assert spot.step == Step(Action.RESUME, crashes=0)  # not a task exit: on-demand is tried at once
    for error in ("ECS.AmazonECSException", "ECS.AccessDeniedException", "States.Runtime"):
        outcome = workflow.after_failure("RunOnDemand", error, "not placed", variables)
        assert outcome.step == next_step(None, 0, 0), error
    exhausted = workflow.after_failure("RunOnDemand", "ECS.AmazonECSException", "no", {"crashes": 3})
    expected = next_step(None, 0, 3)
    assert (exhausted.step.action, exhausted.step.reason) == (expected.action, expected.reason)


def test_run_tasks_carry_the_run_ids_and_cost_tags_and_no_timeout(resources_by_type: Resources) -> None:
    definition = _state_machine_definition(resources_by_type)
    assert definition["QueryLanguage"] == "JSONata"
    assert "TimeoutSeconds" not in definition
    states = definition["States"]
    for name, capacity in (("RunOnSpot", "spot"), ("RunOnDemand", "on_demand")):
        state = states[name]
        assert state["Resource"].endswith(":states:::ecs:runTask.sync")
        assert "TimeoutSeconds" not in state
        assert "HeartbeatSeconds" not in state
        arguments = state["Arguments"]
        assert arguments["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"
        (override,) = arguments["Overrides"]["ContainerOverrides"]
        assert {e["Name"]: e["Value"] for e in override["Environment"]} == {
            "STREAM_ID": "{% $stream_id %}",
            "USER_ID": "{% $user_id %}",
            "RUN_ID": "{% $run_id %}",
            "CAPACITY": capacity,  # the cost meter's
        }
        assert {t["Key"]: t["Value"] for t in arguments["Tags"]} == {
            "playout:stream_id": "{% $stream_id %}",
            "playout:user_id": "{% $user_id %}",
            "playout:run_id": "{% $run_id %}",
        }
        assert arguments["PropagateTags"] == "TASK_DEFINITION"
        assert state["Next"] == "Done"
    assert (
        states["RunOnSpot"]["Arguments"]["CapacityProviderStrategy"][0]["CapacityProvider"] == "FARGATE_SPOT"
    )
    assert states["RunOnDemand"]["Arguments"]["CapacityProviderStrategy"][0]["CapacityProvider"] == "FARGATE"
    begin = states[definition["StartAt"]]
    assert evaluate(begin["Assign"], {}, {"input": {"stream_id": "s", "user_id": "u", "run_id": "r"}}) == {
        "stream_id": "s",
        "user_id": "u",
        "run_id": "r",
        "crashes": 0,
    }


def test_the_workflow_may_tag_the_tasks_it_launches(resources_by_type: Resources) -> None:
    statements = _statements_of_role(resources_by_type, "StreamingStreamWorkflowRole")
    (tagging,) = [s for s in statements if "ecs:TagResource" in _actions(s)]
    assert tagging["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    assert "ecs:RunTask" in [a for s in statements for a in _actions(s)]


def test_a_failed_run_fails_the_execution_so_the_alarm_fires(resources_by_type: Resources) -> None:
    states = _state_machine_definition(resources_by_type)["States"]
    assert states["SettleFailed"]["Next"] == "StreamFailed"
    assert states["StreamFailed"]["Type"] == "Fail"
    (catch,) = states["SettleFailed"]["Catch"]
    assert catch == {"ErrorEquals": ["DynamoDb.TransactionCanceledException"], "Next": "StreamFailed"}
    assert states["SettleEnded"]["Catch"][0]["Next"] == "Done"


@pytest.mark.parametrize(("state_name", "status"), [("SettleFailed", "failed"), ("SettleEnded", "ended")])
def test_the_settle_transaction_ends_the_run_and_frees_the_slot_only_for_its_run(
    resources_by_type: Resources, state_name: str, status: str
) -> None:
    """The synthesized arguments, evaluated, then sent to DynamoDB (moto) as Step Functions sends them."""
    state = _state_machine_definition(resources_by_type)["States"][state_name]
    assert state["Resource"].endswith(":states:::aws-sdk:dynamodb:transactWriteItems")
    variables = {"stream_id": "str_1", "user_id": "u-1", "run_id": "run_1", "reason": "it broke"}
    arguments = evaluate(state["Arguments"], variables)
    with mock_aws():
        from local.resources import table_spec
        from playout.models import PROFILE_SK, Stream, UserProfile, bind_table

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**table_spec("settle-test"))
        bind_table("settle-test", "us-east-1")
        for item in arguments["TransactItems"]:
            item["Update"]["TableName"] = "settle-test"
        Stream(
            "USER#u-1",
            "STREAM#str_1",
            stream_id="str_1",
            title="t",
            status="live",
            run_id="run_1",
            active_index_pk="ACTIVE",
        ).save()
        UserProfile("USER#u-1", PROFILE_SK, active_streams=1).save()

        client.transact_write_items(**arguments)
        stream = Stream.get("USER#u-1", "STREAM#str_1")
        assert stream.status == status
        assert stream.ended_at is not None  # pynamodb reads the time the JSONata wrote
        assert stream.active_index_pk == "ENDED"  # for the watchdog's last look at its YouTube broadcasts
        assert stream.error == ("it broke" if status == "failed" else None)
        assert UserProfile.get("USER#u-1", PROFILE_SK).active_streams == 0

        with pytest.raises(client.exceptions.TransactionCanceledException):
            client.transact_write_items(**arguments)  # already ended: the condition fails, nothing changes
        assert UserProfile.get("USER#u-1", PROFILE_SK).active_streams == 0


def test_workflow_is_standard_with_logging_and_tracing(resources_by_type: Resources) -> None:
    state_machine = _one(resources_by_type, "AWS::StepFunctions::StateMachine", "StreamWorkflow")[
        "Properties"
    ]
    assert state_machine["StateMachineType"] == "STANDARD"
    assert state_machine["TracingConfiguration"] == {"Enabled": True}
    assert state_machine["LoggingConfiguration"]["Level"] == "ALL"


def test_the_media_job_runs_the_stream_image_with_its_own_command_size_and_disk(
    resources_by_type: Resources,
) -> None:
    stream = _one(resources_by_type, "AWS::ECS::TaskDefinition", "StreamTask")["Properties"]
    job = _one(resources_by_type, "AWS::ECS::TaskDefinition", "MediaJobTask")["Properties"]
    (container,) = job["ContainerDefinitions"]
    assert container["EntryPoint"] == ["python", "-m", "stream_task.media_job"]
    assert container["Image"] == stream["ContainerDefinitions"][0]["Image"]
    assert (job["Cpu"], job["Memory"], job["EphemeralStorage"]["SizeInGiB"]) == ("1024", "2048", 120)
    assert {e["Name"] for e in container["Environment"]} >= {
        "TABLE_NAME",
        "MEDIA_BUCKET",
        "STORAGE_QUOTA_BYTES",
    }


def test_the_media_job_role_reaches_media_objects_and_items_only(resources_by_type: Resources) -> None:
    statements = _statements_of_role(resources_by_type, "MediaJobsMediaJobTaskTaskRole")
    actions = {action for statement in statements for action in _actions(statement)}
    assert not [a for a in actions if "*" in a]
    assert not [a for a in actions if a.startswith("dynamodb:") and ("Scan" in a or "Query" in a)]
    assert "s3:ListBucket" not in actions


def test_the_media_job_workflow_falls_back_from_spot_and_fails_the_media_on_give_up(
    resources_by_type: Resources,
) -> None:
    machine = _one(resources_by_type, "AWS::StepFunctions::StateMachine", "MediaJobWorkflow")
    states = json.loads(_flatten(machine["Properties"]["DefinitionString"]))["States"]
    assert states["RunOnSpot"]["Catch"][0]["ErrorEquals"] == ["ECS.AmazonECSException"]
    assert states["RunOnSpot"]["Catch"][0]["Next"] == "RunOnDemand"
    overrides = states["RunOnSpot"]["Arguments"]["Overrides"]["ContainerOverrides"][0]["Environment"]
    assert {o["Name"] for o in overrides} == {"MEDIA_ID", "USER_ID", "JOB_ID"}  # ids only
    route_targets = {choice["Next"] for choice in states["Route"]["Choices"]}
    assert {"Done", "ReadMedia", "RunOnSpot", "Backoff"} <= route_targets
    settle = states["SettleFailed"]["Arguments"]["TransactItems"]
    assert "job_id = :job_id" in settle[0]["Update"]["ConditionExpression"]
    assert "storage_used_bytes" in settle[1]["Update"]["UpdateExpression"]


def _media_job_states(resources_by_type: Resources) -> dict[str, Any]:
    machine = _one(resources_by_type, "AWS::StepFunctions::StateMachine", "MediaJobWorkflow")
    return dict(json.loads(_flatten(machine["Properties"]["DefinitionString"]))["States"])


def _media_job_route(states: dict[str, Any], exit_code: int | None, crashes: int) -> str:
    for choice in states["Route"]["Choices"]:
        if evaluate(choice["Condition"], {"exit_code": exit_code, "crashes": crashes}):
            return str(choice["Next"])
    raise AssertionError("no choice matched")


@pytest.mark.parametrize("crashes", [0, 1, 2])
@pytest.mark.parametrize("exit_code", [0, 1, 2, 4, 137, 143, None])
def test_the_media_job_workflow_routes_every_exit_as_next_step_does(
    resources_by_type: Resources, exit_code: int | None, crashes: int
) -> None:
    states = _media_job_states(resources_by_type)
    catch = states["RunOnSpot"]["Catch"][1]
    assigned = evaluate(
        catch["Assign"],
        {},
        {"errorOutput": {"Cause": _task_failure(exit_code, 5.0).replace('"stream"', '"media-job"')}},
    )
    assert assigned["exit_code"] == exit_code
    expected = next_step(exit_code, 5.0, crashes, MEDIA_JOB_RETRY_POLICY)
    wanted = {
        Action.DONE: "Done",
        Action.SETTLE_FAILED: "ReadMedia",
        Action.RESUME: "RunOnSpot",
        Action.RETRY: "Backoff",
    }[expected.action]
    assert _media_job_route(states, exit_code, crashes) == wanted


@pytest.mark.parametrize("status", ["importing", "probing"])
def test_the_media_job_settle_fails_only_this_jobs_unfinished_media_and_gives_back_its_bytes(
    resources_by_type: Resources, status: str
) -> None:
    states = _media_job_states(resources_by_type)
    item = {"status": {"S": status}, "job_id": {"S": "job_1"}, "counted_bytes": {"N": "1234"}}
    variables = {"user_id": "u-1", "media_id": "med_1", "job_id": "job_1", "item": item}

    def chosen(variables: dict[str, Any]) -> str:
        choices = states["StillThisJobs"]["Choices"]
        return next((c["Next"] for c in choices if evaluate(c["Condition"], variables)), "Default")

    assert chosen(variables) == "SettleFailed"
    assert chosen({**variables, "job_id": "job_2"}) == "Default"
    assert chosen({**variables, "item": {**item, "status": {"S": "ready"}}}) == "Default"
    assert states["StillThisJobs"]["Default"] == "JobFailed"
    media, profile = evaluate(states["SettleFailed"]["Arguments"], variables)["TransactItems"]
    values = media["Update"]["ExpressionAttributeValues"]
    assert (values[":job_id"], values[":status"], values[":counted"]) == (
        {"S": "job_1"},
        {"S": status},
        {"N": "1234"},
    )
    released = profile["Update"]["ExpressionAttributeValues"]
    assert released[":released"] == {"N": "-1234"}
    assert released[":imports"] == {"N": "-1" if status == "importing" else "0"}


def test_the_media_job_gives_up_on_a_conform_keeping_the_original_and_its_count(
    resources_by_type: Resources,
) -> None:
    states = _media_job_states(resources_by_type)
    item = {"status": {"S": "conforming"}, "job_id": {"S": "job_1"}, "counted_bytes": {"N": "1234"}}
    variables = {"user_id": "u-1", "media_id": "med_1", "job_id": "job_1", "item": item}
    chosen = [c["Next"] for c in states["StillThisJobs"]["Choices"] if evaluate(c["Condition"], variables)]
    assert chosen[0] == "SettleFailedKeepingOriginal"
    keep = states["SettleFailedKeepingOriginal"]
    update = evaluate(keep["Arguments"], variables)
    assert "counted_bytes" not in update["UpdateExpression"]  # nothing released: the original stays
    assert update["ExpressionAttributeValues"][":job_id"] == {"S": "job_1"}
    assert "the original is kept" in update["ExpressionAttributeValues"][":reason"]["S"]
    assert keep["Next"] == "DeleteConformedCopy"
    deleted = evaluate(states["DeleteConformedCopy"]["Arguments"], variables)
    assert deleted["Key"] == "media/u-1/med_1/conformed.mp4"


# -- web -----------------------------------------------------------------------------------------------------


def _distribution(resources_by_type: Resources) -> dict[str, Any]:
    return _one(resources_by_type, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]


def test_distribution_serves_the_spa_through_oac_compressed(resources_by_type: Resources) -> None:
    config = _distribution(resources_by_type)
    assert resources_by_type["AWS::CloudFront::OriginAccessControl"]
    s3_origins = [o for o in config["Origins"] if "S3OriginConfig" in o]
    assert s3_origins
    assert all("OriginAccessControlId" in o for o in s3_origins)
    default = config["DefaultCacheBehavior"]
    assert default["Compress"] is True
    assert default["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"  # Managed-CachingOptimized
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["DefaultRootObject"] == "index.html"
    assert default["FunctionAssociations"][0]["EventType"] == "viewer-request"  # SPA routes -> index.html


def test_api_behavior_is_uncached_forwards_viewer_headers_and_allows_all_methods(
    resources_by_type: Resources,
) -> None:
    (api_behavior,) = [
        b for b in _distribution(resources_by_type)["CacheBehaviors"] if b["PathPattern"] == "/api/*"
    ]
    assert api_behavior["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
    assert (
        api_behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    )  # AllViewerExceptHostHeader
    assert set(api_behavior["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert api_behavior["Compress"] is True


def test_security_headers(resources_by_type: Resources) -> None:
    policy = _one(resources_by_type, "AWS::CloudFront::ResponseHeadersPolicy")["Properties"]
    headers = policy["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] >= 31536000
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert "ReferrerPolicy" in headers
    csp = _flatten(headers["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    assert "default-src 'self'" in csp
    assert "connect-src 'self' https://cognito-idp." in csp
    assert "frame-ancestors 'none'" in csp


def test_spa_deployments_cache_hashed_assets_forever_and_entry_points_never(
    resources_by_type: Resources,
) -> None:
    deployments = resources_by_type["Custom::CDKBucketDeployment"]
    by_prefix = {d["Properties"].get("DestinationBucketKeyPrefix", ""): d["Properties"] for d in deployments}
    assets = by_prefix["assets/"]
    assert assets["SystemMetadata"]["cache-control"] == resources.IMMUTABLE_CACHE_CONTROL
    assert assets["Prune"] is False
    entry = by_prefix[""]
    assert entry["SystemMetadata"]["cache-control"] == "no-cache"
    assert (
        len(entry["SourceObjectKeys"]) == 3
    )  # config.json, api/openapi.json, the SPA build (without assets/)


def test_runtime_config_json_has_what_the_spa_needs(synth: Synth) -> None:
    config_dirs = [p for p in synth.outdir.glob("asset.*") if (p / "config.json").is_file()]
    assert len(config_dirs) == 1
    # Deploy-time values are markers (<<marker:...>>) that the deployment replaces with quoted strings.
    text = re.sub(r"<<marker:[^>]+>>", '"<deploy-time>"', (config_dirs[0] / "config.json").read_text())
    config = json.loads(text)
    assert set(config) == {"apiUrl", "region", "userPoolId", "userPoolClientId", "cognitoEndpoint"}
    assert config["apiUrl"] == "/api"


# -- monitoring ----------------------------------------------------------------------------------------------


def test_every_log_group_has_retention(resources_by_type: Resources) -> None:
    log_groups = resources_by_type["AWS::Logs::LogGroup"]
    assert len(log_groups) >= 6
    assert all("RetentionInDays" in g["Properties"] for g in log_groups)


def test_every_lambda_logs_to_an_explicit_log_group(resources_by_type: Resources) -> None:
    for function in resources_by_type["AWS::Lambda::Function"]:
        assert "LogGroup" in function["Properties"].get("LoggingConfig", {}), function["LogicalId"]


def test_alarms_on_api_errors_and_workflow_failures(resources_by_type: Resources) -> None:
    metrics = {
        (a["Properties"]["Namespace"], a["Properties"]["MetricName"])
        for a in resources_by_type["AWS::CloudWatch::Alarm"]
    }
    assert ("AWS/ApiGateway", "5xx") in metrics
    assert ("AWS/Lambda", "Errors") in metrics
    assert ("AWS/States", "ExecutionsFailed") in metrics


def test_outputs(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) >= {"AppUrl", "ApiUrl", "UserPoolId", "UserPoolClientId"}


def test_aws_never_admits_loopback_ingests(template: dict[str, Any]) -> None:
    # Local mode's setting: in AWS a loopback ingest would reach the task itself.
    assert "ALLOW_LOOPBACK_INGESTS" not in json.dumps(template).upper()


# -- watchdog and schedules ----------------------------------------------------------------------------------


def test_the_watchdog_runs_on_stopped_tasks_ended_runs_and_every_minute(resources_by_type: Resources) -> None:
    function = _one(resources_by_type, "AWS::Lambda::Function", "WatchdogFunction")
    assert function["Properties"]["Handler"] == "stream_watchdog.handler.lambda_handler"
    assert set(function["Properties"]["Environment"]["Variables"]) >= {
        "TABLE_NAME",
        "STATE_MACHINE_ARN",
        "CLUSTER_ARN",
    }
    rules = [r["Properties"] for r in resources_by_type["AWS::Events::Rule"] if "Watchdog" in r["LogicalId"]]
    patterns = {r["EventPattern"]["source"][0]: r["EventPattern"] for r in rules if "EventPattern" in r}
    assert set(patterns) == {"aws.ecs", "aws.states"}
    stopped = patterns["aws.ecs"]
    assert stopped["detail-type"] == ["ECS Task State Change"]
    assert stopped["detail"]["lastStatus"] == ["STOPPED"]
    assert "Cluster" in json.dumps(stopped["detail"]["clusterArn"])  # this cluster's tasks only
    # A run the workflow failed with no task behind it: its execution's end.
    ended = patterns["aws.states"]
    assert ended["detail-type"] == ["Step Functions Execution Status Change"]
    assert set(ended["detail"]["status"]) == {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
    assert "StreamWorkflow" in json.dumps(ended["detail"]["stateMachineArn"]), ended  # not the media jobs'
    assert [r["ScheduleExpression"] for r in rules if "ScheduleExpression" in r] == ["rate(1 minute)"]
    for rule in rules:
        assert function["LogicalId"] in json.dumps(rule["Targets"])


def test_the_watchdog_may_describe_runs_and_stop_tasks_of_this_app_only(resources_by_type: Resources) -> None:
    statements = _statements_of_role(resources_by_type, "WatchdogFunctionServiceRole")
    by_action = {a: s for s in statements for a in _actions(s)}
    assert ":execution:" in _flatten(by_action["states:DescribeExecution"]["Resource"])
    assert by_action["ecs:StopTask"]["Condition"]["ArnEquals"]["ecs:cluster"]
    assert "dynamodb:Scan" not in by_action
    assert "dynamodb:Query" in by_action


def test_scheduled_starts_use_a_group_a_narrow_role_and_their_own_lambda(
    resources_by_type: Resources,
) -> None:
    _one(resources_by_type, "AWS::Scheduler::ScheduleGroup")
    function = _one(resources_by_type, "AWS::Lambda::Function", "SchedulesStartFunction")
    assert function["Properties"]["Handler"] == "scheduled_start.handler.lambda_handler"
    role = _one(resources_by_type, "AWS::IAM::Role", "SchedulesSchedulerRole")
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    (invoke,) = _statements_of_role(resources_by_type, "SchedulesSchedulerRole")
    assert _actions(invoke) == ["lambda:InvokeFunction"]
    assert function["LogicalId"] in json.dumps(invoke["Resource"])


def test_the_api_may_manage_schedules_of_its_group_and_pass_only_the_scheduler_role(
    resources_by_type: Resources,
) -> None:
    statements = _statements_of_role(resources_by_type, "ApiFunctionServiceRole")
    (manage,) = [s for s in statements if "scheduler:CreateSchedule" in _actions(s)]
    assert sorted(_actions(manage)) == [
        "scheduler:CreateSchedule",
        "scheduler:DeleteSchedule",
        "scheduler:UpdateSchedule",
    ]
    assert ":schedule/" in _flatten(manage["Resource"])
    (pass_role,) = [s for s in statements if "iam:PassRole" in _actions(s)]
    assert "SchedulesSchedulerRole" in json.dumps(pass_role["Resource"])
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    (stop,) = [s for s in statements if "ecs:StopTask" in _actions(s)]
    assert stop["Condition"]["ArnEquals"]["ecs:cluster"]
