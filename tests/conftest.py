"""Suite-wide wiring: the expensive session fixtures (one CDK synth, one local-mode stack) each live on
one pytest-xdist worker, so `--dist loadgroup` never builds them twice. A module that names its own
group runs on a worker of its own, with its own session fixtures (tests/e2e/test_seams.py: ten minutes of
real time beside the rest of the suite)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import _pytest.runner
import pytest

_GROUPED_SUITES = ("infra", "e2e")

# pytest takes PYTEST_CURRENT_TEST out of os.environ after each test and puts it back before the next. The
# e2e rigs go on in threads across tests (tests/e2e/test_faults.py's scenarios), and every requests or boto3
# call there reads the proxies by iterating os.environ, which fails (KeyError, or "dictionary changed size")
# when a key leaves or comes in meanwhile: a failure of the suite, not of what it tests. So the variable
# stays, naming the last test, between tests.
_set_current_test = _pytest.runner._update_current_test_var


def _current_test_never_unset(item: pytest.Item, when: Literal["setup", "call", "teardown"] | None) -> None:
    if when is not None:
        _set_current_test(item, when)


_pytest.runner._update_current_test_var = _current_test_never_unset


# The groups in the order xdist hands them out (`--no-loadscope-reorder`: in collection order), longest
# first, so that none starts late and ends the run alone. The seams' ten minutes of clock go first: they
# mostly wait, and the other workers use the cores meanwhile.
_LONGEST_FIRST = (
    "e2e-seams",
    "e2e",
    "faults",
    "media-library",
    "schedule",
    "app-journey",
    "task-image",
    "load_and_faults",
    "youtube-lasting",
    "handover",
    "conform",
    "youtube",
    "infra",
)


def _group(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("xdist_group")
    if marker is None:
        return None
    return str(marker.kwargs.get("name") or marker.args[0])


# tryfirst: xdist reads the group markers in its own collection hook, which must see them.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        # A module may name its own group (a long test that runs beside its suite, on another worker).
        if suite in _GROUPED_SUITES and _group(item) is None:
            item.add_marker(pytest.mark.xdist_group(name=suite))

    def rank(item: pytest.Item) -> int:
        group = _group(item)
        return _LONGEST_FIRST.index(group) if group in _LONGEST_FIRST else len(_LONGEST_FIRST)

    items.sort(key=rank)  # stable: each group's tests, and the rest, keep their order


_SESSION_STARTED = time.time()
_FIGURES = Path(__file__).resolve().parents[1] / "build" / "e2e-figures.json"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The e2e worker writes its measurements to a file: xdist does not show a worker's stdout.
    if _FIGURES.exists() and _FIGURES.stat().st_mtime >= _SESSION_STARTED:
        terminalreporter.write_sep("-", "e2e figures")
        terminalreporter.write_line(_FIGURES.read_text().strip())
