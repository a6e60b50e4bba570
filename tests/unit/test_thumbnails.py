"""A thumbnail URL is botocore's own SigV4 presigned GET, as botocore would sign it at the start of the UTC
day: S3 checks it the same way, and it stays the same all day (the browser's cache keeps the picture)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from playout import aws
from playout.thumbnails import VALID_S, thumbnail_url

BUCKET, KEY = "playout-media-test", "media/usr_1/med_1/thumbnail.webp"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    aws.reset_clients()
    yield
    aws.reset_clients()


def _at(moment: datetime) -> mock._patch:  # type: ignore[type-arg]
    return mock.patch("botocore.auth.get_current_datetime", return_value=moment.replace(tzinfo=None))


def _today_is(moment: datetime) -> mock._patch:  # type: ignore[type-arg]
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Frozen:  # type: ignore[override]
            return cls.fromtimestamp(moment.timestamp(), tz)

    return mock.patch("playout.thumbnails.datetime", Frozen)


def _botocore_presigned(moment: datetime) -> str:
    s3 = boto3.client("s3", config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
    with _at(moment):
        url: str = s3.generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": KEY}, ExpiresIn=VALID_S
        )
    return url


def test_the_url_is_botocores_presigned_get_signed_at_the_start_of_the_day() -> None:
    afternoon = datetime(2026, 11, 26, 15, 42, 7, tzinfo=UTC)
    with _at(afternoon), _today_is(afternoon):
        ours = thumbnail_url(BUCKET, KEY)

    assert ours == _botocore_presigned(datetime(2026, 11, 26, tzinfo=UTC))
    query = parse_qs(urlsplit(ours).query)
    assert query["X-Amz-Date"] == ["20261126T000000Z"]
    assert int(query["X-Amz-Expires"][0]) > 24 * 3600  # still valid at 23:59 of the day it names


def test_the_url_is_the_same_all_day_and_changes_the_next_day() -> None:
    urls = []
    for moment in (
        datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC),
        datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC),
        datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC),
    ):
        with _today_is(moment):
            urls.append(thumbnail_url(BUCKET, KEY))

    assert urls[0] == urls[1]
    assert urls[1] != urls[2]


def test_other_requests_of_the_process_keep_botocores_own_signing_time() -> None:
    """The day's signer is only for the thumbnail client's GETs: an upload's part URL is signed now."""
    now = datetime(2026, 11, 26, 15, 42, 7, tzinfo=UTC)
    with _at(now):
        part = aws.client("s3").generate_presigned_url(
            "upload_part", Params={"Bucket": BUCKET, "Key": KEY, "UploadId": "u", "PartNumber": 1}
        )
    assert parse_qs(urlsplit(part).query)["X-Amz-Date"] == ["20261126T154207Z"]
