"""Thumbnail URLs the owner's browser can cache: a presigned GET signed as of the start of the UTC day, so
the URL (and the browser's cached picture, stored `immutable`) stays the same all day instead of changing
at every list. Only the owner receives it; nobody else can derive it.

botocore has no option for the signing time: a client of its own picks a signer registered here under a
name of ours (a SigV4 query signer whose timestamp is the day's start), through botocore's `choose-signer`
event. The URL also changes when the signing credentials rotate (a Lambda's role session): a few times a
day at most.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.auth
import botocore.exceptions

from playout import aws

_SIGNER = "playout-s3v4-day"
# Valid through the whole day it was signed for, whatever the hour of the first request.
VALID_S = int(timedelta(days=2).total_seconds())


class _DaySignedQueryAuth(botocore.auth.S3SigV4QueryAuth):
    def add_auth(self, request: Any) -> None:
        if self.credentials is None:
            raise botocore.exceptions.NoCredentialsError()
        now = datetime.now(UTC)
        day = datetime(now.year, now.month, now.day, tzinfo=UTC)
        request.context["timestamp"] = day.strftime(botocore.auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)  # type: ignore[attr-defined]
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        self._inject_signature_to_request(request, self.signature(string_to_sign, request))  # type: ignore[attr-defined]


botocore.auth.AUTH_TYPE_MAPS[f"{_SIGNER}-query"] = _DaySignedQueryAuth


def thumbnail_url(bucket: str, key: str, addressing_style: str = "virtual") -> str:
    url: str = aws.presigning_s3_client(addressing_style, _SIGNER).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=VALID_S
    )
    return url
