"""`PlayoutStack`: one stack composed of one construct per capability."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Aspects, CfnOutput, Stack, Tags
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.api import Api, ApiSettings
from infra.constructs.data import AccessLogBucket, DataStore, media_bucket_name
from infra.constructs.media_jobs import MediaJobs, MediaJobSettings
from infra.constructs.monitoring import Monitoring, RequireLogRetention
from infra.constructs.schedules import StreamSchedules
from infra.constructs.streaming import Streaming, StreamingSettings
from infra.constructs.watchdog import StreamWatchdog
from infra.constructs.web import Web
from infra.constructs.youtube import YouTubeClient, default_secret_name

REPO_ROOT = Path(__file__).resolve().parent.parent


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

    @classmethod
    def from_context(cls, scope: Construct) -> StageSettings:
        def get(key: str, default: Any) -> Any:
            value = scope.node.try_get_context(key)
            return default if value is None else value

        defaults = cls()
        stage = str(get("stage", defaults.stage))
        if not stage.isalnum() or not stage.islower() or len(stage) > 12:
            raise ValueError(f"stage must be 1-12 lowercase letters/digits, got {stage!r}")
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
        )

    @property
    def log_retention(self) -> logs.RetentionDays:
        return logs.RetentionDays[self.log_retention_name]


class PlayoutStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StageSettings, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
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
            ),
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
        )
        # No cycle: the distribution depends on the HTTP API resource, not on the Lambda that uses the bucket.
        data.allow_browser_uploads_from([web.origin, *settings.extra_cors_origins])
        # Nor here: Google sends the browser back to <AppUrl>/api/youtube/callback, which sends it to the app.
        api.function.add_environment("APP_ORIGIN", web.origin)
        Monitoring(
            self,
            "Monitoring",
            http_api=api.http_api,
            function=api.function,
            state_machine=streaming.state_machine,
        )
        Aspects.of(self).add(RequireLogRetention())

        CfnOutput(self, "AppUrl", value=web.origin, description="The app (SPA + /api) behind CloudFront")
        CfnOutput(
            self, "ApiUrl", value=api.url, description="The HTTP API's own endpoint (CloudFront fronts it)"
        )
        CfnOutput(self, "UserPoolId", value=api.user_pool.user_pool_id)
        CfnOutput(self, "UserPoolClientId", value=api.user_pool_client.user_pool_client_id)
