"""The API's OpenAPI document, made at synth from the code being deployed: CloudFront serves it from the site
bucket as a static file, so that the public `/api/openapi.json` invokes no Lambda.

It is what the API Lambda's own route answers: the handler is imported in a child process (its settings are
read from the environment at import: only names are given, nothing is called) and `GET /api/openapi.json` is
resolved through its router.

    python -m infra.openapi_document > openapi.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OPENAPI_PATH = "/api/openapi.json"
# What the handler's settings require at import; none of it is reached.
_IMPORT_ENVIRONMENT = {
    "TABLE_NAME": "openapi-document",
    "MEDIA_BUCKET": "openapi-document",
    "KEY_ID": "openapi-document",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Playout",
}


def openapi_document(repo_root: Path = REPO_ROOT) -> str:
    """The document as the API serves it (JSON text)."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "PLAYOUT_"))
    }
    result = subprocess.run(
        [sys.executable, "-m", "infra.openapi_document"],
        cwd=repo_root,
        env={**environment, **_IMPORT_ENVIRONMENT},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the API's OpenAPI document could not be made:\n{result.stderr[-4000:]}")
    json.loads(result.stdout)  # a document, or the synth fails here
    return result.stdout


def _resolve_in_this_process() -> str:
    for import_root in (REPO_ROOT / "functions", REPO_ROOT / "layers"):
        sys.path.insert(0, str(import_root))
    from api import handler

    event = {
        "version": "2.0",
        "routeKey": f"GET {OPENAPI_PATH}",
        "rawPath": OPENAPI_PATH,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {
            "http": {"method": "GET", "path": OPENAPI_PATH, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "routeKey": f"GET {OPENAPI_PATH}",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    response = handler.app.resolve(event, None)  # type: ignore[arg-type]  # the route reads no context
    if response["statusCode"] != 200:
        raise RuntimeError(f"GET {OPENAPI_PATH} answered {response['statusCode']}: {response['body'][:500]}")
    return str(response["body"])


if __name__ == "__main__":
    sys.stdout.write(_resolve_in_this_process())
