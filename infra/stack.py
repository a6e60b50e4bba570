"""`PlayoutStack`: one stack composed of one construct per capability."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Aspects, CfnOutput, Stack, Tags, Token
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.api import Api, ApiSettings
from infra.constructs.data import AccessLogBucket, DataStore, media_bucket_name
from infra.constructs.edge import (
    CLOUDFRONT_REGION,
    DEFAULT_WAF_RATE_LIMIT,
    MAX_WAF_RATE_LIMIT,
    MIN_WAF_RATE_LIMIT,
    OriginSecret,
    RateLimitWebAcl,
    require_us_east_1_at_deploy,
)
from infra.constructs.media_jobs import MediaJobs, MediaJobSettings
from infra.constructs.monitoring import Monitoring, MonitoringSettings, RequireLogRetention
from infra.constructs.schedules import StreamSchedules
from infra.constructs.streaming import Streaming, StreamingSettings
from infra.constructs.watchdog import StreamWatchdog
from infra.constructs.web import Web, WebEdge
from infra.constructs.youtube import YouTubeClient, default_secret_name
from infra.openapi_document import openapi_document

REPO_ROOT = Path(__file__).resolve().parent.parent
# One address (what an SNS email subscription takes), not a list: local@domain.tld.
EMAIL_ADDRESS = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;.]+")


_DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_CLOUDFRONT_CERTIFICATE_PREFIX = f"arn:aws:acm:{CLOUDFRONT_REGION}:"


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError(f"expected true or false, got {value!r}")
    return text in ("true", "1", "yes", "on")


@dataclass(frozen=True)
class StageSettings:
    """Validated stage settings, read from CDK context (`-c key=value` or cdk.json)."""

    stage: str = "prod"
    web_dist: Path = REPO_ROOT / "web" / "dist"
    log_retention_name: str = "ONE_MONTH"  # an aws_logs.RetentionDays member name
    storage_quota_bytes: int = 50 * 1024**3
    max_concurrent_streams: int = 2
    api_throttle_rate_limit: int = 50
    api_throttle_burst_limit: int = 100
    extra_cors_origins: tuple[str, ...] = ()
    youtube_client_secret_name: str = ""  # Secrets Manager; default playout/<stage>/youtube-oauth-client
    alarm_email: str | None = None  # every alarm's notifications; none: the alarm topic has no subscriber
    # The app's own domain (CloudFront alias) and its ACM certificate, which CloudFront wants in us-east-1;
    # the API's regional custom domain (same name) uses `api_certificate_arn`, by default the same
    # certificate (right when the stack is in us-east-1; elsewhere give one from the stack's region).
    domain_name: str = ""
    certificate_arn: str = ""
    api_certificate_arn: str = ""
    waf_enabled: bool = False
    waf_rate_limit: int = DEFAULT_WAF_RATE_LIMIT  # requests per 5 minutes per client IP

    @classmethod
    def from_context(cls, scope: Construct) -> StageSettings:
        def get(key: str, default: Any) -> Any:
            value = scope.node.try_get_context(key)
            return default if value is None else value

        defaults = cls()
        stage = str(get("stage", defaults.stage))
        if not stage.isalnum() or not stage.islower() or len(stage) > 12:
            raise ValueError(f"stage must be 1-12 lowercase letters/digits, got {stage!r}")
        alarm_email = str(get("alarm_email", "")).strip() or None
        if alarm_email is not None and (len(alarm_email) > 254 or not EMAIL_ADDRESS.fullmatch(alarm_email)):
            raise ValueError(
                f"alarm_email must be one email address such as ops@example.com, got {alarm_email!r}"
            )
        extra = get("extra_cors_origins", ())
        if isinstance(extra, str):
            extra = [origin for origin in extra.split(",") if origin]
        return cls(
            stage=stage,
            web_dist=Path(get("web_dist", defaults.web_dist)),
            log_retention_name=str(get("log_retention", defaults.log_retention_name)).upper(),
            storage_quota_bytes=int(get("storage_quota_bytes", defaults.storage_quota_bytes)),
            max_concurrent_streams=int(get("max_concurrent_streams", defaults.max_concurrent_streams)),
            api_throttle_rate_limit=int(get("api_throttle_rate_limit", defaults.api_throttle_rate_limit)),
            api_throttle_burst_limit=int(get("api_throttle_burst_limit", defaults.api_throttle_burst_limit)),
            extra_cors_origins=tuple(extra),
            youtube_client_secret_name=str(
                get("youtube_client_secret_name", "") or default_secret_name(stage)
            ),
            alarm_email=alarm_email,
            domain_name=str(get("domain_name", "")).strip().lower(),
            certificate_arn=str(get("certificate_arn", "")).strip(),
            api_certificate_arn=str(get("api_certificate_arn", "")).strip(),
            waf_enabled=_flag(get("waf_enabled", defaults.waf_enabled)),
            waf_rate_limit=int(get("waf_rate_limit", defaults.waf_rate_limit)),
        )

    def __post_init__(self) -> None:
        if bool(self.domain_name) != bool(self.certificate_arn):
            raise ValueError("domain_name and certificate_arn go together: give both, or neither")
        if self.domain_name and not _DOMAIN.fullmatch(self.domain_name):
            raise ValueError(
                f"domain_name must be a DNS name such as app.example.com, got {self.domain_name!r}"
            )
        if self.certificate_arn and not self.certificate_arn.startswith(_CLOUDFRONT_CERTIFICATE_PREFIX):
            raise ValueError(
                "certificate_arn must be an ACM certificate in us-east-1 (CloudFront reads its certificates "
                f"there): arn:aws:acm:us-east-1:<account>:certificate/<id>, got {self.certificate_arn!r}"
            )
        if self.api_certificate_arn and not self.domain_name:
            raise ValueError("api_certificate_arn needs domain_name and certificate_arn")
        if not MIN_WAF_RATE_LIMIT <= self.waf_rate_limit <= MAX_WAF_RATE_LIMIT:
            raise ValueError(
                "waf_rate_limit is requests per 5 minutes per IP, "
                f"{MIN_WAF_RATE_LIMIT}-{MAX_WAF_RATE_LIMIT}, got {self.waf_rate_limit}"
            )

    def us_east_1_requirements(self) -> list[str]:
        """Why this stage must be deployed in us-east-1, if it must: a CloudFront web ACL exists only there,
        and the API's custom domain takes `certificate_arn` (a us-east-1 certificate) only there."""
        reasons = []
        if self.waf_enabled:
            reasons.append(
                "waf_enabled needs the stack in us-east-1, where CloudFront's web ACLs live: deploy it "
                "there, or turn WAF off"
            )
        if self.domain_name and not self.api_certificate_arn:
            reasons.append(
                "outside us-east-1 the API's custom domain needs a certificate for "
                f"{self.domain_name} from the stack's region: give api_certificate_arn"
            )
        return reasons

    def check_region(self, region: str | None) -> None:
        """Refuse a known region that the stage cannot be deployed in (an unknown one is checked at deploy:
        see PlayoutStack)."""
        if region is not None and region != CLOUDFRONT_REGION and self.us_east_1_requirements():
            raise ValueError(f"{self.us_east_1_requirements()[0]} (this stack's region is {region})")

    @property
    def api_certificate(self) -> str:
        return self.api_certificate_arn or self.certificate_arn

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays[self.log_retention_name]


class PlayoutStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StageSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        region = None if Token.is_unresolved(self.region) else self.region
        settings.check_region(region)
        if region is None:
            require_us_east_1_at_deploy(self, settings.us_east_1_requirements())
        Tags.of(self).add("app", "playout")
        Tags.of(self).add("stage", settings.stage)

        access_logs = AccessLogBucket(self, "AccessLogs")
        data = DataStore(self, "Data", stage=settings.stage, access_log_bucket=access_logs.bucket)
        streaming = Streaming(
            self,
            "Streaming",
            repo_root=REPO_ROOT,
            data=data,
            settings=StreamingSettings(log_retention=settings.log_retention),
        )
        origin_secret = OriginSecret(self, "OriginSecret")
        api = Api(
            self,
            "Api",
            repo_root=REPO_ROOT,
            data=data,
            stream_workflow=streaming.state_machine,
            settings=ApiSettings(
                storage_quota_bytes=settings.storage_quota_bytes,
                max_concurrent_streams=settings.max_concurrent_streams,
                throttle_rate_limit=settings.api_throttle_rate_limit,
                throttle_burst_limit=settings.api_throttle_burst_limit,
                log_retention=settings.log_retention,
                domain_name=settings.domain_name,
                certificate_arn=settings.api_certificate,
            ),
            origin_secret=origin_secret.secret,
        )
        streaming.allow_stopping_tasks(api.function)
        # Google's OAuth client: the API (connect, callback, the start's broadcasts), the scheduled start
        # (its broadcasts) and the stream task (a broadcast's thumbnail and its end).
        youtube = YouTubeClient(self, "YouTube", secret_name=settings.youtube_client_secret_name)
        youtube.allow_function(api.function)
        youtube.allow_task(streaming.task_definition)
        media_jobs = MediaJobs(
            self,
            "MediaJobs",
            data=data,
            streaming=streaming,
            settings=MediaJobSettings(
                log_retention=settings.log_retention, storage_quota_bytes=settings.storage_quota_bytes
            ),
        )
        media_jobs.allow_starting_jobs(api.function)
        watchdog = StreamWatchdog(
            self,
            "Watchdog",
            repo_root=REPO_ROOT,
            layer=api.dependencies_layer,
            data=data,
            cluster=streaming.cluster,
            state_machine=streaming.state_machine,
            log_retention=settings.log_retention,
        )
        youtube.allow_function(watchdog.function)  # a run whose task died: its broadcasts are ended there
        schedules = StreamSchedules(
            self,
            "Schedules",
            repo_root=REPO_ROOT,
            layer=api.dependencies_layer,
            data=data,
            state_machine=streaming.state_machine,
            max_concurrent_streams=settings.max_concurrent_streams,
            log_retention=settings.log_retention,
        )
        schedules.allow_scheduling(api.function)
        youtube.allow_function(schedules.function)
        web = Web(
            self,
            "Web",
            api=api,
            media_bucket_name=media_bucket_name(settings.stage),
            web_dist=settings.web_dist,
            access_log_bucket=access_logs.bucket,
            log_retention=settings.log_retention,
            edge=WebEdge(
                origin_verify_value=origin_secret.header_value,
                domain_name=settings.domain_name,
                certificate_arn=settings.certificate_arn,
                web_acl_arn=(
                    RateLimitWebAcl(self, "Waf", rate_limit=settings.waf_rate_limit).arn
                    if settings.waf_enabled
                    else None
                ),
            ),
            openapi_document=openapi_document(REPO_ROOT),
        )
        # No cycle: the distribution depends on the HTTP API resource, not on the Lambda that uses the bucket.
        data.allow_browser_uploads_from([web.origin, *settings.extra_cors_origins])
        # Nor here: Google sends the browser back to <AppUrl>/api/youtube/callback, which sends it to the app.
        api.function.add_environment("APP_ORIGIN", web.origin)
        monitoring = Monitoring(
            self,
            "Monitoring",
            settings=MonitoringSettings(stage=settings.stage, alarm_email=settings.alarm_email),
            http_api=api.http_api,
            functions={
                "Api": api.function,
                "Watchdog": watchdog.function,
                "ScheduledStart": schedules.function,
            },
            stream_workflow=streaming.state_machine,
            media_job_workflow=media_jobs.state_machine,
            image_build=streaming.stream_image.project,
        )
        stream_container = streaming.task_definition.default_container
        assert stream_container is not None
        monitoring.publish_metrics_from(functions=[watchdog.function], containers=[stream_container])
        Aspects.of(self).add(RequireLogRetention())

        CfnOutput(self, "AppUrl", value=web.origin, description="The app (SPA + /api) behind CloudFront")
        CfnOutput(
            self, "ApiUrl", value=api.url, description="The HTTP API's own endpoint (CloudFront fronts it)"
        )
        CfnOutput(self, "UserPoolId", value=api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=api.user_pool_client.user_pool_client_id)
