"""Only requests that came through CloudFront: it adds a secret header to each request it sends the API
(infra/constructs/edge.py); a request without it, sent straight to the API's own endpoint, is refused here
before any route's work."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.utilities import parameters

from playout.errors import Forbidden
from playout.resources import ORIGIN_VERIFY_HEADER

SECRET_MAX_AGE_S = 300  # a replaced secret reaches every warm Lambda within 5 minutes

Middleware = Callable[[APIGatewayHttpResolver, NextMiddleware], Response[Any]]


def require_origin_header(secret_arn: str) -> Middleware:
    def middleware(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        sent = (app.current_event.headers or {}).get(ORIGIN_VERIFY_HEADER, "")
        expected = str(parameters.get_secret(secret_arn, max_age=SECRET_MAX_AGE_S))
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Forbidden("requests to this API go through the app's address")
        return next_middleware(app)

    return middleware
