"""Uploads at any size: each part URL signs its exact length and expires; the declared size is reserved at
create, settled at complete, released when the upload fails, is abandoned or is deleted; the counter stays
right when a delete and a complete race; stored objects are immutable, cached for a year and encrypted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import pytest
import requests
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest

from playout import library
from playout import media as media_domain
from playout.models import Media, utcnow
from playout.resources import IMMUTABLE_CACHE_CONTROL
from tests.integration.conftest import ApiClient
from tests.integration.helpers import CLIP, upload

BUCKET = "playout-media-test"
MIB = 1024**2
QUOTA = 100 * MIB  # STORAGE_QUOTA_BYTES in tests/integration/conftest.py


def create(client: ApiClient, size: int) -> dict[str, Any]:
    response = client.post(
        "/api/media", {"filename": "a.mp4", "size_bytes": size, "content_type": "video/mp4"}
    )
    assert response.status == 201, response.text
    return dict(response.json())


def put_parts(created: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    parts, start = [], 0
    for part in created["upload"]["parts"]:
        chunk = data[start : start + part["size_bytes"]]
        start += len(chunk)
        response = requests.put(part["url"], data=chunk, timeout=10)
        assert response.status_code == 200
        parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
    return parts


def storage_used(client: ApiClient) -> int:
    return int(client.get("/api/me").json()["storage_used_bytes"])


def open_uploads() -> list[str]:
    return [u["Key"] for u in boto3.client("s3").list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])]


def signs_length(url: str, length: int) -> bool:
    """Whether `url`'s SigV4 signature holds for a PUT of `length` bytes (moto checks no signature)."""
    split = urlsplit(url)
    query = parse_qs(split.query, keep_blank_values=True)
    unsigned = [(name, values[0]) for name, values in query.items() if name != "X-Amz-Signature"]
    request = AWSRequest(
        method="PUT",
        url=split._replace(query=urlencode(unsigned)).geturl(),
        headers={"Content-Length": str(length)},
    )
    request.context["timestamp"] = query["X-Amz-Date"][0]
    credentials = boto3.Session().get_credentials()  # moto's, as the API signed with
    auth = S3SigV4QueryAuth(credentials, "s3", "us-east-1", int(query["X-Amz-Expires"][0]))
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return bool(signature == query["X-Amz-Signature"][0])


def test_each_part_url_expires_and_signs_the_exact_length_of_its_part(alice: ApiClient) -> None:
    size = 40 * MIB + 5
    plan = create(alice, size)["upload"]

    assert [(p["part_number"], p["size_bytes"]) for p in plan["parts"]] == [
        (1, 16 * MIB),
        (2, 16 * MIB),
        (3, 8 * MIB + 5),
    ]
    for part in plan["parts"]:
        query = parse_qs(urlsplit(part["url"]).query)
        assert query["X-Amz-Expires"] == ["3600"]
        assert "content-length" in query["X-Amz-SignedHeaders"][0].split(";")
        assert signs_length(part["url"], part["size_bytes"])
        assert not signs_length(part["url"], part["size_bytes"] + 1)
        assert not signs_length(part["url"], 5 * 1024**3)


