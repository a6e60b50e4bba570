"""The CDK app: one `PlayoutStack` per stage, checked by cdk-nag (AwsSolutions) during synth.

    CDK_OUTDIR=cdk.out python infra/app.py     # or `cdk synth` (reads cdk.json)

Context (`-c stage=dev` with the CDK CLI, or CDK_CONTEXT_JSON without it): see `infra.stack.StageSettings`.

A nag finding that is not acknowledged (see `infra.nag.acknowledge`) fails the synth with a non-zero exit.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

_INFRA_DIR = Path(__file__).resolve().parent
_REPO_ROOT = _INFRA_DIR.parent
# `python infra/app.py` puts infra/ first on sys.path, where infra/constructs/ would shadow the `constructs`
# library: drop it and import through the package root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _INFRA_DIR]
for _import_root in (_REPO_ROOT, _REPO_ROOT / "layers"):
    if str(_import_root) not in sys.path:
        sys.path.insert(0, str(_import_root))

from aws_cdk import App, Environment, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.stack import PlayoutStack, StageSettings  # noqa: E402

# Feature flags this app relies on (set here, not only in cdk.json, so a plain `python infra/app.py` agrees).
FEATURE_FLAGS: dict[str, object] = {
    # ecs:RunTask on the task definition's exact ARN instead of `family:*`.
    "@aws-cdk/aws-stepfunctions-tasks:fixRunEcsTaskPolicy": True,
}


def build_app(context: dict[str, object] | None = None) -> tuple[App, PlayoutStack]:
    app = App(context={**FEATURE_FLAGS, **(context or {})})
    settings = StageSettings.from_context(app)
    stack = PlayoutStack(
        app,
        f"Playout-{settings.stage}",
        settings=settings,
        description=f"Playout ({settings.stage}): stream pre-recorded video to YouTube Live and RTMP(S)",
        env=Environment(
            account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
        ),
    )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack


def unacknowledged_findings(outdir: str) -> list[str]:
    """Every violation left in the validation report, warnings included (CDK only fails synth on errors)."""
    report_path = Path(outdir) / "validation-report.json"
    if not report_path.is_file():
        return []
    report = json.loads(report_path.read_text())
    return [
        f"{violation['ruleName']} ({violation['severity']}) at {construct['constructPath']}"
        for plugin in report.get("pluginReports", [])
        for violation in plugin.get("violations", [])
        for construct in violation.get("violatingConstructs", [])
    ]


def main() -> int:
    app, _ = build_app()
    assembly = app.synth()
    findings = unacknowledged_findings(assembly.directory)
    for finding in findings:
        print(f"unacknowledged cdk-nag finding: {finding}", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
