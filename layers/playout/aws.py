"""boto3 clients, built once per container and reused across invocations (keep-alive, pooled).

Every botocore session in the process, pynamodb's included (playout.models), reads botocore's JSON
through one loader: each session otherwise parses endpoints.json and its service models again, about
8 MB a session (botocore issue 3078; sharing the `data_loader` component is the maintainers' answer)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any, Literal

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config


@cache
def _shared_loader() -> botocore.loaders.Loader:
    return botocore.loaders.create_loader(os.environ.get("AWS_DATA_PATH"))


def share_loader(session: botocore.session.Session) -> botocore.session.Session:
    """`session`, reading botocore's data through the process's one loader (before it makes a client)."""
    session.register_component("data_loader", _shared_loader())
    return session


@cache
def client(service: str, addressing_style: str = "virtual") -> Any:
    config = Config(retries={"max_attempts": 5, "mode": "standard"}, tcp_keepalive=True)
    if service == "s3":
        style: Literal["auto", "virtual", "path"] = addressing_style  # type: ignore[assignment]
        config = config.merge(Config(signature_version="s3v4", s3={"addressing_style": style}))
    session = boto3.session.Session(botocore_session=share_loader(botocore.session.get_session()))
    return session.client(service, config=config)  # type: ignore[call-overload]


@cache
def presigning_s3_client(addressing_style: str, get_object_signer: str) -> Any:
    """An S3 client whose presigned GETs use `get_object_signer` (a name in botocore.auth.AUTH_TYPE_MAPS,
    without its `-query` suffix)."""
    s3 = client.__wrapped__("s3", addressing_style)
    s3.meta.events.register("choose-signer.s3.GetObject", lambda **_: get_object_signer)
    return s3


def reset_clients() -> None:
    """Forget cached clients (tests and local mode change the endpoint or credentials)."""
    client.cache_clear()
    presigning_s3_client.cache_clear()
