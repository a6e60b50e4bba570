"""A user's media library for stream tests: one ready media and one destination, and streams made of them."""

from __future__ import annotations

from dataclasses import dataclass

from tests.integration.conftest import ApiClient


@dataclass
class Library:
    client: ApiClient
    media_id: str
    destination_id: str

    def new_stream(self, **extra: object) -> str:
        response = self.client.post(
            "/api/streams",
            {"title": "t", "media_ids": [self.media_id], "destination_ids": [self.destination_id], **extra},
        )
        assert response.status == 201, response.text
        return str(response.json()["stream_id"])

    def stream(self, stream_id: str) -> dict:
        return self.client.get(f"/api/streams/{stream_id}").json()

    def active_count(self) -> int:
        return int(self.client.get("/api/me").json()["active_streams"])