def test_an_upload_under_way_resumes_with_fresh_urls_and_the_parts_already_stored(
    alice: ApiClient, bob: ApiClient
) -> None:
    """A closed tab, reopened: the page asks what S3 holds and sends only the missing parts."""
    part_size = create(alice, 1)["upload"]["part_size"]
    data = bytes(range(256)) * (part_size // 256) + b"the last part"
    created = create(alice, len(data))
    first, second = created["upload"]["parts"]
    sent = put_parts({"upload": {"parts": [first]}}, data[: first["size_bytes"]])

    resumed = alice.get(f"/api/media/{created['media_id']}/upload")

    assert resumed.status == 200, resumed.text
    body = resumed.json()
    assert [(p["part_number"], p["etag"]) for p in body["uploaded_parts"]] == [(1, sent[0]["etag"])]
    assert [p["part_number"] for p in body["upload"]["parts"]] == [1, 2]
    missing = body["upload"]["parts"][1]
    rest = put_parts({"upload": {"parts": [missing]}}, data[first["size_bytes"] :])
    completed = alice.post(f"/api/media/{created['media_id']}/complete", {"parts": sent + rest})
    assert completed.status == 200, completed.text
    assert alice.get(f"/api/media/{created['media_id']}/upload").status == 409  # no longer uploading
    assert bob.get(f"/api/media/{created['media_id']}/upload").status == 404
    assert (second["part_number"], second["size_bytes"]) == (2, len(b"the last part"))


def test_a_complete_that_leaves_out_repeats_or_invents_parts_is_refused_and_loses_nothing(
    alice: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bytes(range(256)) * (64 * 1024 + 1)  # 16 MiB + 256 bytes: two parts
    created = create(alice, len(data))
    parts = put_parts(created, data)
    assert [p["part_number"] for p in parts] == [1, 2]
    path = f"/api/media/{created['media_id']}"
    sent_to_s3: list[object] = []
    monkeypatch.setattr(media_domain, "_s3", lambda: sent_to_s3.append(1))  # any call to S3 fails the test

    for body, said in [
        ([parts[0]], "parts missing: 2"),
        ([parts[0], parts[1], parts[1]], "parts listed more than once: 2"),
        ([parts[0], parts[1], {"part_number": 3, "etag": '"x"'}], "parts beyond the upload's 2: 3"),
        ([{"part_number": 1, "etag": '"0"'}] * 10_000, "listed more than once: 1; missing: 2"),
    ]:
        refused = alice.post(f"{path}/complete", {"parts": body})
        assert refused.status == 422, refused.text
        message = refused.json()["error"]["message"]
        assert message.startswith("parts must list each of the upload's 2 parts once (numbers 1 to 2)")
        assert said in message
    assert sent_to_s3 == []
    monkeypatch.undo()

    assert alice.get(path).json()["status"] == "uploading"
    done = alice.post(f"{path}/complete", {"parts": parts[::-1]})  # any order: they are sorted for S3
    assert done.status == 200, done.text
    assert (done.json()["status"], storage_used(alice)) == ("probing", len(data))


def test_an_upload_over_50_gb_is_refused(alice: ApiClient) -> None:
    body = {"filename": "a.mp4", "size_bytes": 50 * 1024**3 + 1, "content_type": "video/mp4"}
    assert alice.post("/api/media", body).status == 422


@pytest.mark.parametrize(
    "content_type", ["", "application/octet-stream", "video/x-matroska", "application/pdf"]
)
def test_any_type_the_browser_reports_is_taken_since_the_media_job_reads_the_file(
    alice: ApiClient, content_type: str
) -> None:
    body = {"filename": "show.mkv", "size_bytes": 1000, "content_type": content_type}
    created = alice.post("/api/media", body)

    assert created.status == 201, created.text
    shown = alice.get(f"/api/media/{created.json()['media_id']}").json()
    assert shown["content_type"] == (content_type or "application/octet-stream")


def test_an_empty_file_or_a_malformed_type_is_refused_in_plain_words(alice: ApiClient) -> None:
    empty = alice.post("/api/media", {"filename": "a.mp4", "size_bytes": 0, "content_type": "video/mp4"})
    assert empty.status == 422
    assert "the file is empty (0 bytes)" in empty.json()["error"]["message"]
    odd = alice.post("/api/media", {"filename": "a.mp4", "size_bytes": 10, "content_type": "video mp4"})
    assert odd.status == 422


def test_the_declared_size_is_reserved_at_create_and_settled_at_complete(alice: ApiClient) -> None:
    created = create(alice, len(CLIP))
    assert storage_used(alice) == len(CLIP)

    completed = alice.post(f"/api/media/{created['media_id']}/complete", {"parts": put_parts(created, CLIP)})

    assert (completed.json()["status"], completed.json()["stored_bytes"]) == ("probing", len(CLIP))
    assert storage_used(alice) == len(CLIP)


def test_uploads_in_flight_count_against_the_quota(alice: ApiClient) -> None:
    create(alice, 60 * MIB)

    refused = alice.post(
        "/api/media", {"filename": "b.mp4", "size_bytes": 41 * MIB, "content_type": "video/mp4"}
    )

    assert refused.status == 413
    assert storage_used(alice) == 60 * MIB
    assert len(alice.get("/api/media").json()["items"]) == 1
    assert len(open_uploads()) == 1  # the refused one's multipart upload was aborted


def test_a_failed_upload_releases_its_reservation(alice: ApiClient) -> None:
    created = create(alice, len(CLIP) + 10)

    media = alice.post(
        f"/api/media/{created['media_id']}/complete", {"parts": put_parts(created, CLIP)}
    ).json()

    assert media["status"] == "failed"
    assert storage_used(alice) == 0


def test_deleting_an_upload_in_flight_aborts_it_and_releases_its_reservation(alice: ApiClient) -> None:
    created = create(alice, 20 * MIB)

    assert alice.delete(f"/api/media/{created['media_id']}").status == 204

    assert storage_used(alice) == 0
    assert open_uploads() == []


def test_an_abandoned_upload_is_aborted_failed_and_released_when_its_owner_comes_back(
    alice: ApiClient,
) -> None:
    user_id = str(alice.user_id)
    started = utcnow()
    abandoned = media_domain.create_upload(user_id, "gone.mp4", 30 * MIB, "video/mp4", now=started)
    finished = create(alice, len(CLIP))
    alice.post(f"/api/media/{finished['media_id']}/complete", {"parts": put_parts(finished, CLIP)})

    media_domain.list_media(user_id, 25, None, now=started + timedelta(minutes=90))
    assert storage_used(alice) == 30 * MIB + len(CLIP)  # part URLs expired an hour in: still time to complete

    media_domain.list_media(user_id, 25, None, now=started + timedelta(hours=2, minutes=1))

    gone = alice.get(f"/api/media/{abandoned.media.media_id}").json()
    assert (gone["status"], gone["error"]) == (
        "failed",
        "the upload was not completed in time; upload the file again",
    )
    assert alice.get(f"/api/media/{finished['media_id']}").json()["status"] == "probing"
    assert storage_used(alice) == len(CLIP)
    assert open_uploads() == []


def test_stored_objects_are_immutable_cached_for_a_year_and_encrypted(alice: ApiClient) -> None:
    boto3.client("s3").put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    media = upload(alice)

    stored = boto3.client("s3").head_object(
        Bucket=BUCKET, Key=f"media/{alice.user_id}/{media['media_id']}/source"
    )

    assert stored["CacheControl"] == IMMUTABLE_CACHE_CONTROL == "public, max-age=31536000, immutable"
    assert stored["ServerSideEncryption"] == "AES256"


# --- a delete and a complete, racing ---


@pytest.fixture
def stale_read(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[], Any], Callable[[], Any]], Any]:
    """Runs `first` in a thread that stops right after its first read of a media item, runs `second` to its
    end, then lets `first` go on from what it read: the interleaving that left the counter wrong.

    (A complete that goes on after a delete cannot be raced here: moto answers its CompleteMultipartUpload
    of an aborted upload with a KeyError where S3 answers NoSuchUpload.)"""
    paused, resume = threading.Event(), threading.Event()
    racer: list[threading.Thread] = []

    def pausing(read: Callable[..., Any]) -> Callable[..., Any]:
        def read_then_pause(*args: Any, **kwargs: Any) -> Any:
            item = read(*args, **kwargs)
            if racer and threading.current_thread() is racer[0] and not paused.is_set():
                paused.set()
                resume.wait(timeout=30)
            return item

        return read_then_pause

    # A complete reads its media by GetItem; a delete, with what refers to it, by one Query.
    monkeypatch.setattr(Media, "get", pausing(Media.get))
    monkeypatch.setattr(library, "read_range", pausing(library.read_range))

    def race(first: Callable[[], Any], second: Callable[[], Any]) -> Any:
        results: list[Any] = []
        racer.append(threading.Thread(target=lambda: results.append(first())))
        racer[0].start()
        assert paused.wait(timeout=30)
        second()
        resume.set()
        racer[0].join(timeout=30)
        return results[0]

    return race


def race_delete_with_complete(alice: ApiClient, race: Any, declared: int) -> tuple[Any, Any]:
    created = create(alice, declared)
    parts = put_parts(created, CLIP)
    path = f"/api/media/{created['media_id']}"
    deleted = race(lambda: alice.delete(path), lambda: alice.post(f"{path}/complete", {"parts": parts}))
    return deleted, alice.get(path)


def test_a_delete_from_a_read_before_the_complete_gives_back_what_the_complete_counted(
    alice: ApiClient, stale_read: Any
) -> None:
    deleted, after = race_delete_with_complete(alice, stale_read, declared=len(CLIP))

    assert deleted.status == 204
    assert after.status == 404
    assert storage_used(alice) == 0


def test_a_delete_from_a_read_before_a_failed_complete_gives_back_nothing_twice(
    alice: ApiClient, stale_read: Any
) -> None:
    deleted, after = race_delete_with_complete(alice, stale_read, declared=len(CLIP) + 10)

    assert deleted.status == 204
    assert after.status == 404
    assert storage_used(alice) == 0
