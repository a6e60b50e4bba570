"""RTMPS: a destination behind TLS receives the stream. nginx-rtmp speaks no TLS, so a TLS terminator in front
of it plays the ingest's part (as YouTube's and Facebook's RTMPS ingests terminate TLS before their RTMP)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.youtube_emulator.ingest import TlsTerminator
from tests.certificates import self_signed_certificate
from tests.e2e.conftest import ApiClient, RtmpSink, new_stream_key, wait_for_status
from tests.media_probe import probe


@dataclass(frozen=True)
class TlsIngest:
    url: str
    handshakes: list[str]  # the TLS version of each session


@pytest.fixture
def tls_ingest(rtmp_sink: RtmpSink, tmp_path: Path) -> Iterator[TlsIngest]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed_certificate(tmp_path, "127.0.0.1"))
    upstream_port = int(rtmp_sink.url.rsplit(":", 1)[1].split("/", 1)[0])
    terminator = TlsTerminator(context, upstream_port)
    terminator.start()
    try:
        yield TlsIngest(f"rtmps://127.0.0.1:{terminator.port}/live", terminator.tls_versions)
    finally:
        terminator.stop()


def test_an_rtmps_destination_receives_the_stream(
    alice_api: ApiClient,
    alice_media: dict[str, Any],
    rtmp_sink: RtmpSink,
    tls_ingest: TlsIngest,
    stream_keys: list[str],
) -> None:
    key = new_stream_key(stream_keys)
    destination = alice_api.ok(
        "POST",
        "/api/destinations",
        {"type": "rtmp", "name": "tls ingest", "url": tls_ingest.url, "stream_key": key},
        201,
    )
    assert destination["url"] == tls_ingest.url
    stream = alice_api.ok(
        "POST",
        "/api/streams",
        {
            "title": "e2e rtmps",
            "media_ids": [alice_media["media_id"]],
            "destination_ids": [destination["destination_id"]],
            "duration_s": 8,
        },
        201,
    )
    assert alice_api.post(f"/api/streams/{stream['stream_id']}/start").status_code == 202
    wait_for_status(alice_api, stream["stream_id"], {"live"}, 30)
    ended, _ = wait_for_status(alice_api, stream["stream_id"], {"ended"}, 40, interval_s=0.5)

    assert tls_ingest.handshakes
    assert all(v.startswith("TLSv1.") for v in tls_ingest.handshakes)
    (sent,) = ended["destinations"]
    # 8 s of the media at its stored bitrate (the conform sets it), measured by the pusher.
    assert sent["bytes_sent"] > 0.7 * 8 * alice_media["stored_bytes"] / alice_media["duration_s"]
    recorded = float(probe(rtmp_sink.recording(key))["format"]["duration"])
    print(f"RTMPS: {tls_ingest.handshakes}, {sent['bytes_sent']} bytes sent, {recorded:.2f} s recorded")
    assert abs(recorded - 8) <= 1.0
