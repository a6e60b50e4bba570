"""A real stream in local mode (the API's domain code, the local launcher, the stream task as it runs in
AWS) to three destinations: its DynamoDB writes per stream-hour, counted at local mode's DynamoDB proxy,
and the memory of the task's whole process tree. The stream is the costly kind for DynamoDB: a
5,000-character description and a 1,000-item playlist. Baselines, in the same run: the heartbeat this
replaced, which rewrote that stream's whole item every 2 s (its size measured); the tree's memory at the
start of the window."""

from __future__ import annotations

import math
import os
import time
import uuid
from collections import Counter
from pathlib import Path

import requests

from bench.harness import RtmpSink, TreeSampler
from bench.media import Media
from bench.report import Figure
from local.processes import launched_pids

WRITES = ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem")
OLD_BEAT_INTERVAL_S = 2.0
BUDGET_CENTS_PER_HOUR = 0.05  # $0.0005
DESTINATIONS = 3
MEMORY_BUDGET_MB = 150
MB = 1024 * 1024
KB = 1024


def upload(user_id: str, path: Path) -> str:
    """Uploads `path` as the web app does (presigned multipart PUTs), a part in memory at a time."""
    from playout import media

    plan = media.create_upload(user_id, path.name, path.stat().st_size, "video/mp4")
    etags = []
    with path.open("rb") as source:
        for part in plan.parts:
            source.seek((part.part_number - 1) * plan.part_size)
            response = requests.put(part.url, data=source.read(plan.part_size), timeout=300)
            response.raise_for_status()
            etags.append((part.part_number, response.headers["ETag"]))
    media_id = str(media.complete_upload(user_id, plan.media.media_id, etags).media_id)
    return wait_until_ready(user_id, media_id)


def wait_until_ready(user_id: str, media_id: str, timeout_s: float = 900) -> str:
    """Until the media job has read the upload (a stream-ready one is not conformed: ready as it is)."""
    from playout import media

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        item = media.get_media(user_id, media_id, consistent=True)
        if item.status == media.READY:
            return media_id
        if item.status == media.FAILED:
            raise RuntimeError(f"the bench upload failed: {item.error}")
        time.sleep(0.5)
    raise RuntimeError(f"the bench upload was not ready in {timeout_s:.0f} s")


def wait_for(user_id: str, stream_id: str, statuses: set[str], timeout_s: float) -> None:
    from playout import streams

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = streams.get_stream(user_id, stream_id, consistent=True).status
        if status in statuses:
            return
        if status == streams.FAILED:
            raise RuntimeError(f"the bench stream failed: {streams.get_stream(user_id, stream_id).error}")
        time.sleep(0.2)
    raise RuntimeError(f"the bench stream did not become {statuses} in {timeout_s:.0f} s")


def _task_pid(stream_id: str) -> int:
    """The stream task's process, found by its environment contract as the local launcher started it."""
    pids = launched_pids("stream_task", "STREAM_ID", stream_id)
    if not pids:
        raise RuntimeError(f"no stream task runs stream {stream_id}")
    return pids[0]


