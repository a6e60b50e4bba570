"""docs/cost.md is what `python -m infra.cost` computes from the template deployed now: it cannot drift."""

from __future__ import annotations

from typing import Any

import pytest

from infra import cost
from infra.constructs.media_jobs import MEDIA_JOB_CONTAINER_NAME
from infra.constructs.streaming import STREAM_CONTAINER_NAME
from playout.usage import STREAM_TASK_SIZE

pytestmark = pytest.mark.infra


def test_docs_cost_md_holds_the_tables_computed_from_the_synthesized_template(
    template: dict[str, Any],
) -> None:
    document = cost.COST_DOC.read_text()
    assert cost.generated_section(document) == cost.render(template), (
        "docs/cost.md is stale: run `python -m infra.cost --write` and commit it"
    )


def test_the_cost_reads_the_stream_task_the_stack_deploys(template: dict[str, Any]) -> None:
    assert (cost.STREAM_CONTAINER, cost.MEDIA_JOB_CONTAINER) == (
        STREAM_CONTAINER_NAME,
        MEDIA_JOB_CONTAINER_NAME,
    )
    facts = cost.deployed(template)
    assert facts.stream_task.size == STREAM_TASK_SIZE
    assert facts.stream_task.architecture == "ARM64"
    assert facts.stream_on_spot
    assert facts.stream_public_ip
    assert facts.sweeps_per_hour == 60
