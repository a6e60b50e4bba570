"""Local mode's S3 (local.moto_server) checks a presigned URL and answers CORS as S3 does.

A presigned URL is refused (403) for a request it was not signed for: a part PUT of another length than the
content-length its URL signs (the API's part URLs sign it, so that no part holds more than was declared),
another method, key or query, an expired URL, an unknown key. moto took all of them. The bucket's CORS rule
(the media bucket's, from playout.resources) grants a preflight and exposes the ETag to the app's origin
only, as S3 does; moto granted any method and, through flask-cors, let every origin read every answer."""

from __future__ import annotations

import hashlib
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import botocore.auth
import pytest
import requests

from playout import resources
from tests.integration.helpers import local_mode_s3, local_s3_client

BUCKET = "local-s3-presigned"
BARE_BUCKET = "local-s3-without-cors"
APP_ORIGIN = "http://127.0.0.1:8080"
OTHER_ORIGIN = "http://localhost:8080"
PART = random.Random(5).randbytes(256 * 1024)
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with local_mode_s3() as client:
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_cors(
            Bucket=BUCKET, CORSConfiguration={"CORSRules": resources.media_bucket_cors_rules([APP_ORIGIN])}
        )
        client.create_bucket(Bucket=BARE_BUCKET)
        yield client


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def part_url(s3: Any, key: str, upload_id: str, length: int, part_number: int = 1) -> str:
    """A part URL signed as the API signs it (playout.media._presign_part): its content-length included."""
    return str(
        s3.generate_presigned_url(
            "upload_part",
            Params={
                "Bucket": BUCKET,
                "Key": key,
                "UploadId": upload_id,
                "PartNumber": part_number,
                "ContentLength": length,
            },
            ExpiresIn=3600,
        )
    )


def new_upload(s3: Any, key: str) -> str:
    return str(s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="video/mp4")["UploadId"])


def error_of(response: requests.Response) -> dict[str, str]:
    """The fields of S3's XML error body."""
    return {child.tag: child.text or "" for child in ET.fromstring(response.content)}  # noqa: S314


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True)) | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def uploaded_parts(s3: Any, key: str, upload_id: str) -> list[int]:
    return [
        part["PartNumber"]
        for part in s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id).get("Parts", [])
    ]


# --- presigned URLs ---


@pytest.mark.parametrize("sent", [len(PART) + 1, len(PART) - 1], ids=["one byte more", "one byte less"])
def test_a_part_put_of_another_length_than_its_url_signs_is_refused(s3: Any, sent: int) -> None:
    key = f"media/length-{sent}"
    upload_id = new_upload(s3, key)
    url = part_url(s3, key, upload_id, len(PART))
    body = (PART * 2)[:sent]

    refused = requests.put(url, data=body, headers={"Content-Type": "video/mp4"}, timeout=30)

    assert refused.status_code == 403
    assert error_of(refused)["Code"] == "SignatureDoesNotMatch"
    assert "ETag" not in refused.headers
    assert uploaded_parts(s3, key, upload_id) == []  # nothing stored
    taken = requests.put(url, data=PART, headers={"Content-Type": "video/mp4"}, timeout=30)
    assert (taken.status_code, taken.headers["ETag"]) == (200, f'"{md5_hex(PART)}"')
    assert uploaded_parts(s3, key, upload_id) == [1]


def test_a_presigned_url_is_refused_for_any_other_request(s3: Any) -> None:
    key = "media/other-requests"
    upload_id = new_upload(s3, key)
    url = part_url(s3, key, upload_id, len(PART))
    other_key = url.replace(f"/{BUCKET}/{key}?", f"/{BUCKET}/{key}-other?")

    attempts = {
        "GET": requests.get(url, timeout=30),
        "another key": requests.put(other_key, data=PART, timeout=30),
        "another part number": requests.put(with_query(url, partNumber="2"), data=PART, timeout=30),
        "a forged signature": requests.put(
            with_query(url, **{"X-Amz-Signature": "0" * 64}), data=PART, timeout=30
        ),
    }

    assert {name: (r.status_code, error_of(r)["Code"]) for name, r in attempts.items()} == dict.fromkeys(
        attempts, (403, "SignatureDoesNotMatch")
    )
    assert uploaded_parts(s3, key, upload_id) == []


def test_an_expired_presigned_url_is_refused(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    s3.put_object(Bucket=BUCKET, Key="media/expired", Body=b"old")
    signed_at = datetime.now(UTC) - timedelta(hours=2)
    with monkeypatch.context() as patch:
        patch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at.replace(tzinfo=None))
        expired = s3.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "media/expired"}, ExpiresIn=3600
        )
        # signed two hours ago for three: still valid, as the thumbnails' day-long URLs are
        valid = s3.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "media/expired"}, ExpiresIn=3 * 3600
        )

    refused = requests.get(expired, timeout=30)

    assert refused.status_code == 403
    error = error_of(refused)
    assert (error["Code"], error["Message"], error["X-Amz-Expires"]) == (
        "AccessDenied",
        "Request has expired",
        "3600",
    )
    assert requests.get(valid, timeout=30).content == b"old"


