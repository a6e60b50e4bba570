"""DynamoDB calls per API route: every route of the OpenAPI document, called once or more as a user's session
calls it, on the real handler (API Gateway payload-2.0 events, as local mode's gateway makes them) against
moto in this process; each DynamoDB operation counted by botocore's `before-call` hook (bench.dynamo_calls).
A route's figure is the most calls any of its requests sent. Baseline, measured the same way in the same run:
`GET /api/media/{media_id}`, a route that is one GetItem.

`python -m bench.api_calls` prints the counts as JSON; bench.__main__ runs it in a process of its own, so
that moto and the settings it needs stay out of the other benchmarks."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.dynamo_calls import SCAN, DynamoCallCounter
from bench.report import Figure

BASELINE_ROUTE = "GET /api/media/{media_id}"
TARGET_CALLS = 2
USER_ID = "11111111-aaaa-4aaa-8aaa-111111111111"
ACCOUNT = "123456789012"
REGION = "us-east-1"
# What the API Lambda is given in AWS (infra/constructs/api.py), with moto's names.
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "TABLE_NAME": "playout-bench",
    "MEDIA_BUCKET": "playout-media-bench",
    "KEY_ID": "alias/playout-bench",
    "STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:playout-streams",
    "MEDIA_JOB_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:playout-media-jobs",
    "CLUSTER_ARN": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/playout-bench",
    "SCHEDULE_GROUP": "playout-bench",
    "SCHEDULED_START_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:playout-scheduled-start",
    "SCHEDULER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/playout-scheduler",
    "ALLOW_LOOPBACK_IMPORTS": "true",  # the import's link need not resolve on this machine
    "APP_ORIGIN": "https://app.bench",
    "YOUTUBE_CLIENT_ID": "bench-client.apps.googleusercontent.com",
    "YOUTUBE_CLIENT_SECRET": "bench-client-secret",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "Playout",
    "POWERTOOLS_SERVICE_NAME": "playout",
    "POWERTOOLS_LOG_LEVEL": "ERROR",
}


@dataclass(frozen=True)
class RouteCalls:
    route: str  # "METHOD /path/{param}" as the OpenAPI document names it
    calls: int  # the most DynamoDB calls one request to it sent
    scans: int
    operations: dict[str, int]  # of that request
    requests: int


def route_calls(counted: Sequence[tuple[str, Counter[str]]]) -> list[RouteCalls]:
    """Per route, the request that sent the most DynamoDB calls, in the order the routes were first called."""
    worst: dict[str, Counter[str]] = {}
    requests: Counter[str] = Counter()
    for route, operations in counted:
        requests[route] += 1
        if route not in worst or operations.total() > worst[route].total():
            worst[route] = operations
    return [
        RouteCalls(route, ops.total(), ops[SCAN], dict(sorted(ops.items())), requests[route])
        for route, ops in worst.items()
    ]


def figures(routes: Sequence[RouteCalls], documented: Sequence[str]) -> list[Figure]:
    by_route = {r.route: r for r in routes}
    missing = sorted(set(documented) - set(by_route))
    if missing:
        raise RuntimeError(f"routes in the OpenAPI document the benchmark did not call: {missing}")
    baseline = by_route[BASELINE_ROUTE].calls
    return [
        Figure(
            measure=f"DynamoDB calls: {r.route}",
            ours=r.calls,
            baseline=baseline,
            unit="calls",
            ratio=r.calls / baseline,
            ratio_of="route/GetItem route",
            target=f"<= {TARGET_CALLS}, 0 Scan",
            met=r.calls <= TARGET_CALLS and r.scans == 0,
            ours_label="route",
            baseline_label="GetItem route",
            details={"operations": r.operations, "scans": r.scans, "requests": r.requests},
        )
        for r in sorted(routes, key=lambda r: r.route.split(" ", 1)[1] + " " + r.route)
    ]


# --- the session driven (in the child process) ---


class _Session:
    """One signed-in user calling the handler as API Gateway does; every request's DynamoDB calls kept."""

    def __init__(self, counter: DynamoCallCounter) -> None:
        self.counted: list[tuple[str, Counter[str]]] = []
        self._counter = counter

    def call(
        self,
        method: str,
        template: str,
        expect: int,
        body: Any = None,
        query: dict[str, str] | None = None,
        signed_in: bool = True,
        **params: str,
    ) -> Any:
        from werkzeug.test import EnvironBuilder

        from api.handler import lambda_handler
        from local.gateway import PROXY_ROUTE_KEY, LambdaContext, http_api_event

        path = template.format(**params)
        request = EnvironBuilder(
            method=method,
            base_url="https://app.bench",
            path=path,
            query_string=query,
            data=json.dumps(body) if body is not None else None,
            content_type="application/json",
        ).get_request()
        claims = {"sub": USER_ID, "email": "bench@example.com", "cognito:username": USER_ID}
        authorizer = {"jwt": {"claims": claims, "scopes": None}} if signed_in else None
        event = http_api_event(
            request, route_key=PROXY_ROUTE_KEY if signed_in else f"GET {path}", authorizer=authorizer
        )
        self._counter.take()  # what the session did between requests is not the route's
        result = lambda_handler(event, LambdaContext(aws_request_id=str(uuid.uuid4())))
        self.counted.append((f"{method} {template}", self._counter.take()))
        if result["statusCode"] != expect:
            raise RuntimeError(f"{method} {path}: {result['statusCode']} {result.get('body')}")
        text = result.get("body") or ""
        return json.loads(text) if text else None


