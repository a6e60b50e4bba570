"""The media job's writes (playout.media_jobs) on moto: each transition conditional on the status and the job,
the storage counter right through a retried job, imports limited per user, thumbnails' URLs stable."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError

from playout.media import conformed_key, get_media, object_key, thumbnail_key
from playout.media_jobs import JobSuperseded, ProgressWriter
from playout.resources import IMMUTABLE_CACHE_CONTROL
from tests.integration.conftest import ApiClient, RecordingLauncher
from tests.integration.helpers import CLIP, STREAM_READY_FACTS, job_steps, upload

BUCKET = "playout-media-test"


def storage_used(client: ApiClient) -> int:
    return int(client.get("/api/me").json()["storage_used_bytes"])


def keys(client: ApiClient, media_id: str) -> set[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"media/{client.user_id}/{media_id}/")
    return {item["Key"] for item in listed.get("Contents", [])}


def put(key: str, size: int) -> None:
    boto3.client("s3").put_object(
        Bucket=BUCKET, Key=key, Body=b"x" * size, CacheControl=IMMUTABLE_CACHE_CONTROL
    )


def test_a_completed_upload_goes_probing_and_launches_one_job_even_when_completed_twice(
    alice: ApiClient, aws_env: RecordingLauncher
) -> None:
    completed = upload(alice, probed=False)
    media_id = completed["media_id"]
    assert (completed["status"], completed["progress_pct"]) == ("probing", None)
    job_id = get_media(str(alice.user_id), media_id).job_id
    assert aws_env.media_jobs == [(media_id, str(alice.user_id), job_id)]

    again = alice.post(f"/api/media/{media_id}/complete", {"parts": [{"part_number": 1, "etag": '"x"'}]})

    assert again.json()["status"] == "probing"
    assert aws_env.media_jobs[-1] == (media_id, str(alice.user_id), job_id)  # the same job: one execution
    assert storage_used(alice) == len(CLIP)


def test_a_conformed_media_plays_its_copy_counts_what_is_stored_and_a_retry_changes_nothing(
    alice: ApiClient,
) -> None:
    user_id = str(alice.user_id)
    media_id = upload(alice, probed=False)["media_id"]
    steps = job_steps()
    media = steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id))
    put(thumbnail_key(user_id, media_id), 300)
    not_ready = STREAM_READY_FACTS.__class__(**{**vars(STREAM_READY_FACTS), "stream_ready": False})
    media = steps.record_facts(media, not_ready, thumbnail_key(user_id, media_id), 300)
    assert storage_used(alice) == len(CLIP) + 300
    media = steps.mark_conforming(media)
    put(conformed_key(user_id, media_id), 5000)

    steps.finish_ready(media, conformed_key(user_id, media_id), 5000, played_s=9.96)

    shown = alice.get(f"/api/media/{media_id}").json()
    assert (shown["status"], shown["stored_bytes"], shown["stream_ready"]) == ("ready", 5300, False)
    assert shown["duration_s"] == 9.96  # the copy's length, its sound cut to its picture (the original: 10)
    assert storage_used(alice) == 5300
    assert keys(alice, media_id) == {conformed_key(user_id, media_id), thumbnail_key(user_id, media_id)}
    assert get_media(user_id, media_id).object_key == conformed_key(user_id, media_id)
    with pytest.raises(JobSuperseded):  # a retried job's step
        steps.finish_ready(media, conformed_key(user_id, media_id), 5000)
    with pytest.raises(JobSuperseded):
        steps.fail(steps.load(user_id, media_id, str(media.job_id)), "late")
    assert storage_used(alice) == 5300


def test_a_rejected_file_fails_with_its_reason_and_its_bytes_leave_the_quota(alice: ApiClient) -> None:
    user_id = str(alice.user_id)
    media_id = upload(alice, probed=False)["media_id"]
    steps = job_steps()
    media = steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id))

    steps.fail(media, "This is not a video or audio file we can read.")

    shown = alice.get(f"/api/media/{media_id}").json()
    assert (shown["status"], shown["error"], shown["stored_bytes"]) == (
        "failed",
        "This is not a video or audio file we can read.",
        0,
    )
    assert storage_used(alice) == 0
    assert keys(alice, media_id) == set()
    assert not steps.fail_if_unfinished(user_id, media_id, str(media.job_id), "again")
    assert storage_used(alice) == 0


def test_a_failed_conform_keeps_the_original_counted_until_its_owner_deletes_it(alice: ApiClient) -> None:
    user_id = str(alice.user_id)
    media_id = upload(alice, probed=False)["media_id"]
    steps = job_steps()
    media = steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id))
    put(thumbnail_key(user_id, media_id), 300)
    not_ready = STREAM_READY_FACTS.__class__(**{**vars(STREAM_READY_FACTS), "stream_ready": False})
    media = steps.mark_conforming(steps.record_facts(media, not_ready, thumbnail_key(user_id, media_id), 300))
    put(conformed_key(user_id, media_id), 777)  # a copy that was uploaded before the job died

    steps.fail(media, "the conform's ffmpeg failed: Invalid data found when processing input")

    shown = alice.get(f"/api/media/{media_id}").json()
    assert (shown["status"], shown["stored_bytes"], shown["progress_pct"]) == (
        "failed",
        len(CLIP) + 300,
        None,
    )
    assert shown["error"].startswith("the conform's ffmpeg failed")
    assert keys(alice, media_id) == {object_key(user_id, media_id), thumbnail_key(user_id, media_id)}
    assert storage_used(alice) == len(CLIP) + 300
    assert alice.delete(f"/api/media/{media_id}").status == 204
    assert storage_used(alice) == 0
    assert keys(alice, media_id) == set()


def test_another_job_cannot_write_and_a_deleted_media_stops_its_job(alice: ApiClient) -> None:
    user_id = str(alice.user_id)
    media_id = upload(alice, probed=False)["media_id"]
    steps = job_steps()
    with pytest.raises(JobSuperseded):
        steps.load(user_id, media_id, "job_other")
    media = steps.mark_conforming(steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id)))

    assert alice.delete(f"/api/media/{media_id}").status == 204

    with pytest.raises(JobSuperseded):
        steps.finish_ready(media, conformed_key(user_id, media_id), 5000)
    with pytest.raises(JobSuperseded):
        ProgressWriter(media, "conforming")(50)
    assert storage_used(alice) == 0


def test_progress_is_written_at_most_once_per_interval(alice: ApiClient) -> None:
    user_id = str(alice.user_id)
    media_id = upload(alice, probed=False)["media_id"]
    steps = job_steps()
    media = steps.mark_conforming(steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id)))
    ticks = itertools.count()
    writer = ProgressWriter(media, "conforming", interval_s=5, clock=lambda: float(next(ticks)))

    for pct in range(0, 40, 4):  # one call a second
        writer(pct)

    assert get_media(user_id, media_id, consistent=True).progress_pct == 20  # written at 0, 5 s (20 %)
    assert alice.get(f"/api/media/{media_id}").json()["progress_pct"] == 20


def test_at_most_two_imports_at_once_and_a_failed_one_frees_its_slot(
    alice: ApiClient, aws_env: RecordingLauncher
) -> None:
    first = alice.post("/api/media/imports", {"url": "https://203.0.114.10/videos/talk.mp4"})
    second = alice.post("/api/media/imports", {"url": "https://203.0.114.10/b.webm"})
    third = alice.post("/api/media/imports", {"url": "https://203.0.114.10/c.mp4"})

    assert (first.status, second.status, third.status) == (202, 202, 429)
    assert (first.json()["status"], first.json()["filename"]) == ("importing", "talk.mp4")
    assert [job[0] for job in aws_env.media_jobs] == [first.json()["media_id"], second.json()["media_id"]]
    user_id = str(alice.user_id)
    media_id = first.json()["media_id"]
    steps = job_steps()
    steps.fail(
        steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id)), "the link answered 404"
    )
    assert alice.post("/api/media/imports", {"url": "https://203.0.114.10/d.mp4"}).status == 202


def test_an_import_that_cannot_be_launched_fails_at_once_and_frees_its_slot(
    alice: ApiClient, aws_env: RecordingLauncher
) -> None:
    aws_env.fail_media_jobs_with = ClientError(
        {"Error": {"Code": "ExecutionLimitExceeded", "Message": "too many executions"}}, "StartExecution"
    )
    refused = [alice.post("/api/media/imports", {"url": f"https://203.0.114.10/{n}.mp4"}) for n in range(3)]

    assert [r.status for r in refused] == [202, 202, 202]
    for response in refused:
        shown = alice.get(f"/api/media/{response.json()['media_id']}").json()
        assert shown["status"] == "failed"
        assert "could not be launched (ExecutionLimitExceeded)" in shown["error"]
    aws_env.fail_media_jobs_with = None
    assert (
        alice.post("/api/media/imports", {"url": "https://203.0.114.10/a.mp4"}).json()["status"]
        == "importing"
    )
    assert (
        alice.post("/api/media/imports", {"url": "https://203.0.114.10/b.mp4"}).json()["status"]
        == "importing"
    )


def test_an_import_settles_to_what_was_fetched_and_goes_probing(alice: ApiClient) -> None:
    created = alice.post("/api/media/imports", {"url": "https://203.0.114.10/talk.mp4"}).json()
    user_id, media_id = str(alice.user_id), created["media_id"]
    steps = job_steps()
    media = steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id))
    put(object_key(user_id, media_id), 4000)

    steps.record_imported(media, 4000, "video/mp4", "talk.mp4")

    shown = alice.get(f"/api/media/{media_id}").json()
    assert (shown["status"], shown["size_bytes"], shown["stored_bytes"]) == ("probing", 4000, 4000)
    assert storage_used(alice) == 4000
    assert alice.post("/api/media/imports", {"url": "https://203.0.114.10/1.mp4"}).status == 202
    assert alice.post("/api/media/imports", {"url": "https://203.0.114.10/2.mp4"}).status == 202


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:8000/a.mp4",
        "ftp://x/y",
    ],
)
def test_an_import_of_a_link_that_is_not_public_http_is_refused_at_once(
    alice: ApiClient, aws_env: RecordingLauncher, url: str
) -> None:
    response = alice.post("/api/media/imports", {"url": url})

    assert response.status == 422, response.text
    assert aws_env.media_jobs == []


def test_the_thumbnail_url_is_the_owners_and_stays_the_same_within_the_day(alice: ApiClient) -> None:
    user_id = str(alice.user_id)
    media_id = upload(alice, probed=False)["media_id"]
    steps = job_steps()
    media = steps.load(user_id, media_id, str(get_media(user_id, media_id).job_id))
    steps.record_facts(media, STREAM_READY_FACTS, thumbnail_key(user_id, media_id), 100)

    first = alice.get(f"/api/media/{media_id}").json()["thumbnail_url"]
    listed = alice.get("/api/media").json()["items"][0]["thumbnail_url"]

    assert first == listed
    query = parse_qs(urlsplit(first).query)
    assert query["X-Amz-Date"][0].endswith("T000000Z")
    assert int(query["X-Amz-Expires"][0]) >= 24 * 3600
    assert urlsplit(first).path.endswith(thumbnail_key(user_id, media_id))
