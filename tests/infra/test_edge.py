"""No anonymous client takes the API down: per-route throttles on the public routes, the OpenAPI document as
a static file at the edge, the origin header CloudFront adds (and the API requires), and with a domain the
execute-api endpoint off; WAF's per-IP rate rule by context; the settings' checks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from infra.constructs.api import API_PUBLIC_ROUTES
from infra.constructs.edge import WAF_USD_PER_MILLION_REQUESTS, require_us_east_1_at_deploy, waf_monthly_usd
from infra.openapi_document import openapi_document
from infra.stack import StageSettings
from playout import resources
from tests.infra.conftest import EDGE_CONTEXT, Synth

pytestmark = pytest.mark.infra

Resources = dict[str, list[dict[str, Any]]]


def _by_type(template: dict[str, Any]) -> Resources:
    by_type: Resources = {}
    for logical_id, resource in template["Resources"].items():
        by_type.setdefault(resource["Type"], []).append({"LogicalId": logical_id, **resource})
    return by_type


def _distribution(resources_by_type: Resources) -> dict[str, Any]:
    (distribution,) = resources_by_type["AWS::CloudFront::Distribution"]
    return dict(distribution["Properties"]["DistributionConfig"])


def _api_origin(config: dict[str, Any]) -> dict[str, Any]:
    (origin,) = [o for o in config["Origins"] if "CustomOriginConfig" in o]
    return dict(origin)


@pytest.fixture(scope="module")
def edge_resources(edge_synth: Synth) -> Resources:
    assert edge_synth.returncode == 0, edge_synth.output[-6000:]
    return _by_type(edge_synth.template)


# -- throttles -----------------------------------------------------------------------------------------------


def test_public_routes_have_their_own_throttle_far_below_the_stage(resources_by_type: Resources) -> None:
    (stage,) = resources_by_type["AWS::ApiGatewayV2::Stage"]
    properties = stage["Properties"]
    default = properties["DefaultRouteSettings"]
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"] for r in resources_by_type["AWS::ApiGatewayV2::Route"]
    }
    public = {key for key, route in routes.items() if route.get("AuthorizationType", "NONE") == "NONE"}
    assert public == {"GET /api/health", "GET /api/youtube/callback"}
    assert set(properties["RouteSettings"]) == public
    for settings in properties["RouteSettings"].values():
        assert 0 < settings["ThrottlingRateLimit"] <= default["ThrottlingRateLimit"] / 5
        assert 0 < settings["ThrottlingBurstLimit"] <= default["ThrottlingBurstLimit"] / 5


# -- the OpenAPI document ------------------------------------------------------------------------------------


def test_openapi_json_is_served_from_the_site_bucket_and_never_reaches_the_api(
    resources_by_type: Resources, template: dict[str, Any]
) -> None:
    config = _distribution(resources_by_type)
    patterns = [b["PathPattern"] for b in config["CacheBehaviors"]]
    # CloudFront takes the first behavior that matches: the document's before the API's.
    assert patterns.index("/api/openapi.json") < patterns.index("/api/*")
    (behavior,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/openapi.json"]
    (site_origin,) = [o for o in config["Origins"] if "S3OriginConfig" in o]
    assert behavior["TargetOriginId"] == site_origin["Id"]
    assert behavior["AllowedMethods"] == ["GET", "HEAD"]
    assert behavior["CachePolicyId"] == "658327ea-f89d-4fab-a63d-7e88639e58f6"  # Managed-CachingOptimized
    assert "GET /api/openapi.json" not in {
        r["Properties"]["RouteKey"] for r in resources_by_type["AWS::ApiGatewayV2::Route"]
    }


def test_the_deployed_openapi_document_is_what_the_apis_route_answers(synth: Synth) -> None:
    """The file the site deployment uploads is the API Lambda's own `GET /api/openapi.json` answer (which
    local mode serves), made from the code being deployed."""
    documents = [p / "api" / "openapi.json" for p in synth.outdir.glob("asset.*")]
    (deployed,) = [p for p in documents if p.is_file()]
    document = json.loads(deployed.read_text())
    assert document == json.loads(openapi_document())
    assert document["openapi"].startswith("3.")
    assert {"/api/streams", "/api/media", "/api/me"} <= set(document["paths"])
    # Every public route the API Gateway keeps (and cdk-nag's APIG4 waiver names) has its handler.
    assert set(API_PUBLIC_ROUTES) <= set(document["paths"])


# -- every request passes CloudFront -------------------------------------------------------------------------


def test_cloudfront_adds_the_origin_secret_by_reference_never_in_clear(
    resources_by_type: Resources, template: dict[str, Any]
) -> None:
    origin = _api_origin(_distribution(resources_by_type))
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == resources.ORIGIN_VERIFY_HEADER
    (secret,) = [
        s for s in resources_by_type["AWS::SecretsManager::Secret"] if "OriginSecret" in s["LogicalId"]
    ]
    assert header["HeaderValue"] == {
        "Fn::Join": ["", ["{{resolve:secretsmanager:", {"Ref": secret["LogicalId"]}, ":SecretString:::}}"]]
    }
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert origin["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


def test_the_api_lambda_knows_where_the_origin_secret_is_and_may_read_it(
    resources_by_type: Resources,
) -> None:
    (function,) = [f for f in resources_by_type["AWS::Lambda::Function"] if "ApiFunction" in f["LogicalId"]]
    (secret,) = [
        s for s in resources_by_type["AWS::SecretsManager::Secret"] if "OriginSecret" in s["LogicalId"]
    ]
    assert function["Properties"]["Environment"]["Variables"]["ORIGIN_SECRET_ARN"] == {
        "Ref": secret["LogicalId"]
    }
    readers = [
        p
        for p in resources_by_type["AWS::IAM::Policy"]
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Resource") == {"Ref": secret["LogicalId"]}
    ]
    assert len(readers) == 1
    assert "ApiFunctionServiceRole" in json.dumps(readers[0]["Properties"]["Roles"])


def test_without_a_domain_cloudfront_reaches_the_execute_api_endpoint_without_the_viewers_host(
    resources_by_type: Resources,
) -> None:
    (api,) = resources_by_type["AWS::ApiGatewayV2::Api"]
    assert api["Properties"].get("DisableExecuteApiEndpoint", False) is False
    config = _distribution(resources_by_type)
    assert ".execute-api." in json.dumps(_api_origin(config)["DomainName"])
    (api_behavior,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    assert (
        api_behavior["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"
    )  # AllViewerExceptHost
    assert "Aliases" not in config
    assert "WebACLId" not in config
    assert "AWS::WAFv2::WebACL" not in resources_by_type  # WAF is off by default


def test_with_a_domain_the_execute_api_endpoint_is_off_and_cloudfront_calls_the_apis_custom_domain(
    edge_resources: Resources,
) -> None:
    (api,) = edge_resources["AWS::ApiGatewayV2::Api"]
    assert api["Properties"]["DisableExecuteApiEndpoint"] is True
    (domain,) = edge_resources["AWS::ApiGatewayV2::DomainName"]
    assert domain["Properties"]["DomainName"] == EDGE_CONTEXT["domain_name"]
    (configuration,) = domain["Properties"]["DomainNameConfigurations"]
    assert configuration["EndpointType"] == "REGIONAL"
    assert configuration["CertificateArn"] == EDGE_CONTEXT["certificate_arn"]  # the stack is in us-east-1
    assert configuration["SecurityPolicy"] == "TLS_1_2"
    (mapping,) = edge_resources["AWS::ApiGatewayV2::ApiMapping"]
    assert mapping["Properties"]["DomainName"] == {"Ref": domain["LogicalId"]}

    config = _distribution(edge_resources)
    assert config["Aliases"] == [EDGE_CONTEXT["domain_name"]]
    assert config["ViewerCertificate"]["AcmCertificateArn"] == EDGE_CONTEXT["certificate_arn"]
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert _api_origin(config)["DomainName"] == {"Fn::GetAtt": [domain["LogicalId"], "RegionalDomainName"]}
    (api_behavior,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == "/api/*"]
    # The custom domain routes by Host (and CloudFront's SNI follows it): the app's name is forwarded.
    assert api_behavior["OriginRequestPolicyId"] == "216adef6-5c7f-47e4-b989-5492eafa07d3"  # AllViewer


def test_with_a_domain_the_app_and_google_use_it(edge_synth: Synth, edge_resources: Resources) -> None:
    outputs = edge_synth.template["Outputs"]
    assert outputs["AppUrl"]["Value"] == "https://app.example.com"
    assert outputs["ApiUrl"]["Value"] == "https://app.example.com/api"
    (function,) = [f for f in edge_resources["AWS::Lambda::Function"] if "ApiFunction" in f["LogicalId"]]
    assert function["Properties"]["Environment"]["Variables"]["APP_ORIGIN"] == "https://app.example.com"


# -- WAF -----------------------------------------------------------------------------------------------------


def test_waf_blocks_an_ip_over_the_rate_limit_on_the_distribution(edge_resources: Resources) -> None:
    (acl,) = edge_resources["AWS::WAFv2::WebACL"]
    properties = acl["Properties"]
    assert properties["Scope"] == "CLOUDFRONT"
    assert properties["DefaultAction"] == {"Allow": {}}
    (rule,) = properties["Rules"]
    assert rule["Action"] == {"Block": {}}
    rate = rule["Statement"]["RateBasedStatement"]
    assert rate == {
        "Limit": EDGE_CONTEXT["waf_rate_limit"],
        "AggregateKeyType": "IP",
        "EvaluationWindowSec": 300,
    }
    assert _distribution(edge_resources)["WebACLId"] == {"Fn::GetAtt": [acl["LogicalId"], "Arn"]}


def test_the_edge_synth_has_no_unacknowledged_nag_findings(edge_synth: Synth) -> None:
    assert edge_synth.returncode == 0, edge_synth.output[-6000:]
    report = edge_synth.validation_report
    assert [v for plugin in report["pluginReports"] for v in plugin["violations"]] == []
    suppressed = {
        v["ruleName"] for plugin in report["pluginReports"] for v in plugin.get("suppressedViolations", [])
    }
    # WAF and a domain are on: their waivers must not be there.
    assert "AwsSolutions-CFR2" not in suppressed
    assert "AwsSolutions-CFR4" not in suppressed


def test_the_wafs_monthly_cost() -> None:
    assert waf_monthly_usd(0) == 6.0  # the web ACL $5 + one rule $1
    assert waf_monthly_usd(10_000_000) == pytest.approx(6.0 + 10 * WAF_USD_PER_MILLION_REQUESTS)


# -- settings ------------------------------------------------------------------------------------------------


def _settings(**context: object) -> StageSettings:
    return StageSettings.from_context(App(context=context))


def test_settings_default_to_no_domain_and_no_waf() -> None:
    settings = _settings()
    assert (settings.domain_name, settings.certificate_arn, settings.waf_enabled) == ("", "", False)
    assert settings.waf_rate_limit == 1000
    settings.check_region(None)  # nothing to require of the region


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"domain_name": "app.example.com"}, "go together"),
        ({"certificate_arn": EDGE_CONTEXT["certificate_arn"]}, "go together"),
        ({"domain_name": "not a domain", "certificate_arn": EDGE_CONTEXT["certificate_arn"]}, "DNS name"),
        (
            {
                "domain_name": "app.example.com",
                "certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc",
            },
            "us-east-1",
        ),
        ({"waf_enabled": "maybe"}, "true or false"),
        ({"waf_rate_limit": 5}, "per 5 minutes"),
        ({"api_certificate_arn": "arn:aws:acm:eu-west-1:1:certificate/x"}, "needs domain_name"),
    ],
)
def test_bad_edge_settings_are_refused_in_plain_words(context: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _settings(**context)


def test_waf_and_a_domain_outside_us_east_1_are_refused_in_plain_words() -> None:
    with pytest.raises(ValueError, match="waf_enabled needs the stack in us-east-1"):
        _settings(waf_enabled=True).check_region("eu-west-1")
    _settings(waf_enabled=True).check_region("us-east-1")
    _settings(waf_enabled=True).check_region(None)  # not known at synth: checked at deploy (below)
    with_domain = _settings(domain_name="app.example.com", certificate_arn=EDGE_CONTEXT["certificate_arn"])
    with pytest.raises(ValueError, match="give api_certificate_arn"):
        with_domain.check_region("eu-west-1")
    with_domain.check_region("us-east-1")
    _settings(
        domain_name="app.example.com",
        certificate_arn=EDGE_CONTEXT["certificate_arn"],
        api_certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/abc",
    ).check_region("eu-west-1")


def test_a_region_unknown_at_synth_is_checked_at_deploy() -> None:
    stack = Stack(App(), "Bare")  # environment-agnostic, as `make synth` makes it
    reasons = _settings(waf_enabled=True).us_east_1_requirements()
    require_us_east_1_at_deploy(stack, reasons)
    (rule,) = [r for name, r in Template.from_stack(stack).to_json()["Rules"].items() if "UsEast1" in name]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}
    assert assertion["AssertDescription"].startswith("waf_enabled needs the stack in us-east-1")
    assert require_us_east_1_at_deploy(Stack(App(), "Plain"), _settings().us_east_1_requirements()) is None


def test_the_default_synth_requires_no_region(synth: Synth) -> None:
    assert not [name for name in synth.template.get("Rules", {}) if "UsEast1" in name]
