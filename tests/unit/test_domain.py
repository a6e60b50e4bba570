"""Pure domain rules, no AWS and no sockets."""

from __future__ import annotations

import pytest

from playout.destinations import Ingest, validate_ingest_url
from playout.errors import InvalidInput
from playout.ids import new_id
from playout.media import MAX_PARTS, MAX_UPLOAD_BYTES, part_size_for, part_sizes
from playout.pagination import decode_cursor, encode_cursor

MIB = 1024**2


def test_ids_sort_by_creation_time_and_name_their_kind() -> None:
    ids = [new_id("med") for _ in range(50)]
    assert ids == sorted(ids)
    assert all(i.startswith("med_") and len(i) == 32 for i in ids)
    assert len(set(ids)) == 50


def test_a_cursor_round_trips_and_cannot_cross_into_another_kind() -> None:
    cursor = encode_cursor("MEDIA#med_0123")
    assert decode_cursor(cursor, "MEDIA#") == "MEDIA#med_0123"
    with pytest.raises(InvalidInput):
        decode_cursor(cursor, "STREAM#")
    with pytest.raises(InvalidInput):
        decode_cursor("%%%not-base64", "MEDIA#")


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (1, 16 * MIB),
        (16 * MIB * MAX_PARTS, 16 * MIB),
        (16 * MIB * MAX_PARTS + 1, 17 * MIB),
        (5 * 1024**4, 525 * MIB),
    ],
)
def test_part_size_keeps_any_file_within_s3s_part_limit(size: int, expected: int) -> None:
    part = part_size_for(size, 16 * MIB)
    assert part == expected
    assert -(-size // part) <= MAX_PARTS


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1, [1]), (16 * MIB, [16 * MIB]), (40 * MIB + 5, [16 * MIB, 16 * MIB, 8 * MIB + 5])],
)
def test_each_part_has_its_exact_length_and_only_the_last_is_short(size: int, expected: list[int]) -> None:
    assert part_sizes(size, 16 * MIB) == expected


def test_the_largest_upload_fits_in_s3s_parts() -> None:
    sizes = part_sizes(MAX_UPLOAD_BYTES, part_size_for(MAX_UPLOAD_BYTES, 16 * MIB))
    assert MAX_UPLOAD_BYTES == 50 * 1024**3
    assert len(sizes) <= MAX_PARTS
    assert sum(sizes) == MAX_UPLOAD_BYTES


@pytest.mark.parametrize(
    "url", ["rtmp://a.rtmp.youtube.com/live2", "rtmps://live-api-s.facebook.com:443/rtmp/"]
)
def test_rtmp_and_rtmps_ingests_are_accepted_without_a_trailing_slash(url: str) -> None:
    assert validate_ingest_url(url) == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://example.com/live", "rtmp:///live", "file:///etc/passwd", "live"])
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        validate_ingest_url(url)


def test_an_ingest_never_shows_its_key_when_printed() -> None:
    ingest = Ingest("dst_1", "rtmp://host/live/secret-key", "secret-key")
    assert "secret-key" not in repr(ingest)
    assert "secret-key" not in str(ingest)
