"""The web front door: SPA bucket + CloudFront (OAC, security headers, `/api/*` to the HTTP API).

The SPA build (`web/dist`) is deployed only when it exists at synth time: a fresh checkout (and the infra
tests, which pass their own tiny dist through the `web_dist` context) still synthesizes; `config.json` is
always deployed because it carries the stack's own outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Annotations, Aws, Duration, RemovalPolicy
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.constructs.api import STATIC_PUBLIC_ROUTES, Api
from infra.constructs.edge import ORIGIN_VERIFY_HEADER, waf_monthly_usd
from infra.nag import acknowledge, logical_id
from playout import resources

NO_CACHE = "no-cache"
SPA_ENTRY = "index.html"
RUNTIME_CONFIG = "config.json"
OPENAPI_DOCUMENT = "api/openapi.json"  # the site bucket's key for STATIC_PUBLIC_ROUTES' document
HASHED_ASSETS_DIR = "assets"

SPA_ROUTER_JS = f"""function handler(event) {{
  var request = event.request;
  var lastSegment = request.uri.substring(request.uri.lastIndexOf('/') + 1);
  if (lastSegment.indexOf('.') === -1) {{
    request.uri = '/{SPA_ENTRY}';
  }}
  return request;
}}
"""


@dataclass(frozen=True)
class WebEdge:
    """The distribution's name, certificate and web ACL (all optional), and the origin-verify header's value
    (a dynamic reference to the secret, never the value)."""

    origin_verify_value: str
    domain_name: str = ""
    certificate_arn: str = ""
    web_acl_arn: str | None = None


class Web(Construct):
    """Private SPA bucket behind a CloudFront distribution that also fronts the API under `/api/*`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api: Api,
        media_bucket_name: str,
        web_dist: Path,
        access_log_bucket: s3.IBucket,
        log_retention: logs.RetentionDays,
        edge: WebEdge,
        openapi_document: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._log_retention = log_retention
        self._edge = edge
        self.site_bucket = self._build_site_bucket(access_log_bucket)
        self.security_headers = self._build_security_headers(media_bucket_name)
        self.distribution = self._build_distribution(api, access_log_bucket)
        self._deployment_logs = logs.LogGroup(
            self, "DeploymentLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self._deploy_site(api, web_dist, openapi_document)

    @property
    def origin(self) -> str:
        if self._edge.domain_name:
            return f"https://{self._edge.domain_name}"
        return f"https://{self.distribution.distribution_domain_name}"

    def _build_site_bucket(self, access_log_bucket: s3.IBucket) -> s3.Bucket:
        return s3.Bucket(
            self,
            "SiteBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_log_bucket,
            server_access_logs_prefix="site/",
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=False,
        )

    def _build_security_headers(self, media_bucket_name: str) -> cloudfront.ResponseHeadersPolicy:
        cognito = f"https://cognito-idp.{Aws.REGION}.amazonaws.com"
        # Presigned URLs (uploads, thumbnails, previews) address the media bucket virtual-host style.
        media_hosts = f"https://{media_bucket_name}.s3.amazonaws.com https://{media_bucket_name}.s3.{Aws.REGION}.amazonaws.com"
        content_security_policy = resources.spa_content_security_policy(media_hosts, cognito)
        return cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="Playout SPA security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365),
                    include_subdomains=True,
                    preload=False,
                    override=True,
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
            ),
        )

    def _build_distribution(self, api: Api, access_log_bucket: s3.IBucket) -> cloudfront.Distribution:
        edge = self._edge
        api_origin = origins.HttpOrigin(
            api.api_domain_name,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            custom_headers={ORIGIN_VERIFY_HEADER: edge.origin_verify_value},
        )
        site_origin = origins.S3BucketOrigin.with_origin_access_control(self.site_bucket)
        # The API's custom domain routes by the Host it is called with (the app's own name): forward it.
        api_request_policy = (
            cloudfront.OriginRequestPolicy.ALL_VIEWER
            if api.forwards_viewer_host
            else cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER
        )
        static_api_files = {
            path: cloudfront.BehaviorOptions(
                origin=site_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.security_headers,
                compress=True,
            )
            for path in STATIC_PUBLIC_ROUTES
        }
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Playout: SPA and /api",
            domain_names=[edge.domain_name] if edge.domain_name else None,
            certificate=(
                acm.Certificate.from_certificate_arn(self, "Certificate", edge.certificate_arn)
                if edge.certificate_arn
                else None
            ),
            web_acl_id=edge.web_acl_arn,
            default_root_object=SPA_ENTRY,
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=access_log_bucket,
            log_file_prefix="cloudfront/",
            default_behavior=cloudfront.BehaviorOptions(
                origin=site_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.security_headers,
                compress=True,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=self._build_spa_router(),
                        event_type=cloudfront.FunctionEventType.VIEWER_REQUEST,
                    )
                ],
            ),
            # Behaviors match in this order: the static API files before `/api/*`.
            additional_behaviors={
                **static_api_files,
                "/api/*": cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=api_request_policy,
                    response_headers_policy=self.security_headers,
                    compress=True,
                ),
            },
            # No distribution-wide error responses (403/404 -> index.html): they would also rewrite the API's
            # JSON 404s under /api/*. The SPA fallback is the viewer-request function of the default behavior.
        )
        acknowledge(
            distribution,
            "CFR1",
            "Creators stream to YouTube from anywhere; there is no market or licensing reason to geo-block "
            "the control plane.",
        )
        if edge.web_acl_arn is None:
            acknowledge(
                distribution,
                "CFR2",
                f"WAF is off by context (waf_enabled, default off: ${waf_monthly_usd(0):.0f} a month fixed "
                "against an app that should cost nothing idle). Without it the API still requires Cognito "
                "JWTs on all but two read-only routes, each public route has its own low throttle, the "
                "OpenAPI document is a static file, and the API refuses requests that did not pass "
                "CloudFront.",
            )
        if not edge.domain_name:
            acknowledge(
                distribution,
                "CFR4",
                "Without a custom domain (context domain_name + certificate_arn) the distribution serves the "
                "default *.cloudfront.net certificate, whose security policy CloudFront fixes; "
                "minimum_protocol_version (TLSv1.2_2021) takes effect with a domain and its certificate.",
            )
        return distribution

    def _build_spa_router(self) -> cloudfront.Function:
        """Client-side routes (a last path segment without a dot) are served `index.html`."""
        return cloudfront.Function(
            self,
            "SpaRouter",
            comment="Serve index.html for client-side routes of the SPA",
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            code=cloudfront.FunctionCode.from_inline(SPA_ROUTER_JS),
        )

    def _deploy_site(self, api: Api, web_dist: Path, openapi_document: str) -> None:
        runtime_config = s3deploy.Source.json_data(
            RUNTIME_CONFIG,
            {
                "apiUrl": "/api",
                "region": Aws.REGION,
                "userPoolId": api.user_pool.user_pool_id,
                "userPoolClientId": api.user_pool_client.user_pool_client_id,
                "cognitoEndpoint": api.cognito_endpoint,
            },
        )
        entry_sources = [runtime_config, s3deploy.Source.data(OPENAPI_DOCUMENT, openapi_document)]
        hashed_assets = web_dist / HASHED_ASSETS_DIR
        if (web_dist / SPA_ENTRY).is_file():
            entry_sources.append(
                s3deploy.Source.asset(str(web_dist), exclude=[HASHED_ASSETS_DIR, f"{HASHED_ASSETS_DIR}/**"])
            )
        else:
            Annotations.of(self).add_info(
                f"{web_dist / SPA_ENTRY} not found: only {RUNTIME_CONFIG} is deployed"
            )

        assets_deployment = None
        if hashed_assets.is_dir():
            assets_deployment = s3deploy.BucketDeployment(
                self,
                "DeployHashedAssets",
                sources=[s3deploy.Source.asset(str(hashed_assets))],
                destination_bucket=self.site_bucket,
                destination_key_prefix=f"{HASHED_ASSETS_DIR}/",
                cache_control=[s3deploy.CacheControl.from_string(resources.IMMUTABLE_CACHE_CONTROL)],
                prune=False,  # pages still open reference the previous build's assets
                log_group=self._deployment_logs,
                memory_limit=512,
            )
        entry_deployment = s3deploy.BucketDeployment(
            self,
            "DeployEntryPoints",
            sources=entry_sources,
            destination_bucket=self.site_bucket,
            cache_control=[s3deploy.CacheControl.from_string(NO_CACHE)],
            prune=False,
            log_group=self._deployment_logs,
            memory_limit=512,
        )
        if assets_deployment is not None:
            # index.html must never reference assets that are not uploaded yet.
            entry_deployment.node.add_dependency(assets_deployment)
        self._acknowledge_deployment_findings(entry_deployment)

    def _acknowledge_deployment_findings(self, deployment: s3deploy.BucketDeployment) -> None:
        """The deployments share one CDK-provided singleton handler; its findings are the library's design."""
        role = deployment.handler_role
        handler = role.node.scope
        assert handler is not None
        acknowledge(
            handler,
            "L1",
            "The BucketDeployment handler is provided and versioned by aws-cdk-lib (runtime chosen by the "
            "library); it runs only at deploy time.",
        )
        acknowledge(
            role,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's BucketDeployment handler role: the managed policy only allows writing its own logs.",
        )
        policy = role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        site_objects = f"<{logical_id(self.site_bucket)}.Arn>/*"
        staging_objects = "arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*"
        for finding in (
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Action::s3:DeleteObject*",
            "Action::s3:Abort*",
            f"Resource::{site_objects}",
            f"Resource::{staging_objects}",
        ):
            acknowledge(
                policy,
                f"IAM5[{finding}]",
                "Generated by aws-cdk-lib's BucketDeployment grants: read from the CDK asset staging bucket "
                "and write/prune the SPA bucket only, at deploy time; both buckets are named, only keys "
                "vary.",
            )
