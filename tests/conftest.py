"""Suite-wide wiring: the expensive session fixtures (one CDK synth, one local-mode stack) each live on
one pytest-xdist worker, so `-n 2 --dist loadgroup` never builds them twice."""

from __future__ import annotations

from pathlib import Path

import pytest

_GROUPED_SUITES = ("infra", "e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        suite = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if suite in _GROUPED_SUITES:
            item.add_marker(pytest.mark.xdist_group(name=suite))
