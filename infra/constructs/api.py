"""The API: Cognito user pool + client, HTTP API with a JWT authorizer, the API Lambda and its layer."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.data import DataStore
from infra.constructs.edge import ORIGIN_SECRET_VARIABLE
from infra.constructs.least_privilege import (
    API_TABLE_ACTIONS,
    allow_decrypting_refresh_tokens,
    allow_encrypting_secrets,
    grant_table_access,
)
from infra.layer_build import LAMBDA_PYTHON_VERSION, WHEEL_PLATFORM
from infra.nag import acknowledge, logical_id
from playout import resources

API_RUNTIME = lambda_.Runtime.PYTHON_3_12
API_ARCHITECTURE = lambda_.Architecture.ARM_64
# The layer holds wheels built for one Python and one platform: a runtime bumped alone fails synth here.
if API_RUNTIME.name != f"python{LAMBDA_PYTHON_VERSION}" or not WHEEL_PLATFORM.endswith("aarch64"):
    raise RuntimeError("API_RUNTIME/API_ARCHITECTURE and infra/layer_build.py disagree")
API_HANDLER = "api.handler.lambda_handler"

PUBLIC_ROUTES = resources.PUBLIC_ROUTES  # local mode's gateway leaves the same routes public
# Public routes CloudFront serves from the site bucket (a file made at synth, infra/openapi_document.py): they
# never reach the API, so an anonymous flood of them invokes no Lambda.
STATIC_PUBLIC_ROUTES = ("/api/openapi.json",)
API_PUBLIC_ROUTES = tuple(path for path in PUBLIC_ROUTES if path not in STATIC_PUBLIC_ROUTES)

# HTTP API ($context variables of API Gateway v2), one JSON object per request.
HTTP_API_ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "routeKey": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
    "sub": "$context.authorizer.claims.sub",
}


@dataclass(frozen=True)
class ApiSettings:
    """Stage-level knobs, from CDK context (see infra/stack.py)."""

    storage_quota_bytes: int
    max_concurrent_streams: int
    throttle_rate_limit: int
    throttle_burst_limit: int
    log_retention: logs.RetentionDays
    # Each public route's own throttle (requests per second, burst), far below the stage's: a client hitting
    # the health check or the OAuth callback cannot spend the authenticated routes' budget.
    public_throttle_rate_limit: int = 5
    public_throttle_burst_limit: int = 10
    # With a domain the execute-api endpoint is disabled and the API answers at a regional custom domain of
    # the same name (infra/constructs/edge.py).
    domain_name: str = ""
    certificate_arn: str = ""


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """`IAccessLogSettings` has no concrete class in the library: a tiny implementation of the protocol."""

    def __init__(self, destination: apigwv2.IAccessLogDestination, log_format: apigw.AccessLogFormat) -> None:
        self._destination = destination
        self._format = log_format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


class Api(Construct):
    """User pool, HTTP API (`/api/*`) and the Powertools Lambda behind it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        repo_root: Path,
        data: DataStore,
        stream_workflow: sfn.IStateMachine,
        settings: ApiSettings,
        origin_secret: secretsmanager.ISecret,
    ) -> None:
        super().__init__(scope, construct_id)
        self._settings = settings
        self.user_pool = self._build_user_pool()
        self.user_pool_client = self._build_user_pool_client()
        self.dependencies_layer = self._build_dependencies_layer(repo_root)
        self.function = self._build_function(repo_root, data, stream_workflow)
        self._grant_function_access(data, stream_workflow)
        self._require_origin_header(origin_secret)
        self.custom_domain = self._build_custom_domain()
        self.http_api = self._build_http_api()
        self.stage = self._build_default_stage()

    @property
    def cognito_endpoint(self) -> str:
        return f"https://cognito-idp.{Aws.REGION}.amazonaws.com/"

    @property
    def api_domain_name(self) -> str:
        """Where CloudFront sends `/api/*`: the custom domain's regional target (reached with the viewer's
        Host), or `<id>.execute-api.<region>.amazonaws.com` without a domain."""
        if self.custom_domain is not None:
            return self.custom_domain.regional_domain_name
        return f"{self.http_api.api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"

    @property
    def forwards_viewer_host(self) -> bool:
        """The custom domain routes by the Host (and SNI) it is called with: the app's own name."""
        return self.custom_domain is not None

    def _require_origin_header(self, origin_secret: secretsmanager.ISecret) -> None:
        """The API Lambda refuses a request without CloudFront's header (functions/api/origin.py)."""
        self.function.add_environment(ORIGIN_SECRET_VARIABLE, origin_secret.secret_arn)
        origin_secret.grant_read(self.function)

    def _build_custom_domain(self) -> apigwv2.DomainName | None:
        if not self._settings.domain_name:
            return None
        return apigwv2.DomainName(
            self,
            "CustomDomain",
            domain_name=self._settings.domain_name,
            certificate=acm.Certificate.from_certificate_arn(
                self, "Certificate", self._settings.certificate_arn
            ),
            endpoint_type=apigwv2.EndpointType.REGIONAL,
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
        )

    def _build_user_pool(self) -> cognito.UserPool:
        password = resources.user_pool_password_policy()
        pool = cognito.UserPool(
            self,
            "UserPool",
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            self_sign_up_enabled=True,
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=password["MinimumLength"],
                require_lowercase=password["RequireLowercase"],
                require_uppercase=password["RequireUppercase"],
                require_digits=password["RequireNumbers"],
                require_symbols=password["RequireSymbols"],
                temp_password_validity=Duration.days(password["TemporaryPasswordValidityDays"]),
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            pool,
            "COG2",
            "MFA is offered (optional TOTP), not required: creators sign themselves up to manage their own "
            "video library; requiring MFA is left as a stage decision (Mfa.REQUIRED) rather than imposed.",
        )
        acknowledge(
            pool,
            "COG8",
            "The Plus feature plan (threat protection) is billed per monthly active user, against a "
            "product whose promise is to cost nothing idle; a 12-character mixed password policy, "
            "verified email, optional TOTP MFA and API throttling cover the risk of a creator's own "
            "video library.",
        )
        return pool

    def _build_user_pool_client(self) -> cognito.UserPoolClient:
        return self.user_pool.add_client(
            "WebClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            prevent_user_existence_errors=True,
            access_token_validity=Duration.minutes(resources.ACCESS_TOKEN_VALIDITY_MINUTES),
            id_token_validity=Duration.minutes(resources.ID_TOKEN_VALIDITY_MINUTES),
            refresh_token_validity=Duration.days(resources.REFRESH_TOKEN_VALIDITY_DAYS),
            enable_token_revocation=True,
        )

    def _build_dependencies_layer(self, repo_root: Path) -> lambda_.LayerVersion:
        return lambda_.LayerVersion(
            self,
            "DependenciesLayer",
            code=lambda_.Code.from_asset(str(repo_root / "build" / "layer")),
            compatible_runtimes=[API_RUNTIME],
            compatible_architectures=[API_ARCHITECTURE],
            description="playout domain package + its dependencies (Linux arm64 wheels)",
        )

    def _build_function(
        self, repo_root: Path, data: DataStore, stream_workflow: sfn.IStateMachine
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self, "FunctionLogs", retention=self._settings.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        return lambda_.Function(
            self,
            "Function",
            runtime=API_RUNTIME,
            architecture=API_ARCHITECTURE,
            code=lambda_.Code.from_asset(str(repo_root / "functions"), exclude=["**/__pycache__", "*.pyc"]),
            handler=API_HANDLER,
            layers=[self.dependencies_layer],
            memory_size=512,
            timeout=Duration.seconds(29),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={
                "TABLE_NAME": data.table.table_name,
                "MEDIA_BUCKET": data.media_bucket.bucket_name,
                "KEY_ID": data.secrets_key.key_id,
                "USER_POOL_ID": self.user_pool.user_pool_id,
                "STATE_MACHINE_ARN": stream_workflow.state_machine_arn,
                "STORAGE_QUOTA_BYTES": str(self._settings.storage_quota_bytes),
                "MAX_CONCURRENT_STREAMS": str(self._settings.max_concurrent_streams),
                "POWERTOOLS_SERVICE_NAME": "playout",
                "LOG_LEVEL": "INFO",
            },
        )

    def _grant_function_access(self, data: DataStore, stream_workflow: sfn.IStateMachine) -> None:
        role = self.function.role
        assert role is not None
        grant_table_access(role, data.table, API_TABLE_ACTIONS)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="MediaObjects",
                actions=[
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=[data.media_bucket.arn_for_objects("*")],
            )
        )
        # Encrypt/Decrypt only (no GenerateDataKey*/ReEncrypt*): secrets are small and encrypted directly. The
        # API writes stream keys but never reads one back: it decrypts YouTube refresh tokens only.
        allow_encrypting_secrets(role, data.secrets_key)
        allow_decrypting_refresh_tokens(role, data.secrets_key)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadUsers",
                actions=["cognito-idp:AdminGetUser"],
                resources=[self.user_pool.user_pool_arn],
            )
        )
        stream_workflow.grant_start_execution(role)
        self._acknowledge_function_findings(data)

    def _acknowledge_function_findings(self, data: DataStore) -> None:
        acknowledge(
            self.function,
            "L1",
            "Python 3.12 is pinned on purpose: the dependency layer is built from cp312 arm64 wheels "
            "(infra/layer_build.py) and local mode is tested against it; 3.12 is supported by Lambda until "
            "2028. Moving runtime means rebuilding the layer for the new ABI in the same change.",
        )
        role = self.function.role
        assert role is not None
        acknowledge(
            role,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "The AWS managed basic execution policy only allows creating log streams and putting log events; "
            "the function logs to its own log group (with retention) declared in this construct.",
        )
        policy = role.node.try_find_child("DefaultPolicy")
        assert policy is not None
        acknowledge(
            policy,
            "IAM5[Resource::*]",
            "Only the X-Ray statement (xray:PutTraceSegments/PutTelemetryRecords) uses '*': X-Ray has no "
            "resource-level permissions. Every other statement names its table, bucket, key, pool or "
            "workflow.",
        )
        acknowledge(
            policy,
            f"IAM5[Resource::<{logical_id(data.media_bucket)}.Arn>/*]",
            "Object-level actions (get/put/delete/abort multipart) on the media bucket's objects: "
            "object keys are created per upload, so they can only be named by a prefix; the bucket is "
            "this app's own.",
        )

    def _build_http_api(self) -> apigwv2.HttpApi:
        api = apigwv2.HttpApi(
            self,
            "HttpApi",
            create_default_stage=False,
            description="Playout API (/api/*)",
            # Only through CloudFront: with a domain, the default endpoint is off (infra/constructs/edge.py).
            disable_execute_api_endpoint=self.custom_domain is not None,
        )
        integration = integrations.HttpLambdaIntegration("Function", self.function)
        authorizer = authorizers.HttpJwtAuthorizer(
            "CognitoJwt",
            jwt_issuer=f"https://cognito-idp.{Aws.REGION}.amazonaws.com/{self.user_pool.user_pool_id}",
            jwt_audience=[self.user_pool_client.user_pool_client_id],
        )
        api.add_routes(
            path="/api/{proxy+}",
            methods=[apigwv2.HttpMethod.ANY],
            integration=integration,
            authorizer=authorizer,
        )
        for path in API_PUBLIC_ROUTES:
            for route in api.add_routes(path=path, methods=[apigwv2.HttpMethod.GET], integration=integration):
                acknowledge(
                    route,
                    "APIG4",
                    f"GET {path} is public by design (the health check, and Google's OAuth redirect, which "
                    "carries no JWT and is verified by its signed, expiring `state`, handled by the API "
                    "Lambda's callback route); each has its own low throttle, and the API refuses requests "
                    "that did not come through CloudFront.",
                )
        return api

    def _build_default_stage(self) -> apigwv2.HttpStage:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=self._settings.log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        stage = self.http_api.add_stage(
            "DefaultStage",
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=self._settings.throttle_rate_limit, burst_limit=self._settings.throttle_burst_limit
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(access_logs),
                apigw.AccessLogFormat.custom(json.dumps(HTTP_API_ACCESS_LOG_FIELDS)),
            ),
            domain_mapping=(
                apigwv2.DomainMappingOptions(domain_name=self.custom_domain)
                if self.custom_domain is not None
                else None
            ),
        )
        # Per-route throttles: the L2 stage sets only the stage-wide default.
        cfn_stage = stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.route_settings = {
            f"GET {path}": {
                "ThrottlingRateLimit": self._settings.public_throttle_rate_limit,
                "ThrottlingBurstLimit": self._settings.public_throttle_burst_limit,
            }
            for path in API_PUBLIC_ROUTES
        }
        return stage

    @property
    def url(self) -> str:
        if self._settings.domain_name:
            return f"https://{self._settings.domain_name}/api"
        return f"https://{self.api_domain_name}/api"
