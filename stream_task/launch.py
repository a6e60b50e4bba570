"""How the task starts ffmpeg and ffprobe: they parse bytes that anyone can upload, so a memory-safety bug in
a demuxer must find nothing worth taking. Each one gets a scrubbed environment (no AWS credentials URI, no
keys, no settings: PATH, LANG, LC_ALL and TZ only) and, where the task can switch users, runs under a uid of
its own, which can neither read the task's /proc/<pid>/environ nor attach to it.

The switch is util-linux's `setpriv`. Run as root (tests and local mode on this machine) it is the system's
own; in the image the task runs as an unprivileged user, so the image holds a copy of setpriv with the file
capabilities cap_setuid and cap_setgid that only the task's group may execute (Fargate's default
capability set keeps SETUID and SETGID in the bounding set, so file capabilities can raise them). setpriv
switches to the sandbox uid, drops its groups, sets no_new_privs and execs ffmpeg, which has no file
capabilities: it starts with none. A process of another uid takes no signal from the task's uid, so a
signal goes the same way: a one-line kill run as the sandbox uid.

The ffmpeg that pushes to an ingest reads the ingest's key (from a pipe) and keeps it in memory, so it runs
under a uid of its own again (`pushers_apart`): a reader taken over cannot look into a pusher's memory.

Where the task can do neither (local mode on a laptop, run as a normal user), ffmpeg runs under the task's
own uid with the scrubbed environment, and the task says so in its log."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stream_task.process import Log

# What ffmpeg needs of the task's environment: where programs are, and how to print text and times.
KEPT_ENVIRONMENT = ("PATH", "LANG", "LC_ALL", "TZ")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"
SETPRIV = "setpriv"
_KILL = "import os, sys; os.kill(int(sys.argv[1]), int(sys.argv[2]))"


def scrubbed_environment(environ: Mapping[str, str]) -> dict[str, str]:
    kept = {name: environ[name] for name in KEPT_ENVIRONMENT if environ.get(name)}
    kept.setdefault("PATH", DEFAULT_PATH)
    return kept


@dataclass(frozen=True)
class Sandbox:
    """The uid and gid ffmpeg runs as, and the program that switches to them."""

    uid: int
    gid: int
    launcher: str

    def prefix(self) -> list[str]:
        return [
            self.launcher,
            f"--reuid={self.uid}",
            f"--regid={self.gid}",
            "--clear-groups",
            "--no-new-privs",
            "--",
        ]


@dataclass(frozen=True)
class Launch:
    """How to start one ffmpeg or ffprobe. `env` None inherits the task's (tests' fake ffmpeg reads its
    script from there); the task itself always passes `confined(...)`."""

    env: dict[str, str] | None = None
    sandbox: Sandbox | None = None

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [*self.sandbox.prefix(), *argv] if self.sandbox is not None else list(argv)

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv(argv), env=self.env, **kwargs)

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        return subprocess.run(self.argv(argv), env=self.env, **kwargs)

    def signal(self, process: subprocess.Popen[bytes], signum: int) -> None:
        """Signals ffmpeg; as its own uid when the task's may not (Fargate: the task is not root)."""
        try:
            process.send_signal(signum)
        except PermissionError:
            if self.sandbox is None:
                raise
            subprocess.run(
                self.argv([sys.executable, "-I", "-S", "-c", _KILL, str(process.pid), str(signum)]),
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
                check=False,
            )

    def share(self, directory: Path) -> None:
        """Lets the sandbox uid read and write in a work directory the task made (mkdtemp makes it 0700):
        its group becomes the sandbox's, and what the task writes there keeps that group."""
        if self.sandbox is None:
            return
        os.chown(directory, -1, self.sandbox.gid)
        os.chmod(directory, 0o2770)  # noqa: S103  (its owner and the sandbox's group only)


DIRECT = Launch()


def confined(
    user: str | None, launcher: str | None, log: Log, environ: Mapping[str, str] = os.environ
) -> Launch:
    """The task's way to start ffmpeg: a scrubbed environment always, under `user` when the task can switch
    (it is root, or `launcher` is a setpriv it may run with cap_setuid/cap_setgid); else it logs why not."""
    env = scrubbed_environment(environ)
    if not user:
        return _unconfined(env, log, "no FFMPEG_USER is set")
    if os.geteuid() == 0:
        program = launcher if launcher and os.access(launcher, os.X_OK) else shutil.which(SETPRIV)
    elif launcher and os.access(launcher, os.X_OK):
        program = launcher
    else:
        why = "the task is not root and has no launcher that may switch users (FFMPEG_LAUNCHER)"
        return _unconfined(env, log, why)
    if program is None:
        return _unconfined(env, log, "setpriv (util-linux) is not installed")
    sandbox = _sandbox(user, program, env, taken=set())
    if isinstance(sandbox, str):
        return _unconfined(env, log, sandbox)
    log.info("ffmpeg and ffprobe run as their own user", extra={"uid": sandbox.uid, "gid": sandbox.gid})
    return Launch(env, sandbox)


def pushers_apart(readers: Launch, user: str | None, log: Log) -> Launch:
    """How the pushers start: as `user`, a uid apart from the readers', when the readers' launch switches
    users. A reader parses what anyone uploads, a pusher holds its ingest's key in memory: under one uid, a
    reader taken over by a demuxer bug could read a pusher's memory (ptrace, /proc/<pid>/mem), and so the
    key. Else the readers' own launch, and the log says why."""
    if readers.sandbox is None:
        return readers  # confined() has said why
    if not user:
        log.warning("the pushers run under the readers' uid: no FFMPEG_PUSHER_USER is set")
        return readers
    sandbox = _sandbox(user, readers.sandbox.launcher, readers.env, taken={readers.sandbox.uid})
    if isinstance(sandbox, str):
        log.warning(f"the pushers run under the readers' uid: {sandbox}")
        return readers
    log.info("the pushers run as their own user", extra={"uid": sandbox.uid, "gid": sandbox.gid})
    return Launch(readers.env, sandbox)


def _unconfined(env: dict[str, str], log: Log, why: str) -> Launch:
    log.warning(f"ffmpeg and ffprobe run under the task's own uid ({os.geteuid()}): {why}")
    return Launch(env, None)


def _sandbox(user: str, program: str, env: dict[str, str] | None, taken: set[int]) -> Sandbox | str:
    """The sandbox that runs as `user` through `program`, tried once; or why there is none. `taken`: the uids
    that `user` must not be, beside root's and the task's own."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, ValueError):
        return f"the user {user!r} does not exist"
    if entry.pw_uid in (0, os.geteuid(), *taken):
        return f"the user {user!r} is not another unprivileged user"
    sandbox = Sandbox(entry.pw_uid, entry.pw_gid, program)
    # Once, before any ffmpeg: a launcher that cannot switch (its file capabilities lost, or dropped from the
    # container's bounding set) would otherwise fail every ffmpeg the task starts.
    tried = subprocess.run(
        [*sandbox.prefix(), "true"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if tried.returncode != 0:
        said = (tried.stderr.strip().splitlines() or [f"exit code {tried.returncode}"])[-1]
        return f"{program} could not switch to {user!r} ({said})"
    return sandbox
