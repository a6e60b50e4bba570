"""boto3 clients, built once per container and reused across invocations (keep-alive, pooled)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

_RETRIES = {"max_attempts": 5, "mode": "standard"}


@lru_cache(maxsize=None)
def client(service: str, addressing_style: str = "virtual") -> Any:
    config = Config(retries=_RETRIES, tcp_keepalive=True)
    if service == "s3":
        config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": addressing_style}))
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget cached clients (tests and local mode change the endpoint or credentials)."""
    client.cache_clear()
