"""Local mode's S3 (local.moto_server) serves a Range of a large object as S3 does: those bytes, 206 with
Content-Range, S3's ETag and Content-Length, 416 past the end, and without holding the object in memory.

The object (313 MiB) is made in moto itself: one 8 MiB part uploaded, copied into 38 parts of a multipart
upload whose last part is a distinct 1 MiB, so that a read from the wrong place cannot pass."""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.integration.helpers import local_mode_s3

BUCKET = "local-s3-ranges"
KEY = "media/large.mp4"
PART = random.Random(1).randbytes(8 * 1024**2)
TAIL = random.Random(2).randbytes(1024**2)
COPIES = 38
SIZE = COPIES * len(PART) + len(TAIL)
KB64 = 64 * 1024


@dataclass
class LocalS3:
    s3: Any

    def url(self, key: str = KEY) -> str:
        return str(self.s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}))


@pytest.fixture(scope="module")
def local_s3() -> Iterator[LocalS3]:
    with local_mode_s3() as s3:
        try:
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="part", Body=PART)
            upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=KEY)["UploadId"]
            parts: list[Any] = []
            for number in range(1, COPIES + 1):
                copied = s3.upload_part_copy(
                    Bucket=BUCKET, Key=KEY, UploadId=upload_id, PartNumber=number, CopySource=f"{BUCKET}/part"
                )
                parts.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
            last = s3.upload_part(
                Bucket=BUCKET, Key=KEY, UploadId=upload_id, PartNumber=COPIES + 1, Body=TAIL
            )
            parts.append({"PartNumber": COPIES + 1, "ETag": last["ETag"]})
            s3.complete_multipart_upload(
                Bucket=BUCKET, Key=KEY, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
            yield LocalS3(s3)
        finally:
            for listed in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
                s3.delete_object(Bucket=BUCKET, Key=listed["Key"])
            s3.delete_bucket(Bucket=BUCKET)


def test_the_last_64_kb_of_a_large_object_are_its_last_64_kb(local_s3: LocalS3) -> None:
    etag = local_s3.s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    tracemalloc.start()
    try:
        response = requests.get(local_s3.url(), headers={"Range": f"bytes={SIZE - KB64}-"}, timeout=60)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {SIZE - KB64}-{SIZE - 1}/{SIZE}"
    assert response.headers["Content-Length"] == str(KB64)
    assert response.headers["ETag"] == etag
    assert response.content == TAIL[-KB64:]
    # moto used to read the whole object into memory to cut a range out of it
    assert peak < SIZE // 10


def test_ranges_read_from_where_they_say(local_s3: LocalS3) -> None:
    boundary = 20 * len(PART)  # between two copied parts
    across = requests.get(
        local_s3.url(), headers={"Range": f"bytes={boundary - 1000}-{boundary + 999}"}, timeout=60
    )
    assert across.status_code == 206
    assert across.content == PART[-1000:] + PART[:1000]

    suffix = requests.get(local_s3.url(), headers={"Range": "bytes=-100"}, timeout=60)
    assert suffix.headers["Content-Range"] == f"bytes {SIZE - 100}-{SIZE - 1}/{SIZE}"
    assert suffix.content == TAIL[-100:]

    # boto3's ranged GetObject (as a ranged download sends it: checksum mode, If-Match)
    etag = local_s3.s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    got = local_s3.s3.get_object(Bucket=BUCKET, Key=KEY, Range=f"bytes={SIZE - 3 * KB64}-", IfMatch=etag)
    assert got["ContentRange"] == f"bytes {SIZE - 3 * KB64}-{SIZE - 1}/{SIZE}"
    assert got["Body"].read() == TAIL[-3 * KB64 :]


def test_a_range_past_the_end_is_416(local_s3: LocalS3) -> None:
    response = requests.get(local_s3.url(), headers={"Range": f"bytes={SIZE}-"}, timeout=60)
    assert response.status_code == 416
    with pytest.raises(ClientError) as raised:
        local_s3.s3.get_object(Bucket=BUCKET, Key=KEY, Range=f"bytes={SIZE + 10}-")
    assert raised.value.response["Error"]["Code"] == "InvalidRange"


def test_a_small_object_without_a_range_is_read_whole(local_s3: LocalS3) -> None:
    body = b"a small object"
    etag = local_s3.s3.put_object(Bucket=BUCKET, Key="small.txt", Body=body)["ETag"]
    response = requests.get(local_s3.url("small.txt"), timeout=60)
    assert response.status_code == 200
    assert "Content-Range" not in response.headers
    assert response.headers["Content-Length"] == str(len(body))
    assert response.headers["ETag"] == etag
    assert response.content == body
