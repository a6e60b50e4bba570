"""Suite-wide wiring: the expensive session fixtures (one CDK synth, one local-mode stack) each live on
one pytest-xdist worker, so `-n 2 --dist loadgroup` never builds them twice. A module that names its own
group runs on a worker of its own, with its own session fixtures (tests/e2e/test_seams.py: ten minutes of
real time beside the rest of the suite)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

_GROUPED_SUITES = ("infra", "e2e")


# tryfirst: xdist reads the group markers in its own collection hook, which must see them.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        # A module may name its own group (a long test that runs beside its suite, on another worker).
        if suite in _GROUPED_SUITES and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(name=suite))


_SESSION_STARTED = time.time()
_FIGURES = Path(__file__).resolve().parents[1] / "build" / "e2e-figures.json"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # The e2e worker writes its measurements to a file: xdist does not show a worker's stdout.
    if _FIGURES.exists() and _FIGURES.stat().st_mtime >= _SESSION_STARTED:
        terminalreporter.write_sep("-", "e2e figures")
        terminalreporter.write_line(_FIGURES.read_text().strip())
