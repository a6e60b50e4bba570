"""Malformed requests at the handler: each answers a 4xx in the API's error shape, in plain words; the OpenAPI
document lists every error a route answers, with its schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from tests.integration.conftest import ApiClient

MEDIA_ID = "med_" + "0" * 28
DESTINATION_ID = "dst_" + "0" * 28
BODY_ROUTES = [
    ("POST", "/api/media"),
    ("POST", "/api/destinations"),
    ("POST", "/api/streams"),
    ("POST", f"/api/media/{MEDIA_ID}/complete"),
    ("POST", "/api/playlists"),
]


def _stream(**fields: Any) -> dict[str, Any]:
    return {"title": "Night", "media_ids": [MEDIA_ID], "destination_ids": [DESTINATION_ID]} | fields


def _refused(response: Any, status: int = 422) -> str:
    assert response.status == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}, error
    return str(error["message"])


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_a_body_that_is_not_utf8_is_refused(alice: ApiClient, method: str, path: str) -> None:
    response = alice.request(method, path, raw_body=b'{"name": "\xff\xfe"}')
    assert _refused(response) == "the request body is not UTF-8 text"
    assert response.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"name": "Mix"',  # cut short
        b"name=Mix",
        b'{"name": "Mix", "media_ids": [], "shuffle": NaN}',
        b'{"name": "Mix", "count": ' + b"9" * 5000 + b"}",  # more digits than Python converts
        b"[" * 100_000 + b"]" * 100_000,  # deeper than the parser goes
    ],
    ids=["truncated", "form", "nan", "huge-integer", "deep"],
)
def test_a_body_that_is_not_json_is_refused(alice: ApiClient, raw: bytes) -> None:
    response = alice.request("POST", "/api/playlists", raw_body=raw)
    assert _refused(response) == "request body: is not valid JSON"


@pytest.mark.parametrize("body", [["Mix"], "Mix", 5, None])
def test_a_body_that_is_not_an_object_is_refused(alice: ApiClient, body: Any) -> None:
    response = alice.request("POST", "/api/playlists", raw_body=json.dumps(body).encode())
    assert _refused(response).startswith("request body: ")
    assert alice.get("/api/playlists").json()["items"] == []


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/playlists", {"name": ""}, "name: give it a value"),
        ("/api/playlists", {"name": "Mix", "shuffle": 0}, "shuffle: must be true or false"),
        ("/api/playlists", {"name": "Mix", "colour": "red"}, "colour: is not a field of this request"),
        ("/api/playlists", {"name": "Mix\u0000"}, "name: must be one line of text, without control"),
        ("/api/playlists", {"name": "Mix\ud800"}, "name: must be valid Unicode text"),
        (
            "/api/playlists",
            {"name": "Mix", "media_ids": ["../../etc/passwd"]},
            "media_ids[0]: must be a media id: med_ and 28 hex digits",
        ),
        ("/api/playlists", {"name": "Mix", "media_ids": [MEDIA_ID] * 10_000}, "media_ids: at most 1000"),
        ("/api/media", {"filename": "a.mp4", "size_bytes": "5"}, "size_bytes: must be a whole number"),
        ("/api/media", {"filename": "a.mp4", "size_bytes": 10**30}, "size_bytes: must be at most"),
        (
            "/api/streams",
            _stream(destination_ids=["dst_" + "g" * 28]),
            "destination_ids[0]: must be a destination id: dst_ and 28 hex digits",
        ),
        (
            "/api/streams",
            _stream(destination_ids=[f"dst_{i:028x}" for i in range(10_000)]),
            "destination_ids: at most 10 items",
        ),
        ("/api/streams", _stream(handover_after_h="12"), "handover_after_h: must be a number"),
        ("/api/streams", _stream(scheduled_start="2030-01-01T20:00:00"), "scheduled_start: needs a UTC"),
    ],
)
def test_bad_fields_are_named_in_plain_words(alice: ApiClient, path: str, body: Any, message: str) -> None:
    # json.dumps writes a lone surrogate as \ud800, which JSON allows and Python reads back as one.
    assert _refused(alice.post(path, body)).startswith(message)


def test_every_problem_of_a_body_is_named_once(alice: ApiClient) -> None:
    message = _refused(alice.post("/api/media", {"size_bytes": -1, "extra": 1}))
    assert message.split("; ") == [
        "filename: is missing",
        "size_bytes: must be more than 0",
        "extra: is not a field of this request",
    ]


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/xml"])
def test_a_body_that_is_not_sent_as_json_answers_415(alice: ApiClient, content_type: str) -> None:
    response = alice.request("POST", "/api/playlists", raw_body=b'{"name": "Mix"}', content_type=content_type)
    assert _refused(response, 415) == "send the body as application/json"


def test_a_method_a_path_does_not_take_answers_405_with_the_ones_it_does(alice: ApiClient) -> None:
    response = alice.request("PATCH", f"/api/media/{MEDIA_ID}")
    assert _refused(response, 405) == "use GET, DELETE on this path"
    assert response.headers["Allow"] == "GET, DELETE"
    for method in ("GET", "DELETE", "OPTIONS"):  # GET and DELETE would route as /api/media/{media_id}
        imports = alice.request(method, "/api/media/imports")
        assert imports.status == 405, (method, imports.text)
        assert imports.headers["Allow"] == "POST"
    assert _refused(alice.get("/api/nothing-here"), 404) == "no such route"


def test_an_id_of_another_kind_in_the_path_is_refused(alice: ApiClient) -> None:
    assert _refused(alice.get(f"/api/streams/{MEDIA_ID}")) == (
        "stream_id: must be a stream id: str_ and 28 hex digits"
    )


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_the_document_lists_every_error_with_the_error_shape(alice: ApiClient) -> None:
    document = alice.get("/api/openapi.json").json()
    validate(document)  # raises on anything that is not OpenAPI 3.1
    error_ref = {"$ref": "#/components/schemas/ErrorOut"}
    assert set(document["components"]["schemas"]["ErrorDetail"]["required"]) == {"code", "message"}
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        errors = {int(status) for status in responses if int(status) >= 400}
        assert {403, 422, 500} <= errors, (method, path)  # 403: sent around CloudFront
        for status in errors - {401}:
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            assert schema == error_ref, (method, path, status)
        public = path in {"/api/health", "/api/youtube/callback"}
        assert (401 in errors) != public, (method, path)
        if "requestBody" in operation:
            assert 415 in errors, (method, path)
        if "{" in path:
            assert 404 in errors, (method, path)


def test_every_list_answers_a_typed_page(alice: ApiClient) -> None:
    document = alice.get("/api/openapi.json").json()
    schemas = document["components"]["schemas"]
    for path, item in document["paths"].items():
        if "{" in path and not path.endswith("/events"):
            continue
        if "get" not in item or path in {"/api/health", "/api/me", "/api/youtube/callback"}:
            continue
        ref = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        page = schemas[ref.rsplit("/", 1)[1]]
        assert page["required"] == ["items", "next_cursor"], path
        assert "$ref" in page["properties"]["items"]["items"], path  # a model, not any JSON
