"""What API tests build on: media, destinations and playlists made the way a user makes them, a record
of the DynamoDB requests a call sends, and local mode's S3 server on its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from pynamodb.connection import Connection

from local.moto_server import serve_moto
from local.runtime import DUMMY_CREDENTIALS
from playout import aws
from playout.ids import new_id
from playout.media import READY, get_media
from playout.media_jobs import Facts, MediaJobSteps
from playout.models import MEDIA_PREFIX, Media, user_pk
from tests.integration.conftest import ApiClient

CLIP = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


def upload(client: ApiClient, data: bytes = CLIP, filename: str = "clip.mp4", probed: bool = True) -> dict:
    """Uploads `data` as a user does; `probed`: then records what the media job finds in a stream-ready file
    (these tests' bytes are not a real video: tests/e2e runs the job itself)."""
    completed = upload_only(client, data, filename)
    if not probed:
        return completed
    finish_as_stream_ready(client, completed["media_id"])
    response = client.get(f"/api/media/{completed['media_id']}")
    assert response.status == 200, response.text
    return response.json()


def job_steps() -> MediaJobSteps:
    return MediaJobSteps(aws.client("s3"), os.environ["MEDIA_BUCKET"], int(os.environ["STORAGE_QUOTA_BYTES"]))


STREAM_READY_FACTS = Facts(
    duration_s=10.0,
    container="mov,mp4,m4a,3gp,3g2,mj2",
    bitrate_bps=2_000_000,
    stream_ready=True,
    video={"codec": "h264", "width": 1280, "height": 720, "fps": 30.0},
    audio={"codec": "aac", "sample_rate": 48000, "channels": 2},
)


def finish_as_stream_ready(client: ApiClient, media_id: str, thumbnail_bytes: int = 0) -> None:
    """The media job's steps for a file that streams as it is: facts, then ready on the original."""
    steps = job_steps()
    item = get_media(str(client.user_id), media_id, consistent=True)
    media = steps.load(str(client.user_id), media_id, str(item.job_id))
    media = steps.record_facts(media, STREAM_READY_FACTS, None, thumbnail_bytes)
    steps.finish_ready(media, str(media.object_key), int(media.size_bytes))


def upload_only(client: ApiClient, data: bytes = CLIP, filename: str = "clip.mp4") -> dict:
    created = client.post(
        "/api/media", {"filename": filename, "size_bytes": len(data), "content_type": "video/mp4"}
    )
    assert created.status == 201, created.text
    upload = created.json()["upload"]
    parts = []
    for part in upload["parts"]:
        start = (part["part_number"] - 1) * upload["part_size"]
        response = requests.put(part["url"], data=data[start : start + upload["part_size"]], timeout=10)
        assert response.status_code == 200
        parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
    completed = client.post(f"/api/media/{created.json()['media_id']}/complete", {"parts": parts})
    assert completed.status == 200, completed.text
    return completed.json()


def destination(client: ApiClient, key: str = "live-key-123") -> dict:
    response = client.post(
        "/api/destinations", {"name": "Studio", "url": "rtmp://ingest.example.com/live", "stream_key": key}
    )
    assert response.status == 201, response.text
    return response.json()


def probed_media(
    client: ApiClient, count: int, duration_s: float | None = None, status: str = READY
) -> list[str]:
    """`count` media items as the upload and the probe leave them, written in one batch (no S3 object)."""
    ids = [new_id("med") for _ in range(count)]
    with Media.batch_write() as batch:
        for media_id in ids:
            batch.save(
                Media(
                    user_pk(str(client.user_id)),
                    MEDIA_PREFIX + media_id,
                    media_id=media_id,
                    filename=f"{media_id}.mp4",
                    content_type="video/mp4",
                    size_bytes=1000,
                    status=status,
                    object_key=f"media/{client.user_id}/{media_id}/source",
                    duration_s=duration_s,
                )
            )
    return ids


def set_duration(client: ApiClient, media_id: str, duration_s: float) -> None:
    """What the probe records once it has measured a file."""
    Media(user_pk(str(client.user_id)), MEDIA_PREFIX + media_id).update(
        actions=[Media.duration_s.set(duration_s)]
    )


def playlist(client: ApiClient, media_ids: list[str], name: str = "Mix", shuffle: bool = False) -> dict:
    response = client.post("/api/playlists", {"name": name, "media_ids": media_ids, "shuffle": shuffle})
    assert response.status == 201, response.text
    return response.json()


@dataclass
class DynamoCalls:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def named(self, operation: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == operation]

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def reads_of(self, sort_key: str) -> int:
        """How many calls read the item with `sort_key`: alone (GetItem) or with others (TransactGetItems)."""
        alone = [c["Key"] for c in self.named("GetItem")]
        among = [i["Get"]["Key"] for c in self.named("TransactGetItems") for i in c["TransactItems"]]
        return sum(key["sk"] == {"S": sort_key} for key in alone + among)


@contextmanager
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoCalls]:
    """Every request pynamodb sends to DynamoDB while the block runs, in order."""
    recorded = DynamoCalls()
    dispatch = Connection.dispatch

    def recording(self: Connection, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        recorded.calls.append((operation, kwargs))
        return dispatch(self, operation, kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Connection, "dispatch", recording)
        yield recorded


@contextmanager
def local_mode_s3() -> Iterator[Any]:
    """An S3 client of local mode's S3 server (local.moto_server), served until the block ends, with the
    credentials local mode gives its clients (the server checks presigned URLs by them)."""
    server = serve_moto("127.0.0.1", {LOCAL_CREDENTIALS[0]: LOCAL_CREDENTIALS[1]})
    try:
        yield local_s3_client(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()


LOCAL_CREDENTIALS = (DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"], DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


def local_s3_client(endpoint_url: str, credentials: tuple[str, str] = LOCAL_CREDENTIALS) -> Any:
    """An S3 client as local mode's own (SigV4, path-style), signing with `credentials`."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
