"""Local mode's S3 (local.moto_server) answers boto3 and the aws CLI as S3 does in local mode's flows: a
multipart upload_file on several threads and its ranged download_file, GetObject with a Range, HeadObject,
DeleteObjects, and the life of a multipart upload (list, abort, a part or a complete after the abort, a
complete retried after its success).

moto answered 500 to a part or a complete after an abort (S3: 404 NoSuchUpload, which the API's complete
relies on), aborted an upload named under another key, listed every upload as begun on 2010-11-10 and
listed the deleted keys of a quiet DeleteObjects."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.integration.helpers import LOCAL_CREDENTIALS, local_mode_s3

BUCKET = "local-s3-clients"
MIB = 1024**2
FILE = random.Random(7).randbytes(21 * MIB + 12345)
TRANSFER = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4)


@pytest.fixture(scope="module")
def s3() -> Iterator[Any]:
    with local_mode_s3() as client:
        client.create_bucket(Bucket=BUCKET)
        yield client


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def multipart_etag(data: bytes, part_size: int) -> str:
    """S3's ETag of a multipart object: the MD5 of its parts' MD5s, then the number of parts."""
    digests = [
        hashlib.md5(data[i : i + part_size], usedforsecurity=False).digest()
        for i in range(0, len(data), part_size)
    ]
    return f'"{hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"'


def error_code(raised: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def uploads(s3: Any, prefix: str) -> list[dict[str, Any]]:
    return list(s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", []))


def test_upload_file_in_parts_on_four_threads_then_download_file(s3: Any, tmp_path: Path) -> None:
    source, copy = tmp_path / "source.bin", tmp_path / "copy.bin"
    source.write_bytes(FILE)

    s3.upload_file(
        str(source), BUCKET, "media/threads.bin", Config=TRANSFER, ExtraArgs={"ContentType": "video/mp4"}
    )
    s3.download_file(BUCKET, "media/threads.bin", str(copy), Config=TRANSFER)

    head = s3.head_object(Bucket=BUCKET, Key="media/threads.bin")
    assert (head["ContentLength"], head["ContentType"]) == (len(FILE), "video/mp4")
    assert head["ETag"] == multipart_etag(FILE, 8 * MIB)
    assert copy.read_bytes() == FILE
    assert uploads(s3, "media/threads") == []  # completed: no upload left behind


def test_get_object_with_a_range_and_head_object(s3: Any) -> None:
    etag = s3.put_object(Bucket=BUCKET, Key="media/ranged.mp4", Body=FILE, ContentType="video/mp4")["ETag"]

    middle = s3.get_object(Bucket=BUCKET, Key="media/ranged.mp4", Range="bytes=1000-1999")
    tail = s3.get_object(Bucket=BUCKET, Key="media/ranged.mp4", Range="bytes=-500")
    past_the_end = s3.get_object(
        Bucket=BUCKET, Key="media/ranged.mp4", Range=f"bytes={len(FILE) - 10}-{len(FILE) + 10}"
    )
    head = s3.head_object(Bucket=BUCKET, Key="media/ranged.mp4")

    assert (middle["ContentRange"], middle["ContentLength"], middle["ETag"]) == (
        f"bytes 1000-1999/{len(FILE)}",
        1000,
        etag,
    )
    assert middle["Body"].read() == FILE[1000:2000]
    assert tail["ContentRange"] == f"bytes {len(FILE) - 500}-{len(FILE) - 1}/{len(FILE)}"
    assert tail["Body"].read() == FILE[-500:]
    assert past_the_end["ContentLength"] == 10  # S3 ends a range at the object's end
    assert past_the_end["Body"].read() == FILE[-10:]
    assert (head["ContentLength"], head["ETag"], head["ContentType"], head["AcceptRanges"]) == (
        len(FILE),
        etag,
        "video/mp4",
        "bytes",
    )
    assert head["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    with pytest.raises(ClientError) as unsatisfiable:
        s3.get_object(Bucket=BUCKET, Key="media/ranged.mp4", Range=f"bytes={len(FILE)}-")
    with pytest.raises(ClientError) as no_head:
        s3.head_object(Bucket=BUCKET, Key="media/nothing.mp4")
    with pytest.raises(ClientError) as no_key:
        s3.get_object(Bucket=BUCKET, Key="media/nothing.mp4")
    assert error_code(unsatisfiable) == (416, "InvalidRange")
    assert error_code(no_head) == (404, "404")  # a HEAD's error has no body: botocore names it by status
    assert error_code(no_key) == (404, "NoSuchKey")


def test_delete_objects_and_delete_object(s3: Any) -> None:
    for name in ("a", "b", "c"):
        s3.put_object(Bucket=BUCKET, Key=f"media/delete/{name}", Body=name.encode())

    quiet = s3.delete_objects(
        Bucket=BUCKET,
        Delete={"Objects": [{"Key": "media/delete/a"}, {"Key": "media/delete/gone"}], "Quiet": True},
    )
    verbose = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "media/delete/b"}]})
    single = s3.delete_object(Bucket=BUCKET, Key="media/delete/c")
    again = s3.delete_object(Bucket=BUCKET, Key="media/delete/c")

    assert "Deleted" not in quiet  # quiet: the keys it could not delete alone, and there were none
    assert "Errors" not in quiet
    assert [deleted["Key"] for deleted in verbose["Deleted"]] == ["media/delete/b"]
    assert single["ResponseMetadata"]["HTTPStatusCode"] == again["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="media/delete/").get("KeyCount") == 0


def test_list_multipart_uploads_says_when_each_began_ordered_by_key(s3: Any) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    started = [
        (key, s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"])
        for key in ("media/list/b", "media/list/a", "media/list/a")
    ]
    after = datetime.now(UTC)

    listed = uploads(s3, "media/list/")

    assert [(upload["Key"], upload["UploadId"]) for upload in listed] == [started[1], started[2], started[0]]
    assert all(before <= upload["Initiated"] <= after for upload in listed), [u["Initiated"] for u in listed]
    assert uploads(s3, "media/list/c") == []
    for key, upload_id in started:
        s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert uploads(s3, "media/list/") == []


def test_an_aborted_upload_takes_no_part_and_cannot_complete(s3: Any) -> None:
    key = "media/aborted"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=b"part")["ETag"]

    aborted = s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)

    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    calls = {
        "abort again": lambda: s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id),
        "upload a part": lambda: s3.upload_part(
            Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=2, Body=b"x"
        ),
        "list its parts": lambda: s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id),
        "complete": lambda: s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        ),
    }
    for name, call in calls.items():
        with pytest.raises(s3.exceptions.NoSuchUpload) as raised:  # what the API's complete catches
            call()
        assert error_code(raised) == (404, "NoSuchUpload"), name
    assert uploads(s3, key) == []


def test_a_complete_retried_after_it_succeeded_answers_as_the_first(s3: Any) -> None:
    key = "media/completed-twice"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=b"once")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}

    first = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id, MultipartUpload=parts)

    assert (again["ETag"], again["Key"]) == (first["ETag"], key)
    with pytest.raises(s3.exceptions.NoSuchUpload):  # completed: no more parts
        s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=2, Body=b"x")


def test_an_upload_is_known_under_its_own_key_only(s3: Any) -> None:
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key="media/mine")["UploadId"]

    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.abort_multipart_upload(Bucket=BUCKET, Key="media/theirs", UploadId=upload_id)
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.upload_part(Bucket=BUCKET, Key="media/theirs", UploadId=upload_id, PartNumber=1, Body=b"x")

    assert [upload["UploadId"] for upload in uploads(s3, "media/mine")] == [upload_id]  # still there
    s3.abort_multipart_upload(Bucket=BUCKET, Key="media/mine", UploadId=upload_id)


def test_a_complete_with_a_part_s3_does_not_hold_is_invalid_part(s3: Any) -> None:
    key = "media/invalid-part"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1, Body=b"part")

    with pytest.raises(ClientError) as wrong_etag:
        s3.complete_multipart_upload(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0"'}]},
        )

    assert error_code(wrong_etag) == (400, "InvalidPart")
    assert [upload["UploadId"] for upload in uploads(s3, key)] == [upload_id]  # still open to a retry
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload_id)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the aws CLI is not installed")
def test_the_aws_cli_copies_in_parts_both_ways_and_lists_uploads(s3: Any, tmp_path: Path) -> None:
    source, copy = tmp_path / "cli.bin", tmp_path / "cli-copy.bin"
    source.write_bytes(FILE)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),  # no profile, no config of the machine's user
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS[0],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    pending = s3.create_multipart_upload(Bucket=BUCKET, Key="media/cli-pending")["UploadId"]

    def aws(*args: str) -> str:
        result = subprocess.run(
            ["aws", "--endpoint-url", s3.meta.endpoint_url, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    aws("s3", "cp", "--only-show-errors", str(source), f"s3://{BUCKET}/media/cli.bin")
    aws("s3", "cp", "--only-show-errors", f"s3://{BUCKET}/media/cli.bin", str(copy))
    listed = json.loads(aws("s3api", "list-multipart-uploads", "--bucket", BUCKET, "--prefix", "media/cli"))

    assert copy.read_bytes() == FILE
    assert s3.head_object(Bucket=BUCKET, Key="media/cli.bin")["ETag"].endswith('-3"')  # 8 MiB parts
    assert [(upload["Key"], upload["UploadId"]) for upload in listed["Uploads"]] == [
        ("media/cli-pending", pending)
    ]
    s3.abort_multipart_upload(Bucket=BUCKET, Key="media/cli-pending", UploadId=pending)
