"""Test certificates: a TLS server in a test (an RTMPS ingest, an https file server) needs one."""

from __future__ import annotations

import datetime
from pathlib import Path

from local.youtube_emulator.certificate import write_self_signed_certificate


def self_signed_certificate(directory: Path, host_name: str) -> tuple[Path, Path]:
    """A certificate for `host_name` that is its own authority, valid for the test: (certificate, key) as PEM
    files."""
    made = write_self_signed_certificate(
        directory / f"{host_name}.pem",
        directory / f"{host_name}.key",
        host_name,
        common_name=host_name,
        valid_for=datetime.timedelta(hours=1),
    )
    return made.certificate, made.key
