"""The API's error answers: one JSON shape, documented on every route, in plain words."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # a domain error may add fields, e.g. `resets_at`

    code: str = Field(description="stable, for programs: not_found, invalid_state, invalid_input, ...")
    message: str = Field(description="for people: what went wrong, in plain words")


class ErrorOut(BaseModel):
    error: ErrorDetail


class UnauthorizedOut(BaseModel):
    """What the HTTP API's JWT authorizer answers before the function runs (API Gateway's own shape)."""

    message: str


_MEANINGS = {
    HTTPStatus.UNAUTHORIZED: "no valid sign-in token (`Authorization: Bearer <Cognito ID token>`)",
    HTTPStatus.FORBIDDEN: "sent to the API's own endpoint rather than through the app's address (CloudFront)",
    HTTPStatus.NOT_FOUND: "no such resource for this user (another user's answers the same)",
    HTTPStatus.METHOD_NOT_ALLOWED: "the path exists, not with this method",
    HTTPStatus.CONFLICT: "the resource's state does not allow this now",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "over the storage quota",
    HTTPStatus.UNSUPPORTED_MEDIA_TYPE: "the body is not sent as application/json",
    HTTPStatus.UNPROCESSABLE_ENTITY: "the request is malformed or breaks a rule; the message says which",
    HTTPStatus.TOO_MANY_REQUESTS: "too many at once; try again later (see Retry-After when given)",
    HTTPStatus.INTERNAL_SERVER_ERROR: "an unexpected failure; nothing about it is disclosed",
    HTTPStatus.SERVICE_UNAVAILABLE: "YouTube (Google) cannot be reached or is not configured",
}
# Every route can answer these: the request can bypass CloudFront (api/origin.py), be malformed, or something
# unexpected can fail.
_ALWAYS = (HTTPStatus.FORBIDDEN, HTTPStatus.UNPROCESSABLE_ENTITY, HTTPStatus.INTERNAL_SERVER_ERROR)


def answers(
    status: HTTPStatus,
    description: str,
    *errors: HTTPStatus,
    public: bool = False,
    body: bool = False,
    content: bool = True,
) -> dict[int, OpenAPIResponse]:
    """A route's documented responses: its success (schema from the return type unless `content` is False)
    and its errors, each with the error model. `public`: no sign-in, so no 401; `body`: it reads a JSON
    body, so 415 for another media type."""
    success: OpenAPIResponse = {"description": description}
    if not content:
        success["content"] = {}
    documented: dict[int, OpenAPIResponse] = {int(status): success}
    always = {*_ALWAYS, *(() if public else (HTTPStatus.UNAUTHORIZED,))}
    for error in sorted({*errors, *always, *((HTTPStatus.UNSUPPORTED_MEDIA_TYPE,) if body else ())}):
        model = UnauthorizedOut if error == HTTPStatus.UNAUTHORIZED else ErrorOut
        documented[int(error)] = {
            "description": _MEANINGS[error],
            "content": {"application/json": {"model": model}},
        }
    return documented


def strict_json(text: str) -> Any:
    """JSON as RFC 8259 has it: no NaN or Infinity, and any failure to parse (an integer of 5,000 digits,
    nesting deeper than the parser goes) reported as a decoding error, which Powertools answers as bad input
    rather than a server error."""

    def refuse(constant: str) -> Any:
        raise json.JSONDecodeError(f"{constant} is not JSON", text, 0)

    try:
        return json.loads(text, parse_constant=refuse)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as error:
        raise json.JSONDecodeError(str(error), text, 0) from None


_TYPE_WORDS = {
    "string_type": "must be text",
    "string_unicode": "must be valid Unicode text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "datetime_type": "must be a date and time (ISO 8601)",
    "datetime_parsing": "must be a date and time (ISO 8601, e.g. 2030-01-31T20:00:00Z)",
    "datetime_from_date_parsing": "must be a date and time (ISO 8601, e.g. 2030-01-31T20:00:00Z)",
    "timezone_aware": "needs a UTC offset (e.g. Z or +02:00)",
    "extra_forbidden": "is not a field of this request",
    "json_invalid": "is not valid JSON",
    "json_type": "is not valid JSON",
}


def plain_words(error: dict[str, Any], pattern_meanings: dict[str, str]) -> str:
    """One pydantic (or Powertools) validation error as `field: what to do`, e.g. `name: give it a name`."""
    kind = str(error.get("type", ""))
    where = "request body" if kind == "json_invalid" else _location(error.get("loc", ()))
    ctx = error.get("ctx") or {}
    if kind == "missing":
        what = "is missing" if where != "request body" else "is missing: send a JSON object"
    elif kind in _TYPE_WORDS:
        what = _TYPE_WORDS[kind]
    elif kind == "string_too_short":
        what = (
            "give it a value"
            if ctx.get("min_length") == 1
            else f"at least {ctx.get('min_length')} characters"
        )
    elif kind == "string_too_long":
        what = f"at most {ctx.get('max_length')} characters"
    elif kind == "too_short":
        what = f"needs at least {ctx.get('min_length')} item(s)"
    elif kind == "too_long":
        what = f"at most {ctx.get('max_length')} items"
    elif kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        bound = next(iter(ctx.values()), "")
        what = {
            "greater_than": f"must be more than {bound}",
            "greater_than_equal": f"must be at least {bound}",
            "less_than": f"must be less than {bound}",
            "less_than_equal": f"must be at most {bound}",
        }[kind]
    elif kind == "string_pattern_mismatch":
        what = pattern_meanings.get(str(ctx.get("pattern")), "is not in the expected form")
    elif kind in {"literal_error", "enum"}:
        what = f"must be one of {ctx.get('expected')}"
    elif kind in {"value_error", "assertion_error"}:
        what = str(ctx.get("error") or error.get("msg", "is invalid"))
    else:
        what = str(error.get("msg", "is invalid")).lower()
    return f"{where}: {what}"


def _location(loc: Any) -> str:
    """`("body", "media_ids", 3)` as `media_ids[3]`; the whole body as `request body`."""
    parts = [p for p in loc if p not in {"body", "query", "path", "header"}] if loc else []
    if not parts:
        return "request body"
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
