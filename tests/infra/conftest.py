"""One synth per session: `python infra/app.py` in a subprocess (exactly what `cdk synth` runs), with a tiny
SPA build passed through the `web_dist` context so the hashed-asset deployment is synthesized too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_NAME = "Playout-prod"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "infra: synthesizes the CDK app (cdk-nag, cfn-lint); ~10 s per session"
    )


@dataclass(frozen=True)
class Synth:
    outdir: Path
    returncode: int
    output: str
    seconds: float

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{STACK_NAME}.template.json"

    @property
    def template(self) -> dict[str, Any]:
        return json.loads(self.template_path.read_text())

    @property
    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())


def _ensure_layer_built() -> None:
    """Idempotent: pip runs only when layers/requirements.txt changed; `playout` is refreshed every time."""
    subprocess.run(
        [sys.executable, "-m", "infra.layer_build"], cwd=REPO_ROOT, check=True, capture_output=True
    )


def _write_tiny_spa(dist: Path) -> None:
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(
        '<!doctype html><script type="module" src="/assets/app.1a2b3c.js"></script>'
    )
    (dist / "assets" / "app.1a2b3c.js").write_text("console.log('playout');\n")


ALARM_EMAIL = "ops@example.com"  # the session's synth names one: its subscription is synthesized and checked


def _synthesize(
    work: Path, context: dict[str, object] | None = None, environment: dict[str, str] | None = None
) -> Synth:
    dist = work / "dist"
    _write_tiny_spa(dist)
    outdir = work / "cdk.out"
    env = {
        **os.environ,
        **(environment or {}),
        "CDK_OUTDIR": str(outdir),
        "CDK_CONTEXT_JSON": json.dumps({"web_dist": str(dist), **(context or {})}),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    }
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "infra/app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    return Synth(
        outdir=outdir,
        returncode=result.returncode,
        output=result.stdout + result.stderr,
        seconds=time.monotonic() - started,
    )


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    _ensure_layer_built()
    return _synthesize(tmp_path_factory.mktemp("cdk"), {"alarm_email": ALARM_EMAIL})


# The edge with everything on: a domain with its certificate, and WAF (which needs the stack in us-east-1),
# synthesized for an account and region as `cdk deploy` does (its nag findings then name them by value).
EDGE_CONTEXT: dict[str, object] = {
    "domain_name": "app.example.com",
    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    "waf_enabled": "true",
    "waf_rate_limit": 500,
}


@pytest.fixture(scope="session")
def edge_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """A second synth, of the stack with a domain and WAF and no alarm email."""
    _ensure_layer_built()
    return _synthesize(
        tmp_path_factory.mktemp("cdk-edge"),
        EDGE_CONTEXT,
        {"CDK_DEFAULT_REGION": "us-east-1", "CDK_DEFAULT_ACCOUNT": "123456789012"},
    )


@pytest.fixture(scope="session")
def synth_without_alarm_email(edge_synth: Synth) -> Synth:
    """The stack without `alarm_email`: the edge synth names none (one synth fewer per session)."""
    return edge_synth


@pytest.fixture(scope="session")
def template(synth: Synth) -> dict[str, Any]:
    assert synth.returncode == 0, synth.output[-6000:]
    return synth.template


@pytest.fixture(scope="session")
def resources_by_type(template: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for logical_id, resource in template["Resources"].items():
        by_type.setdefault(resource["Type"], []).append({"LogicalId": logical_id, **resource})
    return by_type
