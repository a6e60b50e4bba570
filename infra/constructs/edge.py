"""The edge: what keeps an anonymous client from taking the API down.

Every request is meant to pass CloudFront (where WAF, if on, counts it per IP), and the API answers only
requests that did:

- CloudFront adds a header to each request it sends the API (`ORIGIN_VERIFY_HEADER`), whose value is a secret
  made by Secrets Manager. The template holds only a dynamic reference to it; CloudFormation resolves it at
  deploy. The API Lambda refuses a request without it (403) before any route runs (functions/api/origin.py).
- With a domain (context `domain_name` + `certificate_arn`), the HTTP API's execute-api endpoint is disabled:
  the API has a regional custom domain of the same name, and CloudFront reaches it at that domain's regional
  target, forwarding the viewer's Host header (CloudFront then sends that name as SNI and checks the API's
  certificate against it). Requests that do not come through the app's name are never routed to the API.
  An HTTP API cannot be reached by CloudFront once its execute-api endpoint is disabled unless it has a custom
  domain, and HTTP APIs take no WAF web ACL or resource policy: hence the header in both cases, as the only
  check that works without a domain, and the domain as the way to close the default endpoint too.

Without a domain, a client that finds the execute-api URL still spends the stage's throttle (API Gateway
throttles before any check); the public routes have low throttles of their own so that they cannot spend the
authenticated routes' budget (see infra/constructs/api.py).
"""

from __future__ import annotations

from aws_cdk import Aws, CfnRule, CfnRuleAssertion, Fn, Stack
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.nag import acknowledge
from playout import resources

CLOUDFRONT_REGION = "us-east-1"  # CloudFront's certificates and web ACLs live there
ORIGIN_VERIFY_HEADER = resources.ORIGIN_VERIFY_HEADER
# The API's environment variable: where the value is kept, not the value.
ORIGIN_SECRET_VARIABLE = "ORIGIN_SECRET_ARN"  # noqa: S105
ORIGIN_SECRET_LENGTH = 48

# WAF's rate-based rule: requests per 5-minute window per client IP (WAF's own bounds: 10 to 2,000,000,000).
DEFAULT_WAF_RATE_LIMIT = 1000
MIN_WAF_RATE_LIMIT = 10
MAX_WAF_RATE_LIMIT = 2_000_000_000
WAF_RATE_WINDOW_S = 300
# AWS WAF list prices (us-east-1, all regions alike; checked 2026-11): a web ACL $5.00/month, each rule
# $1.00/month, $0.60 per million requests inspected (allowed and blocked alike). The docs cite these.
WAF_WEB_ACL_USD_PER_MONTH = 5.00
WAF_RULE_USD_PER_MONTH = 1.00
WAF_USD_PER_MILLION_REQUESTS = 0.60
WAF_RULES = 1  # the per-IP rate rule


def waf_monthly_usd(requests_per_month: float) -> float:
    """The web ACL's monthly cost at `requests_per_month` requests through CloudFront."""
    fixed = WAF_WEB_ACL_USD_PER_MONTH + WAF_RULES * WAF_RULE_USD_PER_MONTH
    return fixed + requests_per_month / 1_000_000 * WAF_USD_PER_MILLION_REQUESTS


def require_us_east_1_at_deploy(stack: Stack, reasons: list[str]) -> CfnRule | None:
    """An environment-agnostic synth (`make synth`) learns its region at deploy: a template rule makes
    CloudFormation refuse the change set there, with the reasons, before anything is created."""
    if not reasons:
        return None
    return CfnRule(
        stack,
        "DeployedInUsEast1",
        assertions=[
            CfnRuleAssertion(
                assert_=Fn.condition_equals(Aws.REGION, CLOUDFRONT_REGION),
                assert_description=" ".join(reasons),
            )
        ],
    )


class OriginSecret(Construct):
    """The value CloudFront sends the API in `ORIGIN_VERIFY_HEADER`, generated and kept by Secrets Manager."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="Playout: the header value CloudFront adds to every API request (origin verify)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=ORIGIN_SECRET_LENGTH, exclude_punctuation=True
            ),
        )
        acknowledge(
            self.secret,
            "SMG4",
            "Not rotated on a schedule: the value lives in CloudFront's origin configuration, which changes "
            "only with a deploy, so a rotation Lambda would make the API refuse CloudFront until the next "
            "deploy. It is rotated by replacing the secret and deploying; it guards no data, only the path.",
        )

    @property
    def header_value(self) -> str:
        """A CloudFormation dynamic reference (`{{resolve:secretsmanager:...}}`): never the value itself."""
        return self.secret.secret_value.unsafe_unwrap()


class RateLimitWebAcl(Construct):
    """A CloudFront-scoped web ACL with one rule: block an IP over `rate_limit` requests per 5 minutes."""

    def __init__(self, scope: Construct, construct_id: str, *, rate_limit: int) -> None:
        super().__init__(scope, construct_id)
        self.rule_name = "per-ip-rate"
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="CLOUDFRONT",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            description=f"Playout: at most {rate_limit} requests per 5 minutes per client IP",
            visibility_config=self._visibility("playout-web-acl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=self.rule_name,
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=rate_limit,
                            aggregate_key_type="IP",
                            evaluation_window_sec=WAF_RATE_WINDOW_S,
                        )
                    ),
                    visibility_config=self._visibility("playout-per-ip-rate"),
                )
            ],
        )

    @staticmethod
    def _visibility(metric_name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
        return wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name=metric_name, sampled_requests_enabled=True
        )

    @property
    def arn(self) -> str:
        return self.web_acl.attr_arn