def _create_resources() -> None:
    import boto3

    from local.resources import table_spec

    env = os.environ
    boto3.client("dynamodb").create_table(**table_spec(env["TABLE_NAME"]))
    boto3.client("s3").create_bucket(Bucket=env["MEDIA_BUCKET"])
    kms = boto3.client("kms")
    kms.create_alias(AliasName=env["KEY_ID"], TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    boto3.client("scheduler").create_schedule_group(Name=env["SCHEDULE_GROUP"])
    sfn = boto3.client("stepfunctions")
    role = f"arn:aws:iam::{ACCOUNT}:role/playout-workflow"
    definition = json.dumps({"StartAt": "Run", "States": {"Run": {"Type": "Pass", "End": True}}})
    for arn in (env["STATE_MACHINE_ARN"], env["MEDIA_JOB_STATE_MACHINE_ARN"]):
        sfn.create_state_machine(name=arn.rpartition(":")[2], definition=definition, roleArn=role)


def _ready(media_id: str) -> None:
    """The media job's steps for a file that streams as it is (the job runs in the stream task's image)."""
    from playout import aws
    from playout.media import get_media
    from playout.media_jobs import MediaJobSteps
    from tests.integration.helpers import STREAM_READY_FACTS

    steps = MediaJobSteps(aws.client("s3"), os.environ["MEDIA_BUCKET"], 50 * 1024**3)
    item = get_media(USER_ID, media_id, consistent=True)
    media = steps.load(USER_ID, media_id, str(item.job_id))
    media = steps.record_facts(media, STREAM_READY_FACTS, None, 0)
    steps.finish_ready(media, str(media.object_key), int(media.size_bytes))


def _upload(session: _Session, data: bytes) -> str:
    import requests

    created = session.call(
        "POST",
        "/api/media",
        201,
        {"filename": "clip.mp4", "size_bytes": len(data), "content_type": "video/mp4"},
    )
    media_id = created["media_id"]
    resumed = session.call("GET", "/api/media/{media_id}/upload", 200, media_id=media_id)
    parts = []
    for part in resumed["upload"]["parts"]:
        response = requests.put(part["url"], data=data, timeout=30)
        response.raise_for_status()
        parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
    session.call("POST", "/api/media/{media_id}/complete", 200, {"parts": parts}, media_id=media_id)
    _ready(media_id)
    return str(media_id)


def _drive(session: _Session) -> None:
    """Every route, each at a point of a user's session where it succeeds."""
    session.call("GET", "/api/health", 200, signed_in=False)
    session.call("GET", "/api/me", 200)  # the first visit makes the profile
    session.call("GET", "/api/me", 200)
    clip = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    media_id = _upload(session, clip)
    spare_id = _upload(session, clip)
    unused_id = _upload(session, clip)  # in no stream: deleted at the end
    session.call("POST", "/api/media/imports", 202, {"url": "http://127.0.0.1:9/imported.mp4"})
    session.call("GET", "/api/media", 200)
    session.call("GET", "/api/media/{media_id}", 200, media_id=media_id)
    session.call("GET", "/api/me", 200)  # with storage used and an import under way

    rtmp = {"name": "Studio", "url": "rtmp://ingest.example.com/live", "stream_key": "bench-key"}
    destination_id = session.call("POST", "/api/destinations", 201, rtmp)["destination_id"]
    spare_destination = session.call("POST", "/api/destinations", 201, rtmp)["destination_id"]
    session.call("GET", "/api/destinations", 200)
    session.call("GET", "/api/destinations/{destination_id}", 200, destination_id=destination_id)

    connect = session.call("POST", "/api/youtube/connect", 200)
    state = connect["authorization_url"].split("state=", 1)[1].split("&", 1)[0]
    # Google sends the browser back; the person said no on its consent page: the state is used up.
    session.call(
        "GET",
        "/api/youtube/callback",
        302,
        query={"state": state, "error": "access_denied"},
        signed_in=False,
    )

    mix = {"name": "Mix", "media_ids": [media_id, spare_id], "shuffle": False}
    playlist_id = session.call("POST", "/api/playlists", 201, mix)["playlist_id"]
    session.call("GET", "/api/playlists", 200)
    session.call("GET", "/api/playlists/{playlist_id}", 200, playlist_id=playlist_id)
    reordered = {**mix, "media_ids": [spare_id, media_id, spare_id]}
    session.call("PUT", "/api/playlists/{playlist_id}", 200, reordered, playlist_id=playlist_id)

    spec = {"title": "Bench", "playlist_id": playlist_id, "destination_ids": [destination_id], "loop": True}
    stream_id = session.call("POST", "/api/streams", 201, spec)["stream_id"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat(timespec="seconds")
    scheduled = {"title": "Later", "media_ids": [media_id], "destination_ids": [destination_id]}
    scheduled_id = session.call("POST", "/api/streams", 201, {**scheduled, "scheduled_start": later})[
        "stream_id"
    ]
    session.call("GET", "/api/streams", 200)
    session.call("GET", "/api/streams/{stream_id}", 200, stream_id=stream_id)
    an_hour_on = (datetime.now(UTC) + timedelta(days=1, hours=1)).isoformat(timespec="seconds")
    moved = {"scheduled_start": an_hour_on}
    session.call("PUT", "/api/streams/{stream_id}/schedule", 200, moved, stream_id=scheduled_id)
    session.call("DELETE", "/api/streams/{stream_id}/schedule", 200, stream_id=scheduled_id)
    session.call("POST", "/api/streams/{stream_id}/start", 202, stream_id=stream_id)
    session.call("GET", "/api/me", 200)  # with a stream on air
    session.call("GET", "/api/streams/{stream_id}", 200, stream_id=stream_id)
    session.call("POST", "/api/streams/{stream_id}/stop", 202, stream_id=stream_id)
    session.call("GET", "/api/streams/{stream_id}/events", 200, stream_id=stream_id)
    session.call("DELETE", "/api/streams/{stream_id}", 204, stream_id=scheduled_id)

    session.call("DELETE", "/api/playlists/{playlist_id}", 204, playlist_id=playlist_id)
    session.call("DELETE", "/api/media/{media_id}", 204, media_id=unused_id)
    session.call("DELETE", "/api/destinations/{destination_id}", 204, destination_id=spare_destination)


def documented_routes() -> list[str]:
    from api.handler import app

    paths = app.get_openapi_schema().paths or {}
    methods = ("get", "put", "post", "delete", "patch")
    return sorted(f"{m.upper()} {path}" for path, item in paths.items() for m in methods if getattr(item, m))


def _measure_here(into: Path) -> None:
    os.environ.update(ENVIRONMENT)
    from moto import mock_aws

    counter = DynamoCallCounter()
    with mock_aws(), counter.every_new_session():
        from playout import aws
        from playout.models import bind_table

        aws.reset_clients()  # every client made from here on, on hooked sessions
        bind_table(os.environ["TABLE_NAME"])
        _create_resources()
        session = _Session(counter)
        _drive(session)
    routes = route_calls(session.counted)
    found = {"documented": documented_routes(), "routes": [asdict(r) for r in routes]}
    into.write_text(json.dumps(found))


def measure() -> list[Figure]:
    """Runs the session in a process of its own and reads its counts."""
    import subprocess

    from bench.harness import REPO_ROOT

    with tempfile.TemporaryDirectory(prefix="playout-bench-api-") as scratch:
        into = Path(scratch) / "routes.json"
        done = subprocess.run(
            [sys.executable, "-m", "bench.api_calls", str(into)],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,  # the handler's metrics (EMF) go to standard output
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench.api_calls failed: {done.stderr.strip()[-2000:]}")
        found = json.loads(into.read_text())
    return figures([RouteCalls(**r) for r in found["routes"]], found["documented"])


if __name__ == "__main__":
    _measure_here(Path(sys.argv[1]))
