"""Local mode's servers answer only the hosts they are served at: a page rebound to 127.0.0.1 gets a 421."""

from __future__ import annotations

import json

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from local.hosts import ServedHostsOnly, loopback_hosts


def _served(port: int) -> Client:
    return Client(ServedHostsOnly(Response("the app", mimetype="text/plain"), port))


# Without a port too: what nginx-rtmp's notifications send (a page never names a loopback host).
@pytest.mark.parametrize(
    "host", ["127.0.0.1:8080", "localhost:8080", "LOCALHOST:8080", "127.0.0.1", "localhost"]
)
def test_the_served_hosts_reach_the_app(host: str) -> None:
    response = _served(8080).get("/", headers={"Host": host})
    assert (response.status_code, response.text) == (200, "the app")


@pytest.mark.parametrize(
    "host",
    [
        "attacker.example",
        "attacker.example:8080",
        "127.0.0.1:9090",
        "localhost.:8080",
        "[::1]:8080",
    ],
)
def test_any_other_host_is_refused_in_plain_words(host: str) -> None:
    response = _served(8080).put("/bucket/key", headers={"Host": host}, data=b"x" * 1000)
    assert response.status_code == 421
    assert response.headers["Content-Type"] == "application/json"
    error = json.loads(response.text)["error"]
    assert error["code"] == "misdirected_request"
    assert error["message"] == (
        "This server answers only requests addressed to 127.0.0.1:8080 or localhost:8080; "
        "this one names another host."
    )


def test_the_loopback_hosts_of_a_port() -> None:
    assert loopback_hosts(8080) == {"127.0.0.1", "localhost", "127.0.0.1:8080", "localhost:8080"}


def test_before_its_port_is_known_nothing_is_served() -> None:
    client = Client(ServedHostsOnly(Response("the app")))
    assert client.get("/", headers={"Host": "127.0.0.1:8080"}).status_code == 421
