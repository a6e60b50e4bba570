"""How local mode runs a stream task in its image: the task's environment passed by name only, the podman
client's own left out, the files it names mounted, ECS's stop timeout."""

from __future__ import annotations

from pathlib import Path

from local.task_container import Podman, run_argv
from playout.resources import TASK_STOP_TIMEOUT_S

IMAGE = "localhost/playout-stream-task:local"


def _argv(env: dict[str, str]) -> list[str]:
    return run_argv(Podman(Path("/tmp/store")), IMAGE, "playout-task-r1-abc", env)


def test_the_tasks_environment_goes_by_name_and_no_value_reaches_the_command_line() -> None:
    env = {
        "STREAM_ID": "s1",
        "USER_ID": "u1",
        "RUN_ID": "r1",
        "TABLE_NAME": "playout-local",
        "AWS_SECRET_ACCESS_KEY": "secret-value",
        "YOUTUBE_CLIENT_SECRET": "client-secret-value",
    }
    argv = _argv(env)
    assert {a.removeprefix("--env=") for a in argv if a.startswith("--env=")} == set(env)
    assert not [a for a in argv if "secret-value" in a]
    assert argv[-1] == IMAGE


def test_the_podman_clients_own_environment_stays_out() -> None:
    env = {
        "RUN_ID": "r1",
        "PATH": "/usr/bin",
        "HOME": "/root",
        "PYTHONPATH": "/work",
        "CONTAINERS_CONF": "/c",
    }
    assert [a for a in _argv(env) if a.startswith("--env=")] == ["--env=RUN_ID"]


def test_it_runs_as_fargate_does_on_the_hosts_network_with_an_init_and_the_stop_timeout() -> None:
    argv = _argv({"RUN_ID": "r1", "STREAM_ID": "s1"})
    assert argv[:1] == ["podman"]
    assert {"--runtime", "runc", "--init", "--rm", "--network", "host"} <= set(argv)
    assert f"--stop-timeout={TASK_STOP_TIMEOUT_S}" in argv
    assert "--label=playout.stream_id=s1" in argv
    assert "--label=playout.run_id=r1" in argv


def test_a_file_the_environment_names_is_mounted_read_only_at_its_path(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("certificate")
    argv = _argv({"RUN_ID": "r1", "YOUTUBE_CA_BUNDLE": str(bundle)})
    assert f"--volume={bundle}:{bundle}:ro" in argv
    missing = _argv({"RUN_ID": "r1", "YOUTUBE_CA_BUNDLE": str(tmp_path / "missing.pem")})
    assert not [a for a in missing if a.startswith("--volume")]
