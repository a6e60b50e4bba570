"""Local mode's S3 takes each client's requests on the presigned URLs the API makes, as S3 does.

A part PUT from requests, urllib (which types any body as a form), `curl -T` and `curl --data-binary -X
PUT` (a form type too) is stored with the part's MD5 as its ETag, and completes through the API into a
media item the media job makes ready. A part of another length than the API declared and signed is
refused (403 SignatureDoesNotMatch); once the user deletes the upload (the API aborts it), its part URL
answers 404 NoSuchUpload. The thumbnail's presigned URL reads whole or by range, with the CORS headers of
the app's origin only, and not with HEAD, which it was not signed for."""

from __future__ import annotations

import hashlib
import subprocess
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    make_clip,
    stored_copy,
    wait_for_media,
)

OTHER_ORIGIN = "http://localhost:8080"

# A part PUT as each client sends it: (status, ETag) of S3's answer.
PartPut = Callable[[str, bytes, Path], tuple[int, str]]


@pytest.fixture(scope="module")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """2 s of stream-ready 320x180 video: one part, and a quick media job (nothing to conform)."""
    path = tmp_path_factory.mktemp("s3") / "small.mp4"
    return make_clip(path, 2, size="320x180", video_kbps=300).read_bytes()


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def error_code(body: bytes) -> str:
    return ET.fromstring(body).findtext("Code") or ""  # noqa: S314 - local mode's own answer


def put_with_requests(url: str, body: bytes, scratch: Path) -> tuple[int, str]:
    response = requests.put(url, data=body, timeout=60)
    return response.status_code, response.headers.get("ETag", "")


def put_with_urllib(url: str, body: bytes, scratch: Path) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, method="PUT")  # noqa: S310 - local mode's URL
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        status, etag = response.status, response.headers.get("ETag", "")
    # what makes urllib a case of its own: it typed the part as a form
    assert request.get_header("Content-type") == "application/x-www-form-urlencoded"
    return status, etag


def _curl(url: str, body: bytes, scratch: Path, *args: str) -> tuple[int, str]:
    """`curl ARGS URL` with the part in scratch/part.bin (each arg's `{part}` stands for its path)."""
    part = scratch / "part.bin"
    part.write_bytes(body)
    result = subprocess.run(
        [
            "curl", "--silent", "--show-error", "--dump-header", "-", "--output", "/dev/null",
            *(arg.format(part=part) for arg in args), url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )  # fmt: skip
    # the last header block is the answer's (curl prints any `100 Continue` before it)
    block = result.stdout.strip().split("\n\n")[-1].splitlines()  # text=True: CRLF read as LF
    headers = dict(line.split(": ", 1) for line in block[1:])
    return int(block[0].split()[1]), headers.get("ETag", "")


def put_with_curl_upload_file(url: str, body: bytes, scratch: Path) -> tuple[int, str]:
    return _curl(url, body, scratch, "-T", "{part}")


def put_with_curl_data_binary(url: str, body: bytes, scratch: Path) -> tuple[int, str]:
    # curl types a --data-binary body as application/x-www-form-urlencoded
    return _curl(url, body, scratch, "--data-binary", "@{part}", "-X", "PUT")


CLIENTS: dict[str, PartPut] = {
    "requests": put_with_requests,
    "urllib": put_with_urllib,
    "curl -T": put_with_curl_upload_file,
    "curl --data-binary -X PUT": put_with_curl_data_binary,
}


def create_upload(api: ApiClient, size: int) -> dict[str, Any]:
    body = {"filename": "clip.mp4", "size_bytes": size, "content_type": "video/mp4"}
    return dict(api.ok("POST", "/api/media", body, 201))


@pytest.mark.parametrize("put", CLIENTS.values(), ids=CLIENTS.keys())
def test_a_part_put_from_each_client_completes_through_the_api(
    put: PartPut, dana_api: ApiClient, small_clip: bytes, tmp_path: Path
) -> None:
    created = create_upload(dana_api, len(small_clip))
    (part,) = created["upload"]["parts"]
    assert "content-length" in part["url"].split("X-Amz-SignedHeaders=", 1)[1].split("&")[0]

    status, etag = put(part["url"], small_clip, tmp_path)

    assert (status, etag) == (200, f'"{md5_hex(small_clip)}"')
    completed = dana_api.ok(
        "POST", f"/api/media/{created['media_id']}/complete", {"parts": [{"part_number": 1, "etag": etag}]}
    )
    assert completed["status"] == "probing"
    media = wait_for_media(dana_api, created["media_id"])
    assert media["status"] == "ready", media
    assert stored_copy(dana_api, media, tmp_path / "stored.mp4").read_bytes() == small_clip


def test_a_part_of_another_length_is_refused_and_a_deleted_upload_takes_no_part(
    dana_api: ApiClient, small_clip: bytes
) -> None:
    used_before = dana_api.ok("GET", "/api/me")["storage_used_bytes"]
    created = create_upload(dana_api, len(small_clip))
    url = created["upload"]["parts"][0]["url"]

    longer = requests.put(url, data=small_clip + b"\0", timeout=60)
    shorter = requests.put(url, data=small_clip[:-1], timeout=60)
    assert (longer.status_code, error_code(longer.content)) == (403, "SignatureDoesNotMatch")
    assert (shorter.status_code, error_code(shorter.content)) == (403, "SignatureDoesNotMatch")

    assert dana_api.delete(f"/api/media/{created['media_id']}").status_code == 204  # aborts the upload
    late = requests.put(url, data=small_clip, timeout=60)
    assert (late.status_code, error_code(late.content)) == (404, "NoSuchUpload")
    assert dana_api.ok("GET", "/api/me")["storage_used_bytes"] == used_before


def test_a_thumbnail_url_reads_as_s3_reads_it(
    alice_media: dict[str, Any], local_mode: LocalModeProcess
) -> None:
    url = alice_media["thumbnail_url"]

    whole = requests.get(url, headers={"Origin": local_mode.url}, timeout=30)
    ranged = requests.get(url, headers={"Range": "bytes=0-11"}, timeout=30)
    from_other_origin = requests.get(url, headers={"Origin": OTHER_ORIGIN}, timeout=30)
    head = requests.head(url, timeout=30)

    assert (whole.status_code, whole.headers["Content-Type"]) == (200, "image/webp")
    assert whole.headers["Content-Length"] == str(len(whole.content))
    assert whole.headers["ETag"] == f'"{md5_hex(whole.content)}"'
    assert whole.headers["Access-Control-Allow-Origin"] == local_mode.url
    assert (ranged.status_code, ranged.content) == (206, whole.content[:12])
    assert ranged.headers["Content-Range"] == f"bytes 0-11/{len(whole.content)}"
    assert from_other_origin.status_code == 200
    assert "Access-Control-Allow-Origin" not in from_other_origin.headers
    assert head.status_code == 403  # signed for a GET; S3 answers a HEAD's error without a body
