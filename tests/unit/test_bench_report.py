"""The benchmark report's own parts: the DynamoDB call counter (botocore's hooks, answered by botocore's
Stubber: no socket), the per-route figures, the load percentiles and the report that parts share."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import botocore.session
import pytest
from botocore.stub import Stubber

from bench.api_calls import BASELINE_ROUTE, RouteCalls, figures, route_calls
from bench.api_load import percentile
from bench.dynamo_calls import DynamoCallCounter
from bench.report import Figure, table, write_json

STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
KEY = {"pk": {"S": "USER#u"}, "sk": {"S": "PROFILE"}}


def _stubbed_dynamodb(session: botocore.session.Session) -> tuple[object, Stubber]:
    client = session.create_client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    return client, Stubber(client)


def test_the_counter_counts_each_dynamodb_operation_of_sessions_made_while_counting() -> None:
    counter = DynamoCallCounter()
    with counter.every_new_session():
        client, stub = _stubbed_dynamodb(botocore.session.get_session())
    stub.add_response("get_item", {}, {"TableName": "t", "Key": KEY})
    stub.add_response("get_item", {}, {"TableName": "t", "Key": KEY})
    stub.add_response("scan", {"Items": []}, {"TableName": "t"})
    with stub:
        client.get_item(TableName="t", Key=KEY)  # type: ignore[attr-defined]
        client.get_item(TableName="t", Key=KEY)  # type: ignore[attr-defined]
        client.scan(TableName="t")  # type: ignore[attr-defined]
    assert counter.take() == Counter({"GetItem": 2, "Scan": 1})
    assert counter.take() == Counter()  # each take starts the count again


def test_a_session_made_outside_the_block_and_other_services_are_not_counted() -> None:
    counter = DynamoCallCounter()
    before, before_stub = _stubbed_dynamodb(botocore.session.get_session())
    with counter.every_new_session():
        s3 = botocore.session.get_session().create_client(
            "s3", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
    after, after_stub = _stubbed_dynamodb(botocore.session.get_session())
    s3_stub = Stubber(s3)
    s3_stub.add_response("list_buckets", {"Buckets": []})
    before_stub.add_response("get_item", {}, {"TableName": "t", "Key": KEY})
    after_stub.add_response("get_item", {}, {"TableName": "t", "Key": KEY})
    with before_stub, after_stub, s3_stub:
        before.get_item(TableName="t", Key=KEY)  # type: ignore[attr-defined]
        after.get_item(TableName="t", Key=KEY)  # type: ignore[attr-defined]
        s3.list_buckets()
    assert counter.take() == Counter()


def test_each_route_reports_its_costliest_request_and_its_scans() -> None:
    counted = [
        ("GET /api/me", Counter({"GetItem": 1, "PutItem": 1, "Query": 1})),
        ("GET /api/me", Counter({"GetItem": 1, "Query": 1})),
        ("GET /api/media", Counter({"Scan": 1})),
    ]
    assert route_calls(counted) == [
        RouteCalls("GET /api/me", 3, 0, {"GetItem": 1, "PutItem": 1, "Query": 1}, 2),
        RouteCalls("GET /api/media", 1, 1, {"Scan": 1}, 1),
    ]


def test_a_route_meets_its_target_with_two_calls_and_no_scan_against_the_getitem_route() -> None:
    routes = [
        RouteCalls(BASELINE_ROUTE, 1, 0, {"GetItem": 1}, 1),
        RouteCalls("GET /api/media", 1, 1, {"Scan": 1}, 1),
        RouteCalls("POST /api/streams", 3, 0, {"GetItem": 3}, 1),
        RouteCalls("GET /api/me", 2, 0, {"GetItem": 2}, 1),
    ]
    found = {
        f.measure.removeprefix("DynamoDB calls: "): f for f in figures(routes, [r.route for r in routes])
    }
    assert {route: f.met for route, f in found.items()} == {
        BASELINE_ROUTE: True,
        "GET /api/media": False,  # one call, but a Scan
        "POST /api/streams": False,
        "GET /api/me": True,
    }
    assert (found["POST /api/streams"].baseline, found["POST /api/streams"].ratio) == (1, 3.0)


def test_a_documented_route_the_session_never_called_stops_the_figures() -> None:
    routes = [RouteCalls(BASELINE_ROUTE, 1, 0, {"GetItem": 1}, 1)]
    with pytest.raises(RuntimeError, match=r"DELETE /api/media/\{media_id\}"):
        figures(routes, [BASELINE_ROUTE, "DELETE /api/media/{media_id}"])


def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]  # 1..100, unordered
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (50.0, 99.0, 100.0)
    assert percentile([7.0], 99) == 7.0


def _figure(measure: str, part: str, met: bool | None = True) -> Figure:
    return Figure(measure, 2, 1, "calls", 2.0, "route/GetItem route", "<= 2", met, part=part)


def test_a_run_of_some_parts_replaces_their_figures_and_keeps_the_others(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    first = [_figure("calls", "api"), _figure("sizes", "sizes")]
    write_json(report, first, parts=["api", "sizes"], quick=False, started=STARTED, wall_s=12.34)
    later = datetime(2026, 1, 3, tzinfo=UTC)
    write_json(
        report, [_figure("calls again", "api", met=False)], parts=["api"], quick=True, started=later, wall_s=1
    )
    document = json.loads(report.read_text())
    assert [(f["measure"], f["part"]) for f in document["figures"]] == [
        ("sizes", "sizes"),
        ("calls again", "api"),
    ]
    assert document["runs"]["sizes"]["started_at"] == "2026-01-02T03:04:05+00:00"
    assert (document["runs"]["api"]["quick"], document["runs"]["sizes"]["wall_s"]) == (True, 12.3)
    assert document["all_met"] is False


def test_an_unreadable_earlier_report_is_replaced(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("{not json")
    document = write_json(
        report, [_figure("calls", "api", met=None)], parts=["api"], quick=False, started=STARTED, wall_s=1
    )
    assert [f["measure"] for f in json.loads(report.read_text())["figures"]] == ["calls"]
    assert document["all_met"] is True  # a figure without a target is not a miss


def test_the_table_shows_counts_as_whole_numbers_and_each_figure_beside_its_baseline() -> None:
    printed = table([_figure("DynamoDB calls: GET /api/me", "api", met=False)])
    header, _rule, row = printed.splitlines()
    assert header.split() == ["measure", "ours", "baseline", "ratio", "target", "met"]
    assert "ours 2 calls" in row
    assert "baseline 1 calls" in row
    assert "route/GetItem route = 2.00" in row
    assert row.rstrip().endswith("NO")
