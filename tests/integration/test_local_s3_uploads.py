"""Local mode's S3 (local.moto_server) takes a part PUT as S3 does whatever its Content-Type: the bytes sent,
their MD5 as the part's ETag, and the completed object made of them. urllib types any body it sends as a form,
on which moto alone hung (a binary body) or answered 500."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.helpers import local_mode_s3

BUCKET = "local-s3-uploads"
SMALL = random.Random(1).randbytes(1000)
LARGE = random.Random(2).randbytes(6 * 1024**2)
CONTENT_TYPES = {
    "none": None,  # requests, boto3
    "urllib's default": "application/x-www-form-urlencoded",
    "multipart form": "multipart/form-data; boundary=xyz",
    "a browser's file slice": "video/mp4",
    "a browser's string body": "text/plain;charset=UTF-8",
}


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with local_mode_s3() as client:
        client.create_bucket(Bucket=BUCKET)
        yield client


def md5_hex(data: bytes) -> str:
    """S3's ETag of a part: the MD5 of its bytes (an identifier here, not a security measure)."""
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def put(url: str, body: bytes, content_type: str | None) -> requests.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    # Bounded: before the fix moto waited for a body it had already read until the client gave up.
    return requests.put(url, data=body, headers=headers, timeout=30)


@pytest.mark.parametrize("content_type", CONTENT_TYPES.values(), ids=CONTENT_TYPES.keys())
@pytest.mark.parametrize("body", [SMALL, LARGE], ids=["1 KB", "6 MB"])
def test_a_part_put_with_any_content_type_stores_its_bytes(
    s3: Any, body: bytes, content_type: str | None
) -> None:
    key = f"media/{len(body)}/{content_type}"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="video/mp4")["UploadId"]
    url = s3.generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": BUCKET,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": 1,
            "ContentLength": len(body),
        },
    )

    response = put(url, body, content_type)

    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{md5_hex(body)}"'
    s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": response.headers["ETag"]}]},
    )
    stored = s3.get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == body
    assert stored["ContentType"] == "video/mp4"  # the upload's, as S3 keeps it: a part's type is ignored


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "video/mp4"])
def test_an_object_put_keeps_its_bytes_and_its_content_type(s3: Any, content_type: str) -> None:
    key = f"objects/{content_type}"
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": key})

    response = put(url, LARGE, content_type)

    assert response.status_code == 200, response.text
    stored = s3.get_object(Bucket=BUCKET, Key=key)
    assert stored["Body"].read() == LARGE
    assert stored["ContentType"] == content_type
