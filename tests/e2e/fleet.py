"""Many streams at once in one local mode, each to its own stream key on an nginx-rtmp ingest and watched at
that ingest (tests/e2e/gaps.py): the load of the capacity benchmark (bench/capacity.py) and of
test_load_and_faults.py. Users are made as needed, `streams_per_user` each (the per-user stream limit), each
with the clip uploaded once and played in a loop by every stream of theirs."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.e2e.conftest import (
    ApiClient,
    LocalModeProcess,
    ResponseLog,
    new_stream_key,
    sign_up_and_in,
    upload_media,
    wait_for_status,
)
from tests.e2e.gaps import RecordingWatch

LIVE_TIMEOUT_S = 90  # many tasks starting at once on two cores: each imports, claims and probes
PICTURE_TIMEOUT_S = 30
# What a stream's timeline holds only when something went wrong with it.
TROUBLE_EVENTS = frozenset(
    {"interrupted", "restarted", "degraded", "failed", "destination_retrying", "destination_failed"}
)


@dataclass(frozen=True)
class Ingest:
    url: str  # rtmp://host:port/app: each stream publishes under its own key there
    record_dir: Path  # where the ingest records `<key>.flv` or `<key>-<unix time>.flv`


@dataclass
class Playing:
    api: ApiClient
    stream_id: str
    stream_key: str
    watch: RecordingWatch
    live_at: float = 0.0  # monotonic: when the API first said `live`
    picture_at: float = 0.0  # monotonic: when its first seconds of picture had reached the ingest

    def events(self) -> list[dict[str, Any]]:
        """The stream's timeline, oldest first."""
        return events(self.api, self.stream_id)

    def troubles(self) -> list[tuple[str, str]]:
        return [(e["type"], e["message"]) for e in self.events() if e["type"] in TROUBLE_EVENTS]

    def status(self) -> str:
        return str(self.api.ok("GET", f"/api/streams/{self.stream_id}")["status"])


def events(api: ApiClient, stream_id: str) -> list[dict[str, Any]]:
    return list(reversed(api.ok("GET", f"/api/streams/{stream_id}/events?limit=100")["items"]))


@dataclass
class Fleet:
    local: LocalModeProcess
    clip: Path
    response_log: ResponseLog = field(default_factory=ResponseLog)
    stream_keys: list[str] = field(default_factory=list)
    streams_per_user: int = 2
    playing: list[Playing] = field(default_factory=list)
    _users: list[tuple[ApiClient, str]] = field(default_factory=list)  # each with its media
    _config: dict[str, str] = field(default_factory=dict)

    def _user_for(self, index: int) -> tuple[ApiClient, str]:
        while len(self._users) <= index // self.streams_per_user:
            if not self._config:
                response = requests.get(f"{self.local.url}/config.json", timeout=10)
                response.raise_for_status()
                self._config = dict(response.json())
            email = f"fleet-{len(self._users)}-{secrets.token_hex(4)}@example.com"
            api = ApiClient(
                self.local.url, sign_up_and_in(self.local, self._config, email), self.response_log
            )
            media = upload_media(api, self.clip, self.local.url)
            assert media["status"] == "ready", media
            self._users.append((api, str(media["media_id"])))
        return self._users[index // self.streams_per_user]

    def start(self, ingests: Sequence[Ingest], title: str = "fleet") -> list[Playing]:
        """One more looping stream per ingest given, all started before any is waited for; returns them
        once each is live and its picture reaches its ingest."""
        started = []
        for ingest in ingests:
            api, media_id = self._user_for(len(self.playing))
            key = new_stream_key(self.stream_keys)
            body = {
                "type": "rtmp",
                "name": f"{title} {len(self.playing)}",
                "url": ingest.url,
                "stream_key": key,
            }
            destination_id = api.ok("POST", "/api/destinations", body, 201)["destination_id"]
            stream = {
                "title": title,
                "media_ids": [media_id],
                "destination_ids": [destination_id],
                "loop": True,
            }
            stream_id = str(api.ok("POST", "/api/streams", stream, 201)["stream_id"])
            playing = Playing(api, stream_id, key, RecordingWatch(ingest.record_dir, key).__enter__())
            self.playing.append(playing)
            assert api.post(f"/api/streams/{stream_id}/start").status_code == 202
            started.append(playing)
        for playing in started:
            _, playing.live_at = wait_for_status(
                playing.api, playing.stream_id, {"live"}, LIVE_TIMEOUT_S, 0.5
            )
        for playing in started:
            assert playing.watch.wait_for_video(2, PICTURE_TIMEOUT_S), f"no picture of {playing.stream_id}"
            playing.picture_at = time.monotonic()
        return started

    def stop_all(self) -> list[dict[str, Any]]:
        """Stops every stream (all asked first), then waits for each to end; returns each as it ended."""
        for playing in self.playing:
            assert playing.api.post(f"/api/streams/{playing.stream_id}/stop").status_code == 202
        ended = [wait_for_status(p.api, p.stream_id, {"ended"}, 60, 0.5)[0] for p in self.playing]
        self.close()
        return ended

    def close(self) -> None:
        for playing in self.playing:
            playing.watch.stop()
