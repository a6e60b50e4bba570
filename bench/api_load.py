"""The API's latency under a bounded concurrent load, in local mode (its gateway checks each JWT and calls
the real handler, one request at a time as one Lambda environment serves them, on moto's DynamoDB and S3):
20 clients, each a user signed in through the gateway's Cognito proxy, for 60 s, each going round the read
routes and a few writes of its own (a destination and an upload plan made, then deleted). Baseline, in the
same run and the same rounds: `GET /api/health` on the same gateway, which reaches the handler but no
authorizer, database or S3. Per route: p50 and p99; the figure is p99/p99.

The clients run in a process of their own (`python -m bench.api_load`), so that the load they make is
not served by the same interpreter's lock as the gateway."""

from __future__ import annotations

import argparse
import json
import math
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import REPO_ROOT
from bench.report import Figure

CLIENTS = 20
BASELINE_ROUTE = "GET /api/health"
REQUEST_TIMEOUT_S = 60


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value that `pct` % of the values do not exceed."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Sample:
    route: str
    seconds: float
    status: int


# --- the clients (the child process) ---


def _round(base: str, call: Callable[..., Any]) -> None:
    """One round of a signed-in user: every route once, the baseline between each group."""
    call("GET /api/health", "GET", f"{base}/api/health")
    for route in ("/api/me", "/api/media", "/api/destinations", "/api/playlists", "/api/streams"):
        call(f"GET {route}", "GET", f"{base}{route}")
    call("GET /api/health", "GET", f"{base}/api/health")
    rtmp = {"name": "Load", "url": "rtmp://ingest.example.com/live", "stream_key": secrets.token_hex(8)}
    made = call("POST /api/destinations", "POST", f"{base}/api/destinations", json=rtmp)
    if made is not None:
        destination = f"{base}/api/destinations/{made['destination_id']}"
        call("GET /api/destinations/{destination_id}", "GET", destination)
        call("DELETE /api/destinations/{destination_id}", "DELETE", destination)
    call("GET /api/health", "GET", f"{base}/api/health")
    plan = {"filename": "load.mp4", "size_bytes": 1_000_000, "content_type": "video/mp4"}
    upload = call("POST /api/media", "POST", f"{base}/api/media", json=plan)
    if upload is not None:
        media = f"{base}/api/media/{upload['media_id']}"
        call("GET /api/media/{media_id}", "GET", media)
        call("DELETE /api/media/{media_id}", "DELETE", media)


def _client(base: str, token: str, until: float, samples: list[Sample], lock: threading.Lock) -> None:
    import requests

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def call(route: str, method: str, url: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = session.request(method, url, timeout=REQUEST_TIMEOUT_S, **kwargs)
        elapsed = time.perf_counter() - started
        with lock:
            samples.append(Sample(route, elapsed, response.status_code))
        return response.json() if response.ok and response.content else None

    while time.monotonic() < until:
        _round(base, call)


def _load(base: str, tokens: Sequence[str], seconds: float, into: Path) -> None:
    samples: list[Sample] = []
    lock = threading.Lock()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=_client, args=(base, token, until, samples, lock), daemon=True)
        for token in tokens
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    into.write_text(json.dumps([s.__dict__ for s in samples]))


# --- the server side (the bench process) ---


def _sign_in(url: str, config: dict[str, str], email: str) -> str:
    """A new user, signed up and in through the gateway's Cognito proxy as the web app does: its ID token."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=f"{url}/cognito/",
        region_name=config["region"],
        config=Config(signature_version=UNSIGNED),  # the public actions, as a browser calls them
    )
    password = f"{secrets.token_urlsafe(16)}-Aa9!"
    cognito.sign_up(
        ClientId=config["userPoolClientId"],
        Username=email,
        Password=password,
        UserAttributes=[{"Name": "email", "Value": email}],
    )
    tokens = cognito.initiate_auth(
        ClientId=config["userPoolClientId"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": email, "PASSWORD": password},
    )["AuthenticationResult"]
    return str(tokens["IdToken"])


def figures(samples: Sequence[Sample], seconds: float, clients: int) -> list[Figure]:
    by_route: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_route[sample.route].append(sample)
    if BASELINE_ROUTE not in by_route:
        raise RuntimeError("the load made no baseline request")
    base = [s.seconds * 1000 for s in by_route[BASELINE_ROUTE]]
    base_p50, base_p99 = percentile(base, 50), percentile(base, 99)
    result = []
    for route, taken in sorted(by_route.items(), key=lambda item: item[0].split(" ", 1)[1] + item[0]):
        if route == BASELINE_ROUTE:
            continue
        times = [s.seconds * 1000 for s in taken]
        failed = sum(1 for s in taken if s.status >= 400)
        p50, p99 = percentile(times, 50), percentile(times, 99)
        result.append(
            Figure(
                measure=f"p99 under load ({clients} clients, {seconds:g} s): {route}",
                ours=p99,
                baseline=base_p99,
                unit="ms",
                ratio=p99 / base_p99,
                ratio_of="route/health p99",
                target="every request 2xx",
                met=failed == 0,
                ours_label="route",
                baseline_label="health",
                details={
                    "requests": len(taken),
                    "failed": failed,
                    "p50_ms": round(p50, 1),
                    "baseline_p50_ms": round(base_p50, 1),
                    "baseline_requests": len(base),
                    "mean_ms": round(statistics.fmean(times), 1),
                },
            )
        )
    return result


def measure(*, seconds: float, clients: int = CLIENTS) -> list[Figure]:
    import requests

    from local.runtime import LocalMode

    mode = LocalMode(port=0, build_web=False)
    try:
        url = mode.start()
        config = requests.get(f"{url}/config.json", timeout=30).json()
        emails = [f"load-{n}-{secrets.token_hex(4)}@example.com" for n in range(clients)]
        tokens = [_sign_in(url, config, email) for email in emails]
        with tempfile.TemporaryDirectory(prefix="playout-bench-load-") as scratch:
            # The tokens go to the clients in a file of this user's only, never in a command line.
            token_file = Path(scratch) / "tokens.json"
            token_file.touch(mode=0o600)
            token_file.write_text(json.dumps(tokens))
            into = Path(scratch) / "samples.json"
            argv = [sys.executable, "-m", "bench.api_load", url, str(token_file), f"{seconds:g}", str(into)]
            done = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"the load clients failed: {done.stderr.strip()[-2000:]}")
            samples = [Sample(**s) for s in json.loads(into.read_text())]
    finally:
        mode.stop()
    return figures(samples, seconds, clients)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.api_load")
    parser.add_argument("url")
    parser.add_argument("token_file", type=Path)
    parser.add_argument("seconds", type=float)
    parser.add_argument("into", type=Path)
    args = parser.parse_args()
    _load(args.url, json.loads(args.token_file.read_text()), args.seconds, args.into)
