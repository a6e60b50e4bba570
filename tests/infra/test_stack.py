"""Properties of the synthesized stack that matter (security, cost, the contracts with the other parts)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from playout import resources
from playout.workflow import RETRY_POLICY, TASK_TIMEOUT_S
from tests.infra.conftest import REPO_ROOT, Synth

pytestmark = pytest.mark.infra

Resources = dict[str, list[dict[str, Any]]]


def _flatten(value: Any) -> str:
    """A Fn::Join'ed string with every intrinsic replaced by a placeholder, for reading definitions."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_flatten(part) for part in parts)
    return "<token>"


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
    state_machine = _one(resources_by_type, "AWS::StepFunctions::StateMachine")
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
    assert "GlobalSecondaryIndexes" not in table


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
        "STORAGE_QUOTA_BYTES",
        "MAX_CONCURRENT_STREAMS",
        "POWERTOOLS_SERVICE_NAME",
        "LOG_LEVEL",
    }
    assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "playout"


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
    for public in ("GET /api/health", "GET /api/openapi.json", "GET /api/youtube/callback"):
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
    task = _one(resources_by_type, "AWS::ECS::TaskDefinition")["Properties"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert (task["Cpu"], task["Memory"]) == ("512", "1024")
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


def test_workflow_runs_task_sync_spot_first_with_the_shared_retry_policy(
    resources_by_type: Resources,
) -> None:
    states = _state_machine_definition(resources_by_type)["States"]
    run_on_spot, run_on_demand = states["RunOnSpot"], states["RunOnDemand"]
    for state in (run_on_spot, run_on_demand):
        assert state["Resource"].endswith(":states:::ecs:runTask.sync")
        assert state["TimeoutSeconds"] == TASK_TIMEOUT_S
        assert (
            state["Parameters"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "ENABLED"
        )
        (override,) = state["Parameters"]["Overrides"]["ContainerOverrides"]
        assert {e["Name"]: e["Value.$"] for e in override["Environment"]} == {
            "STREAM_ID": "$.stream_id",
            "USER_ID": "$.user_id",
            "RUN_ID": "$.run_id",
        }
        (retry,) = state["Retry"]
        assert "States.TaskFailed" in retry["ErrorEquals"]
        assert retry["MaxAttempts"] == RETRY_POLICY.max_attempts
        assert retry["IntervalSeconds"] == RETRY_POLICY.interval_s
        assert retry["BackoffRate"] == RETRY_POLICY.backoff_rate
        assert retry["MaxDelaySeconds"] == RETRY_POLICY.max_delay_s
        assert state["Catch"][-1] == {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.error",
            "Next": "StampFailureTime",
        }
    assert run_on_spot["Parameters"]["CapacityProviderStrategy"][0]["CapacityProvider"] == "FARGATE_SPOT"
    assert run_on_demand["Parameters"]["CapacityProviderStrategy"][0]["CapacityProvider"] == "FARGATE"
    assert run_on_spot["Catch"][0]["ErrorEquals"] == ["ECS.AmazonECSException"]
    assert run_on_spot["Catch"][0]["Next"] == "RunOnDemand"


def test_workflow_catch_marks_the_run_failed_conditionally(resources_by_type: Resources) -> None:
    states = _state_machine_definition(resources_by_type)["States"]
    stamp = states["StampFailureTime"]
    assert stamp["QueryLanguage"] == "JSONata"
    assert stamp["Next"] == "MarkFailed"
    # pynamodb's UTCDateTimeAttribute only reads '%Y-%m-%dT%H:%M:%S.%f+0000'.
    assert "[Y0001]-[M01]-[D01]T[H01]:[m01]:[s01].[f001]000+0000" in stamp["Output"]
    mark_failed = states["MarkFailed"]
    assert mark_failed["Resource"].endswith(":states:::dynamodb:updateItem")
    parameters = mark_failed["Parameters"]
    assert parameters["Key"] == {
        resources.TABLE_PARTITION_KEY: {"S.$": "States.Format('USER#{}', $.user_id)"},
        resources.TABLE_SORT_KEY: {"S.$": "States.Format('STREAM#{}', $.stream_id)"},
    }
    assert "#status = :failed" in parameters["UpdateExpression"]
    assert "#error = :error" in parameters["UpdateExpression"]
    assert parameters["ExpressionAttributeValues"][":failed"] == {"S": "failed"}
    assert parameters["ExpressionAttributeValues"][":ended_at"] == {"S.$": "$.ended_at"}
    # The app shows a sentence, not the ECS task description the raw cause holds.
    assert parameters["ExpressionAttributeValues"][":error"] == {
        "S.$": "States.Format('the stream task stopped unexpectedly and retries were exhausted ({})', "
        "$.error.Error)"
    }
    assert parameters["ConditionExpression"].startswith("run_id = :run_id AND #status IN (")
    for status in ("starting", "live", "stopping"):
        assert parameters["ExpressionAttributeValues"][f":{status}"] == {"S": status}
    (catch,) = mark_failed["Catch"]
    assert catch["ErrorEquals"] == ["DynamoDB.ConditionalCheckFailedException"]
    assert states[catch["Next"]]["Type"] == "Succeed"
    assert states[mark_failed["Next"]]["Type"] == "Fail"


def test_workflow_is_standard_with_logging_and_tracing(resources_by_type: Resources) -> None:
    state_machine = _one(resources_by_type, "AWS::StepFunctions::StateMachine")["Properties"]
    assert state_machine["StateMachineType"] == "STANDARD"
    assert state_machine["TracingConfiguration"] == {"Enabled": True}
    assert state_machine["LoggingConfiguration"]["Level"] == "ALL"


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
    assert len(entry["SourceObjectKeys"]) == 2  # config.json + the SPA build (without assets/)


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
