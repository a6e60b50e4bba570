"""Each role may do what its code calls and no more: DynamoDB actions per role and resource, KMS decrypt of
stream keys only in the stream task, ECS task control only on this cluster.

The expected sets are written out here (not read from infra/): they were taken from the code's calls
(pynamodb get/refresh = GetItem, query = Query, save = PutItem, update = UpdateItem, delete = DeleteItem,
batch_get = BatchGetItem, TransactWrite.condition_check = ConditionCheckItem; a transaction's items need
their own actions, TransactGetItems's GetItem)."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytestmark = pytest.mark.infra

Resources = dict[str, list[dict[str, Any]]]

FORBIDDEN_DYNAMODB = {
    "dynamodb:*",
    "dynamodb:Scan",
    "dynamodb:BatchWriteItem",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:DescribeStream",
    "dynamodb:ListStreams",
    "dynamodb:PartiQLSelect",
    "dynamodb:ExecuteStatement",
}
TABLE = "table"
INDEX = "index/active-streams"

# role (a part of its logical id) -> {resource: DynamoDB actions}
EXPECTED_DYNAMODB = {
    "ApiFunctionServiceRole": {
        TABLE: {
            "GetItem",
            "Query",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchGetItem",
            "ConditionCheckItem",
        },
    },
    "SchedulesStartFunctionServiceRole": {
        TABLE: {"GetItem", "Query", "PutItem", "UpdateItem", "BatchGetItem"},
    },
    "WatchdogFunctionServiceRole": {
        TABLE: {"GetItem", "Query", "PutItem", "UpdateItem"},
        INDEX: {"Query"},
    },
    "StreamingStreamTaskTaskRole": {
        TABLE: {"GetItem", "Query", "PutItem", "UpdateItem", "BatchGetItem"},
    },
    "MediaJobsMediaJobTaskTaskRole": {TABLE: {"GetItem", "UpdateItem"}},
    # The workflows' own DynamoDB states: the settle transactions (Update items) and the media's read.
    "StreamingStreamWorkflowRole": {TABLE: {"UpdateItem"}},
    "MediaJobsMediaJobWorkflowRole": {TABLE: {"GetItem", "UpdateItem"}},
}


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [actions] if isinstance(actions, str) else list(actions)


def _policies_by_role(resources_by_type: Resources) -> dict[str, list[dict[str, Any]]]:
    """Every role's statements, by the role's logical id."""
    by_role: dict[str, list[dict[str, Any]]] = {}
    for policy in resources_by_type["AWS::IAM::Policy"]:
        for role in policy["Properties"].get("Roles", []):
            by_role.setdefault(role["Ref"], []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return by_role


def _role_statements(resources_by_type: Resources, role_part: str) -> list[dict[str, Any]]:
    (role_id,) = [r for r in _policies_by_role(resources_by_type) if role_part in r]
    return _policies_by_role(resources_by_type)[role_id]


def _dynamodb_resource(resource: Any, table_id: str) -> str:
    text = json.dumps(resource)
    assert table_id in text, f"a DynamoDB grant on something else than the table: {text}"
    if "/index/" in text:
        return text[text.index("/index/") + 1 :].split('"')[0]
    return TABLE


def _dynamodb_grants(statements: list[dict[str, Any]], table_id: str) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for statement in statements:
        actions = [a for a in _actions(statement) if a.startswith("dynamodb:")]
        if not actions:
            continue
        assert statement["Effect"] == "Allow"
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for resource in resources:
            grants.setdefault(_dynamodb_resource(resource, table_id), set()).update(
                a.removeprefix("dynamodb:") for a in actions
            )
    return grants


@pytest.fixture(scope="module")
def table_id(resources_by_type: Resources) -> str:
    (table,) = resources_by_type["AWS::DynamoDB::Table"]
    return str(table["LogicalId"])


@pytest.mark.parametrize("role_part", sorted(EXPECTED_DYNAMODB))
def test_each_role_has_exactly_the_dynamodb_actions_its_code_calls(
    resources_by_type: Resources, table_id: str, role_part: str
) -> None:
    statements = _role_statements(resources_by_type, role_part)
    assert _dynamodb_grants(statements, table_id) == EXPECTED_DYNAMODB[role_part]


def test_no_role_may_scan_batch_write_or_read_the_table_stream(resources_by_type: Resources) -> None:
    for role, statements in _policies_by_role(resources_by_type).items():
        actions = {a for s in statements for a in _actions(s)}
        assert not actions & FORBIDDEN_DYNAMODB, role
    roles_with_dynamodb = {
        role
        for role, statements in _policies_by_role(resources_by_type).items()
        if any(a.startswith("dynamodb:") for s in statements for a in _actions(s))
    }
    # Every role that touches the table is one of those whose set is checked above.
    assert {next(p for p in EXPECTED_DYNAMODB if p in role) for role in roles_with_dynamodb} == set(
        EXPECTED_DYNAMODB
    )


def _kms_statements(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if any(a.startswith("kms:") for a in _actions(s))]


@pytest.mark.parametrize(
    ("role_part", "encrypts"),
    [
        ("ApiFunctionServiceRole", True),
        ("SchedulesStartFunctionServiceRole", True),
        ("WatchdogFunctionServiceRole", False),
    ],
)
def test_lambdas_decrypt_youtube_refresh_tokens_only_never_a_stream_key(
    resources_by_type: Resources, role_part: str, encrypts: bool
) -> None:
    statements = _kms_statements(_role_statements(resources_by_type, role_part))
    decrypts = [s for s in statements if "kms:Decrypt" in _actions(s)]
    assert decrypts, role_part
    for statement in decrypts:
        assert _actions(statement) == ["kms:Decrypt"]
        # A stream key's encryption context has no purpose (or the spare key's): StringEquals fails on it.
        assert statement["Condition"] == {
            "StringEquals": {"kms:EncryptionContext:purpose": "youtube_refresh_token"}
        }
    actions = {a for s in statements for a in _actions(s)}
    assert actions == ({"kms:Encrypt", "kms:Decrypt"} if encrypts else {"kms:Decrypt"})


def test_only_the_stream_task_decrypts_stream_keys(resources_by_type: Resources) -> None:
    unconditional = {
        role
        for role, statements in _policies_by_role(resources_by_type).items()
        for s in _kms_statements(statements)
        if "kms:Decrypt" in _actions(s) and "Condition" not in s
    }
    assert len(unconditional) == 1
    assert "StreamingStreamTaskTaskRole" in unconditional.pop()
    media_job = _role_statements(resources_by_type, "MediaJobsMediaJobTaskTaskRole")
    assert not _kms_statements(media_job)  # ffprobe parses untrusted bytes there: no key at all


def test_ecs_task_control_is_limited_to_this_cluster(resources_by_type: Resources) -> None:
    (cluster,) = resources_by_type["AWS::ECS::Cluster"]
    checked = 0
    for role, statements in _policies_by_role(resources_by_type).items():
        for statement in statements:
            if {"ecs:StopTask", "ecs:DescribeTasks"} & set(_actions(statement)):
                condition = statement.get("Condition", {}).get("ArnEquals", {}).get("ecs:cluster")
                assert condition == {"Fn::GetAtt": [cluster["LogicalId"], "Arn"]}, role
                checked += 1
    assert checked == 4  # the two workflows (runTask.sync), the API (stop), the watchdog (stop)
