"""boto3 clients, built once per container and reused across invocations (keep-alive, pooled)."""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

import boto3
from botocore.config import Config


@cache
def client(service: str, addressing_style: str = "virtual") -> Any:
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, tcp_keepalive=True)
    if service == "s3":
        style: Literal["auto", "virtual", "path"] = addressing_style  # type: ignore[assignment]
        config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": style}))
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests and local mode change the endpoint or credentials)."""
    client.cache_clear()
