"""Walks the synthesized stream workflow after a task failure, evaluating its JSONata (Catch Assign, Choice
conditions, Wait seconds, Settle arguments) with a JSONata engine, so a test can hold the state machine to
`playout.workflow.next_step` instead of to its own text."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jsonata

from playout.workflow import Action, Step

_RUN_TASKS = ("RunOnSpot", "RunOnDemand")
_ENDS = {"Done": Action.DONE, "SettleEnded": Action.SETTLE_ENDED, "SettleFailed": Action.SETTLE_FAILED}


def evaluate(value: Any, variables: dict[str, Any], states: dict[str, Any] | None = None) -> Any:
    """A field as Step Functions evaluates it: `{% expr %}` strings are JSONata, containers recurse."""
    if isinstance(value, dict):
        return {key: evaluate(item, variables, states) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item, variables, states) for item in value]
    if not (isinstance(value, str) and value.startswith("{%") and value.endswith("%}")):
        return value
    expression = jsonata.Jsonata(value[2:-2].strip())
    expression.register_lambda("parse", json.loads)  # a Step Functions addition to JSONata
    frame = expression.create_frame()
    for name, bound in {**variables, "states": states or {}}.items():
        frame.bind(name, bound)
    return expression.evaluate(None, frame)


def _matches(error: str, error_equals: list[str]) -> bool:
    # States.TaskFailed matches any error but States.Timeout; States.ALL any at all.
    return (
        error in error_equals
        or "States.ALL" in error_equals
        or ("States.TaskFailed" in error_equals and error != "States.Timeout")
    )


@dataclass
class Outcome:
    step: Step
    variables: dict[str, Any]
    path: list[str]


class Workflow:
    def __init__(self, definition: dict[str, Any]) -> None:
        self.states: dict[str, Any] = definition["States"]

    def after_failure(self, state_name: str, error: str, cause: str, variables: dict[str, Any]) -> Outcome:
        """From a run-task state failing with (error, cause) to the next task start or the end of the run."""
        variables = dict(variables)
        catcher = next(c for c in self.states[state_name]["Catch"] if _matches(error, c["ErrorEquals"]))
        states = {"errorOutput": {"Error": error, "Cause": cause}}
        variables.update(evaluate(catcher.get("Assign", {}), variables, states))
        path, current, delay = [state_name], catcher["Next"], 0.0
        while True:
            path.append(current)
            state = self.states[current]
            if current in _ENDS:
                action = _ENDS[current]
                reason = variables.get("reason", "") if action is Action.SETTLE_FAILED else ""
                return Outcome(Step(action, reason=reason), variables, path)
            if current in _RUN_TASKS:
                action = Action.RETRY if delay else Action.RESUME
                return Outcome(Step(action, crashes=variables["crashes"], delay_s=delay), variables, path)
            if state["Type"] == "Choice":
                rule = next(r for r in state["Choices"] if evaluate(r["Condition"], variables) is True)
                variables.update(evaluate(rule.get("Assign", {}), variables))
                current = rule["Next"]
            elif state["Type"] == "Wait":
                delay = float(evaluate(state["Seconds"], variables))
                current = state["Next"]
            else:
                raise AssertionError(f"unexpected state {current} ({state['Type']}) after a task failure")
