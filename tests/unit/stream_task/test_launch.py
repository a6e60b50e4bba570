"""How ffmpeg and ffprobe are started: an environment with nothing of the task's in it, and a uid of their own
when the task can switch (root here; the image's setpriv with file capabilities on Fargate)."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from stream_task.launch import DIRECT, Launch, Sandbox, confined, pushers_apart, scrubbed_environment

TASK_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/0f5e3a2c",
    "AWS_REGION": "eu-west-1",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/abc",
    "STREAM_ID": "str_1",
    "TABLE_NAME": "playout",
    "MEDIA_BUCKET": "media",
    "GOOGLE_CLIENT_SECRET": "g-secret",
    "STREAM_TASK_STOP_GRACE_S": "2",
}
NOBODY = pwd.getpwnam("nobody")
DAEMON = pwd.getpwnam("daemon")  # another unprivileged user every Debian has: the pushers' here
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root here")


class Notes:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def info(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.warnings.append(str(msg))

    def error(self, msg: object, *args: object, **kwargs: Any) -> None: ...
    def exception(self, msg: object, *args: object, **kwargs: Any) -> None: ...


def test_ffmpeg_gets_where_programs_are_and_how_to_print_nothing_of_the_tasks() -> None:
    assert scrubbed_environment(TASK_ENVIRONMENT) == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
    }
    assert scrubbed_environment({"AWS_REGION": "eu-west-1"}) == {"PATH": "/usr/local/bin:/usr/bin:/bin"}


def test_a_sandboxed_command_goes_through_setpriv_without_groups_or_new_privileges() -> None:
    launch = Launch({"PATH": "/usr/bin"}, Sandbox(10002, 10002, "/usr/local/libexec/playout/ffmpeg-sandbox"))
    assert launch.argv(["ffmpeg", "-i", "x"]) == [
        "/usr/local/libexec/playout/ffmpeg-sandbox",
        "--reuid=10002",
        "--regid=10002",
        "--clear-groups",
        "--no-new-privs",
        "--",
        "ffmpeg",
        "-i",
        "x",
    ]
    assert DIRECT.argv(["ffmpeg"]) == ["ffmpeg"]


@needs_root
def test_as_root_the_task_switches_to_the_configured_user() -> None:
    notes = Notes()
    launch = confined("nobody", None, notes, TASK_ENVIRONMENT)
    assert launch.sandbox is not None
    assert (launch.sandbox.uid, launch.sandbox.gid) == (NOBODY.pw_uid, NOBODY.pw_gid)
    assert Path(launch.sandbox.launcher).name == "setpriv"
    assert launch.env == scrubbed_environment(TASK_ENVIRONMENT)
    assert notes.warnings == []


def test_without_a_way_to_switch_the_task_says_so_and_still_scrubs_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # a developer's laptop: local mode as a normal user
    notes = Notes()
    launch = confined("nobody", str(tmp_path / "no-launcher"), notes, TASK_ENVIRONMENT)
    assert launch.sandbox is None
    assert launch.env == scrubbed_environment(TASK_ENVIRONMENT)
    assert len(notes.warnings) == 1
    assert "task's own uid (1000)" in notes.warnings[0]
    assert "FFMPEG_LAUNCHER" in notes.warnings[0]


def test_a_task_that_is_not_root_switches_through_its_launcher(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 10001)  # the image's user
    launcher = tmp_path / "ffmpeg-sandbox"
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o750)
    launch = confined("nobody", str(launcher), Notes(), TASK_ENVIRONMENT)
    assert launch.sandbox == Sandbox(NOBODY.pw_uid, NOBODY.pw_gid, str(launcher))


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("root", "not another unprivileged user"),
        ("no-such-user-here", "does not exist"),
        ("", "no FFMPEG_USER"),
    ],
)
def test_a_sandbox_user_that_would_not_confine_ffmpeg_is_refused_in_the_log(user: str, why: str) -> None:
    notes = Notes()
    launch = confined(user, None, notes, TASK_ENVIRONMENT)
    assert launch.sandbox is None
    assert why in notes.warnings[0]


@needs_root
def test_a_sandboxed_process_runs_as_the_sandbox_uid_with_only_the_scrubbed_environment() -> None:
    launch = confined("nobody", None, Notes(), TASK_ENVIRONMENT)
    # As the task makes its work directories: mkdtemp in the temporary directory (pytest's is root's only).
    with tempfile.TemporaryDirectory(prefix="launch-") as made:
        _runs_sandboxed(launch, Path(made))


def _runs_sandboxed(launch: Launch, workdir: Path) -> None:
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    launch.share(workdir)
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o2770
    result = launch.run(
        ["sh", "-c", 'id -u; id -G; env; echo written > "$0/out"', str(workdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    uid, groups, *environment = result.stdout.splitlines()
    assert int(uid) == NOBODY.pw_uid
    assert groups.split() == [str(NOBODY.pw_gid)]  # the task's groups are gone
    names = {line.split("=", 1)[0] for line in environment}
    assert names <= {"PATH", "LANG", "TZ", "PWD", "SHLVL", "_"}  # what sh itself adds
    assert not any("AWS" in line or "secret" in line or "str_1" in line for line in environment)
    assert (workdir / "out").read_text() == "written\n"


@needs_root
def test_a_task_that_may_not_signal_the_sandbox_uid_signals_as_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Fargate the task is not root: a signal of its own to another uid is refused, so it goes through the
    launcher as the sandbox uid (here the refusal is what a non-root task would get)."""
    launch = confined("nobody", None, Notes(), TASK_ENVIRONMENT)
    process = launch.popen(["sleep", "30"], stdin=subprocess.DEVNULL)

    def refused(_signum: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(process, "send_signal", refused)
    launch.signal(process, 9)
    assert process.wait(timeout=10) == -9


def test_a_launcher_that_cannot_switch_is_found_out_before_any_ffmpeg_needs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Its file capabilities lost in a copy, or the container's bounding set without SETUID: the task says
    so and runs ffmpeg under its own uid, rather than failing every stream."""
    monkeypatch.setattr(os, "geteuid", lambda: 10001)
    launcher = tmp_path / "ffmpeg-sandbox"
    refusal = "setpriv: setresuid failed: Operation not permitted"
    launcher.write_text(f"#!/bin/sh\necho '{refusal}' >&2\nexit 127\n")
    launcher.chmod(0o750)
    notes = Notes()
    launch = confined("nobody", str(launcher), notes, TASK_ENVIRONMENT)
    assert launch.sandbox is None
    assert f"could not switch to 'nobody' ({refusal})" in notes.warnings[0]


# --- the pushers, which hold their ingest's key, apart from the readers, which parse what anyone uploads ---


@needs_root
def test_a_reader_cannot_look_into_a_pushers_memory_but_a_process_of_the_pushers_uid_could() -> None:
    readers = confined("nobody", None, Notes(), TASK_ENVIRONMENT)
    notes = Notes()
    pushers = pushers_apart(readers, "daemon", notes)
    assert readers.sandbox is not None
    assert pushers.sandbox == Sandbox(DAEMON.pw_uid, DAEMON.pw_gid, readers.sandbox.launcher)
    assert pushers.env == readers.env
    assert notes.warnings == []
    pusher = pushers.popen(["sleep", "30"], stdin=subprocess.DEVNULL)
    try:
        looks = ["sh", "-c", 'head -c 1 "/proc/$0/environ" > /dev/null', str(pusher.pid)]
        from_reader = readers.run(looks, capture_output=True, text=True, check=False)
        assert from_reader.returncode != 0
        assert "Permission denied" in from_reader.stderr
        assert pushers.run(looks, capture_output=True, check=False).returncode == 0  # the check can see
    finally:
        pushers.signal(pusher, 9)
        pusher.wait(timeout=10)


@pytest.mark.parametrize(
    ("user", "why"),
    [
        ("", "no FFMPEG_PUSHER_USER"),
        ("nobody", "'nobody' is not another unprivileged user"),  # the readers' own
        ("no-such-user-here", "does not exist"),
    ],
)
@needs_root
def test_pushers_without_a_uid_of_their_own_share_the_readers_and_the_log_says_why(
    user: str, why: str
) -> None:
    readers = confined("nobody", None, Notes(), TASK_ENVIRONMENT)
    notes = Notes()
    assert pushers_apart(readers, user, notes) is readers
    assert len(notes.warnings) == 1
    assert "the pushers run under the readers' uid" in notes.warnings[0]
    assert why in notes.warnings[0]


def test_pushers_of_a_task_that_cannot_switch_users_run_as_the_readers_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    readers = confined("nobody", str(tmp_path / "no-launcher"), Notes(), TASK_ENVIRONMENT)
    notes = Notes()
    assert pushers_apart(readers, "daemon", notes) is readers
    assert notes.warnings == []  # confined() said it once