def test_a_url_signed_with_a_key_s3_does_not_know_or_for_over_a_week_is_refused(s3: Any) -> None:
    s3.put_object(Bucket=BUCKET, Key="media/keys", Body=b"k")
    stranger = local_s3_client(s3.meta.endpoint_url, ("stranger", "secret"))
    unknown = stranger.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "media/keys"})
    too_long = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "media/keys"}, ExpiresIn=7 * 24 * 3600 + 1
    )

    by_stranger = requests.get(unknown, timeout=30)
    over_a_week = requests.get(too_long, timeout=30)

    assert (by_stranger.status_code, error_of(by_stranger)["Code"]) == (403, "InvalidAccessKeyId")
    assert (over_a_week.status_code, error_of(over_a_week)["Code"]) == (
        400,
        "AuthorizationQueryParametersError",
    )


# --- CORS ---


def test_a_preflight_of_a_part_put_from_the_apps_origin_is_granted_as_s3_grants_it(s3: Any) -> None:
    key = "media/preflight"
    url = part_url(s3, key, new_upload(s3, key), len(PART))

    response = requests.options(
        url,
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Content-Type",  # a File slice typed video/mp4
        },
        timeout=30,
    )

    assert response.status_code == 200
    cors = {
        name: value for name, value in response.headers.items() if name.lower().startswith("access-control-")
    }
    assert cors == {
        "Access-Control-Allow-Origin": APP_ORIGIN,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "PUT, GET, HEAD",
        "Access-Control-Allow-Headers": "content-type",
        "Access-Control-Expose-Headers": "ETag",
        "Access-Control-Max-Age": str(resources.MEDIA_BUCKET_CORS_MAX_AGE_S),
    }
    assert response.headers["Vary"] == VARY


@pytest.mark.parametrize(
    ("bucket", "headers", "status", "code"),
    [
        (BUCKET, {"Origin": OTHER_ORIGIN, "Access-Control-Request-Method": "PUT"}, 403, "AccessForbidden"),
        (BUCKET, {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "DELETE"}, 403, "AccessForbidden"),
        (BUCKET, {"Access-Control-Request-Method": "PUT"}, 400, "BadRequest"),
        (BARE_BUCKET, {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "PUT"}, 403, "AccessForbidden"),
    ],
    ids=["another origin", "a method the rule does not allow", "no origin", "a bucket without CORS"],
)
def test_a_preflight_s3_refuses_is_refused_without_a_cors_header(
    s3: Any, bucket: str, headers: dict[str, str], status: int, code: str
) -> None:
    response = requests.options(f"{s3.meta.endpoint_url}/{bucket}/media/any", headers=headers, timeout=30)

    assert (response.status_code, error_of(response)["Code"]) == (status, code)
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_an_answer_carries_cors_headers_for_the_apps_origin_only(s3: Any) -> None:
    key = "media/cors-answers"
    upload_id = new_upload(s3, key)
    url = part_url(s3, key, upload_id, len(PART))
    missing = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "media/missing"})
    s3.put_object(Bucket=BUCKET, Key="media/watched.mp4", Body=PART, ContentType="video/mp4")
    video = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "media/watched.mp4"})

    from_app = requests.put(
        url, data=PART, headers={"Origin": APP_ORIGIN, "Content-Type": "video/mp4"}, timeout=30
    )
    not_found = requests.get(missing, headers={"Origin": APP_ORIGIN}, timeout=30)
    seeking = requests.get(
        video, headers={"Origin": APP_ORIGIN, "Range": "bytes=100-199"}, timeout=30
    )  # <video>
    from_other = requests.put(url, data=PART, headers={"Origin": OTHER_ORIGIN}, timeout=30)
    without_origin = requests.put(url, data=PART, timeout=30)

    assert from_app.status_code == 200
    assert from_app.headers["ETag"] == f'"{md5_hex(PART)}"'
    assert from_app.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert from_app.headers["Access-Control-Expose-Headers"] == "ETag"  # what lets the page read the ETag
    assert from_app.headers["Vary"] == VARY
    assert (not_found.status_code, error_of(not_found)["Code"]) == (404, "NoSuchKey")
    assert not_found.headers["Access-Control-Allow-Origin"] == APP_ORIGIN  # the page can read why
    assert (seeking.status_code, seeking.content) == (206, PART[100:200])  # served by the range reader
    assert seeking.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    for answer in (from_other, without_origin):
        assert answer.status_code == 200
        assert not [name for name in answer.headers if name.lower().startswith("access-control-")]
