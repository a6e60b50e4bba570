"""Local mode's knobs for the stream task: what the launcher runs, and where the task's DynamoDB calls go."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from local.resources import LocalResources
from local.runtime import LocalMode, loopback_imports_allowed, task_command, youtube_archive_limit_s

RESOURCES = LocalResources(
    endpoint_url="http://127.0.0.1:5000",
    region="us-east-1",
    table_name="playout-local",
    media_bucket="playout-media",
    key_id="key",
    user_pool_id="pool",
    user_pool_client_id="client",
)


@pytest.fixture(autouse=True)
def api_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The API's settings, as local mode sets them before it builds the task's environment."""
    from playout.settings import get_settings

    for name, value in {
        "TABLE_NAME": RESOURCES.table_name,
        "MEDIA_BUCKET": RESOURCES.media_bucket,
        "KEY_ID": "key",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _task_env() -> dict[str, str]:
    return LocalMode(build_web=False)._task_env(RESOURCES)


def test_the_task_runs_as_python_m_stream_task_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_TASK_COMMAND", raising=False)
    assert task_command() == [sys.executable, "-m", "stream_task"]


def test_local_task_command_replaces_the_task_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_TASK_COMMAND", "/opt/task --flag 'two words'")
    assert task_command() == ["/opt/task", "--flag", "two words"]


def test_local_task_image_runs_the_task_in_that_image(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCAL_TASK_COMMAND", raising=False)
    monkeypatch.setenv("LOCAL_TASK_IMAGE", "localhost/playout-stream-task:local")
    assert task_command() == [
        sys.executable, "-m", "local.task_container", "run", "localhost/playout-stream-task:local"
    ]  # fmt: skip
    env = _task_env()
    assert "FFMPEG_PATH" not in env  # the image's own, not this machine's build
    assert env["TABLE_NAME"] == RESOURCES.table_name


def test_a_task_image_and_a_task_command_together_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_TASK_COMMAND", "/opt/task")
    monkeypatch.setenv("LOCAL_TASK_IMAGE", "localhost/playout-stream-task:local")
    with pytest.raises(ValueError, match="set one"):
        task_command()


def test_the_tasks_dynamodb_endpoint_moves_only_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_TASK_DYNAMODB_ENDPOINT", "http://127.0.0.1:6000")
    env = _task_env()
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:6000"
    assert env["AWS_ENDPOINT_URL"] == RESOURCES.endpoint_url  # S3 and KMS stay on moto


def test_without_the_knob_dynamodb_is_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STREAM_TASK_DYNAMODB_ENDPOINT", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in _task_env()


def test_stream_task_variables_pass_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_TASK_FINAL_WRITE_DEADLINE_S", "5")
    assert _task_env()["STREAM_TASK_FINAL_WRITE_DEADLINE_S"] == "5"


def test_loopback_imports_are_allowed_unless_the_knob_says_false() -> None:
    assert loopback_imports_allowed({}) is True
    assert loopback_imports_allowed({"LOCAL_ALLOW_LOOPBACK_IMPORTS": " False "}) is False
    assert loopback_imports_allowed({"LOCAL_ALLOW_LOOPBACK_IMPORTS": "0"}) is False
    with pytest.raises(ValueError, match="LOCAL_ALLOW_LOOPBACK_IMPORTS must be true or false"):
        loopback_imports_allowed({"LOCAL_ALLOW_LOOPBACK_IMPORTS": "maybe"})


def test_the_emulators_archive_limit_is_youtubes_twelve_hours_unless_shortened() -> None:
    assert youtube_archive_limit_s({}) == 12 * 3600
    assert youtube_archive_limit_s({"LOCAL_YOUTUBE_ARCHIVE_LIMIT_S": " 40 "}) == 40
    for word in ("0", "-5", "soon"):
        with pytest.raises(ValueError, match="LOCAL_YOUTUBE_ARCHIVE_LIMIT_S must be a positive number"):
            youtube_archive_limit_s({"LOCAL_YOUTUBE_ARCHIVE_LIMIT_S": word})


@pytest.mark.parametrize("allowed", [True, False])
def test_the_api_and_the_media_jobs_share_the_loopback_imports_setting(allowed: bool) -> None:
    env = LocalMode(build_web=False, allow_loopback_imports=allowed)._task_env(RESOURCES)
    assert env["ALLOW_LOOPBACK_IMPORTS"] == ("true" if allowed else "false")