def measure(sink: RtmpSink, files: Media, *, seconds: float) -> list[Figure]:
    from local.dynamodb_proxy import DynamoDbProxy
    from local.runtime import LocalMode
    from playout import destinations, health, streams
    from playout.health import item_bytes
    from playout.usage import PRICES

    proxy = DynamoDbProxy(lifetime_s=seconds + 600)
    os.environ["STREAM_TASK_DYNAMODB_ENDPOINT"] = proxy.url
    mode = LocalMode(port=0, build_web=False)
    try:
        mode.start()
        assert mode.resources is not None
        proxy.upstream = mode.resources.endpoint_url
        user_id = str(uuid.uuid4())
        media_id = upload(user_id, files.clip)
        ingest_url = f"rtmp://127.0.0.1:{sink.port}/live"
        destination_ids = [
            destinations.create_destination(
                user_id,
                f"sink {n}",
                ingest_url,
                f"bench-local-{n}",
                allow_loopback=True,
            ).destination_id
            for n in range(DESTINATIONS)
        ]
        spec = streams.StreamSpec(
            title="bench: a 24/7 channel",
            description="d" * 5000,
            privacy="unlisted",
            media_ids=[media_id] * 1000,
            destination_ids=destination_ids,
            loop=True,
            duration_s=None,
        )
        stream_id = streams.create_stream(user_id, spec).stream.stream_id
        streams.start_stream(user_id, stream_id)
        wait_for(user_id, stream_id, {streams.LIVE}, 60)
        time.sleep(health.MIN_BEAT_INTERVAL_S)  # past the first beats of the run
        sampler = TreeSampler(_task_pid(stream_id), interval_s=5.0, footprint=True)
        mark, started = len(proxy.log), time.monotonic()
        time.sleep(seconds)
        window, elapsed = list(proxy.log[mark:]), time.monotonic() - started
        sampler.close()
        stream = streams.get_stream(user_id, stream_id, consistent=True)
        health_item = health.read(user_id, stream_id, consistent=True)
        assert health_item is not None
        streams.stop_stream(user_id, stream_id)
        wait_for(user_id, stream_id, {streams.ENDED}, 60)
    finally:
        mode.stop()
        proxy.close()
        os.environ.pop("STREAM_TASK_DYNAMODB_ENDPOINT", None)

    writes = Counter(operation for operation, _ in window if operation in WRITES)
    health_bytes = item_bytes(health_item.serialize())
    stream_bytes = item_bytes(stream.serialize())
    # An UpdateItem costs the larger of the item's sizes before and after, per started KB; the task's
    # steady writes are its health beats (the events it may add are small PutItems: one unit each).
    ours_units_per_hour = (
        writes["UpdateItem"] * math.ceil(health_bytes / KB) + sum(writes.values()) - writes["UpdateItem"]
    ) * (3600 / elapsed)
    baseline_units_per_hour = math.ceil(stream_bytes / KB) * 3600 / OLD_BEAT_INTERVAL_S
    price = PRICES["on_demand"].dynamodb_write_million / 1_000_000
    ours, baseline = ours_units_per_hour * price * 100, baseline_units_per_hour * price * 100
    details = {
        "window_s": round(elapsed, 1),
        "writes_in_window": dict(writes),
        "health_item_bytes": health_bytes,
        "stream_item_bytes": stream_bytes,
        "write_units_per_hour": {
            "ours": round(ours_units_per_hour),
            "baseline": round(baseline_units_per_hour),
        },
    }
    footprints = [sample.footprint_bytes / MB for sample in sampler.samples]
    cpu_share = (sampler.samples[-1].cpu_s - sampler.samples[0].cpu_s) / (
        sampler.samples[-1].t - sampler.samples[0].t
    )
    memory = Figure(
        measure=f"Memory peak of the real stream task, {DESTINATIONS} dests",
        ours=max(footprints),
        baseline=footprints[0],
        unit="MB",
        ratio=max(footprints) / footprints[0],
        ratio_of="peak/start",
        target=f"ours <= {MEMORY_BUDGET_MB} MB",
        met=max(footprints) <= MEMORY_BUDGET_MB,
        ours_label="peak",
        baseline_label="start",
        details={
            "samples_mb": [round(f, 1) for f in footprints],
            "cpu_share_of_quarter_vcpu_pct": round(cpu_share / 0.25 * 100, 1),
        },
    )
    return [
        memory,
        Figure(
            measure="DynamoDB writes per stream-hour, 5000-char text, 1000 items",
            ours=ours,
            baseline=baseline,
            unit="¢",
            ratio=baseline / ours if ours else math.inf,
            ratio_of="old/new",
            target=f"ours <= {BUDGET_CENTS_PER_HOUR} ¢",
            met=ours <= BUDGET_CENTS_PER_HOUR,
            ours_label="health item",
            baseline_label="stream item every 2 s",
            details=details,
        ),
    ]
