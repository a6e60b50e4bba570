"""cdk-nag 3 acknowledgments: one call site, so every suppression is greppable and carries a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Token, Validations
from constructs import IConstruct

NAG_PACK = "AwsSolutions"


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (e.g. ``"IAM5[Resource::*]"``) on `scope` and below.

    Findings name the stack's region and account as `<AWS::Region>`/`<AWS::AccountId>` when the synth is
    environment-agnostic (`make synth`) and by value when it is not (`cdk synth`/`cdk deploy`, which set
    CDK_DEFAULT_REGION/ACCOUNT): the same acknowledgment holds for both."""
    stack = Stack.of(scope)
    for placeholder, value in (("<AWS::Region>", stack.region), ("<AWS::AccountId>", stack.account)):
        if not Token.is_unresolved(value):
            rule = rule.replace(placeholder, value)
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{NAG_PACK}::{NAG_PACK}-{rule}", reason=reason))


BASIC_EXECUTION_ROLE = (
    "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]"
)


def acknowledge_basic_execution_role(role: IConstruct) -> None:
    """A Lambda's role with AWS's basic execution policy, the function logging to a log group of its own."""
    acknowledge(
        role,
        BASIC_EXECUTION_ROLE,
        "The AWS managed basic execution policy only allows creating log streams and putting log events; "
        "the function logs to its own log group (with retention) declared beside it.",
    )


def logical_id(construct: IConstruct) -> str:
    """The CloudFormation logical id of an L2's default child, as cdk-nag spells it in finding ids."""
    child = construct.node.default_child
    assert isinstance(child, CfnElement)
    resolved = Stack.of(construct).resolve(child.logical_id)
    assert isinstance(resolved, str)
    return resolved
