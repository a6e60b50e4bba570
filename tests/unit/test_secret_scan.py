"""The e2e run's secret scan (tests/e2e/secret_scan.py) finds a secret planted in each place it watches, in
the forms a leak takes, and never prints the secret it found."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from urllib.parse import quote

import requests

from tests.e2e.secret_scan import PRESIGNED_SIGNATURE, Place, SecretScan

STREAM_KEY = "sk-e2e-" + secrets.token_hex(8)
REFRESH_TOKEN = "1//0" + secrets.token_urlsafe(72)
SIGNATURE = secrets.token_hex(32)


def _response(url: str, body: dict[str, object], status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.url = url
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps(body).encode()
    response.request = requests.Request("GET", url).prepare()
    return response


def _scan(tmp_path: Path) -> SecretScan:
    scan = SecretScan()
    scan.add_secret("RTMP stream key", STREAM_KEY)
    scan.add_emulator_issued({"refresh_tokens": [REFRESH_TOKEN], "stream_keys": []})
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "local.log").write_text('{"message": "task started"}\n{"message": "heartbeat"}\n')
    (tmp_path / "items.jsonl").write_text('{"pk": {"S": "USER#1"}, "type": {"S": "started"}}\n')
    (tmp_path / "inputs.jsonl").write_text('{"overrides": {"STREAM_ID": "str_1"}}\n')
    scan.watch(Place.LOG, logs)
    scan.watch(Place.STORED, tmp_path / "items.jsonl")
    scan.watch(Place.WORKFLOW_INPUT, tmp_path / "inputs.jsonl")
    scan.responses.add(_response("http://127.0.0.1/api/destinations", {"items": [{"name": "sink"}]}))
    return scan


def test_a_clean_run_has_no_hits_and_counts_what_it_scanned(tmp_path: Path) -> None:
    report = _scan(tmp_path).report()
    assert report.clean, report.describe()
    assert report.secrets == {"RTMP stream key": 1, "Google refresh token": 1}
    assert report.coverage[Place.LOG].units == 2
    assert report.coverage[Place.LOG].sources == 1
    assert report.coverage[Place.STORED].units == 1
    assert report.coverage[Place.WORKFLOW_INPUT].units == 1
    assert report.coverage[Place.RESPONSE].units == 1
    assert report.coverage[Place.LOG].bytes == len((tmp_path / "logs" / "local.log").read_bytes())
    assert report.figures("gw0")["gw0 log lines scanned"] == 2


def test_a_stream_key_in_a_log_line_is_a_hit_with_its_line_and_no_key_in_the_report(tmp_path: Path) -> None:
    scan = _scan(tmp_path)
    with (tmp_path / "logs" / "local.log").open("a") as log:
        log.write(f'{{"message": "pushing", "url": "rtmp://127.0.0.1:1935/live/{STREAM_KEY}"}}\n')

    report = scan.report()
    (hit,) = report.hits
    assert (hit.place, hit.kind) == (Place.LOG, "RTMP stream key")
    assert hit.where == f"{tmp_path / 'logs' / 'local.log'}:3"
    assert hit.excerpt == '{"message": "pushing", "url": "rtmp://127.0.0.1:1935/live/[RTMP stream key]"}'
    assert STREAM_KEY not in report.describe()
    assert "hits: 1" in report.describe()


def test_a_token_base64_encoded_in_a_stored_item_is_a_hit(tmp_path: Path) -> None:
    scan = _scan(tmp_path)
    for prefix in ("", "x", "xy"):  # each of base64's three alignments
        blob = base64.b64encode(f'{{"refresh{prefix}": "{REFRESH_TOKEN}"}}'.encode()).decode()
        with (tmp_path / "items.jsonl").open("a") as items:
            items.write(json.dumps({"pk": {"S": "USER#1"}, "blob": {"S": blob}}) + "\n")

    report = scan.report()
    assert [(hit.place, hit.kind, hit.where.rsplit(":", 1)[1]) for hit in report.hits] == [
        (Place.STORED, "Google refresh token", line) for line in ("2", "3", "4")
    ]
    assert all(REFRESH_TOKEN[4:20] not in hit.excerpt for hit in report.hits)


def test_a_percent_encoded_token_in_a_workflow_input_is_a_hit(tmp_path: Path) -> None:
    scan = _scan(tmp_path)
    (tmp_path / "inputs.jsonl").write_text(
        json.dumps({"overrides": {"TOKEN_URL": f"https://x/?t={quote(REFRESH_TOKEN, safe='')}"}}) + "\n"
    )

    (hit,) = scan.report().hits
    assert (hit.place, hit.kind) == (Place.WORKFLOW_INPUT, "Google refresh token")
    assert "t=[Google refresh token]" in hit.excerpt


def test_a_stream_key_in_an_api_response_is_a_hit_named_by_its_request(tmp_path: Path) -> None:
    scan = _scan(tmp_path)
    scan.responses.add(
        _response(f"http://127.0.0.1/api/destinations/d_1?k={STREAM_KEY}", {"stream_key": STREAM_KEY})
    )

    (hit,) = scan.report().hits
    assert hit.place is Place.RESPONSE
    assert hit.where == "GET http://127.0.0.1/api/destinations/d_1?k=[RTMP stream key] -> 200"
    assert '"stream_key": "[RTMP stream key]"' in hit.excerpt


def test_a_presigned_url_belongs_in_the_answer_that_hands_it_out_but_nowhere_else(tmp_path: Path) -> None:
    scan = _scan(tmp_path)
    url = f"http://127.0.0.1:9000/media/u/m?X-Amz-Credential=local&X-Amz-Signature={SIGNATURE}"
    scan.responses.add(_response("http://127.0.0.1/api/media", {"upload": {"parts": [{"url": url}]}}, 201))
    assert scan.report().clean
    assert scan.report().secrets[PRESIGNED_SIGNATURE] == 1

    with (tmp_path / "logs" / "local.log").open("a") as log:
        log.write(f"PUT {url}\n")
    (hit,) = scan.report().hits
    assert (hit.place, hit.kind) == (Place.LOG, PRESIGNED_SIGNATURE)


def test_a_watched_file_that_is_gone_fails_the_scan(tmp_path: Path) -> None:
    scan = _scan(tmp_path)
    (tmp_path / "inputs.jsonl").unlink()

    report = scan.report()
    assert not report.clean
    assert f"missing (cannot be scanned): {tmp_path / 'inputs.jsonl'}" in report.describe()


def test_values_too_short_to_be_secrets_are_not_collected() -> None:
    scan = SecretScan()
    scan.add_secret("RTMP stream key", "abc")
    scan.add_cognito_result({"IdToken": "eyJ" + "a" * 40, "ExpiresIn": 3600})
    assert scan.report().secrets == {"Cognito ID token": 1}
