"""Every request held to the discovery document google-api-python-client ships (youtube.v3.json).

What is checked, and refused the way Google's front end refuses it:
- the method: the HTTP method and path of a method of the document (its simple/resumable upload paths too);
- the query: only the method's parameters and the document's global ones (`alt`, `fields`, `key`, ...);
  each present at most once unless `repeated`; every `required` one present; values of their `type`
  (boolean, integer in its `minimum`/`maximum`), of their `enum`;
- `part`: each comma-separated name is a property of the method's resource (the request schema, or the
  response's item schema for a list), `kind` and `etag` aside;
- the body of a method with a request schema: a JSON object whose every name, at every depth, is a property
  of its schema, of the property's type, enum and format (date-time, byte, int64 as a string);
- an upload: `uploadType`, a media type the method accepts, its maximum size.
"""

from __future__ import annotations

import base64
import binascii
import email.message
import email.parser
import email.policy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any, Final

from googleapiclient.discovery_cache import get_static_doc

from local.youtube_emulator import errors

PART: Final = "part"
NOT_PARTS: Final = frozenset({"kind", "etag"})
UPLOAD_TYPES: Final = frozenset({"media", "multipart"})
_INTEGER_TYPES: Final = {
    "int32": "TYPE_INT32",
    "uint32": "TYPE_UINT32",
    "int64": "TYPE_INT64",
    "uint64": "TYPE_UINT64",
}
TIMESTAMP_TYPE: Final = "type.googleapis.com/google.protobuf.Timestamp"


@dataclass(frozen=True)
class ApiMethod:
    id: str  # youtube.liveBroadcasts.insert
    http_method: str
    path: str  # /youtube/v3/liveBroadcasts
    parameters: Mapping[str, Mapping[str, Any]]
    request_schema: str | None
    parts: frozenset[str]  # the properties of the method's resource that `part` may name
    media_upload: Mapping[str, Any] | None


@dataclass(frozen=True)
class Media:
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ApiCall:
    """A request that passed every check: its parameters typed, its `part` split, its body parsed."""

    method: ApiMethod
    params: Mapping[str, Any]
    parts: tuple[str, ...]
    body: dict[str, Any] | None
    media: Media | None = None

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class _Route:
    method: ApiMethod
    pattern: re.Pattern[str]
    upload: bool


@dataclass
class DiscoveryDocument:
    document: Mapping[str, Any]
    _routes: list[_Route] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        for method in _methods(self.document["resources"], self.document["schemas"]):
            self._routes.append(_Route(method, _path_pattern(method.path), upload=False))
            for protocol in (method.media_upload or {}).get("protocols", {}).values():
                self._routes.append(_Route(method, _path_pattern(protocol["path"]), upload=True))

    @property
    def schemas(self) -> Mapping[str, Any]:
        return self.document["schemas"]

    def method(self, method_id: str) -> ApiMethod:
        for route in self._routes:
            if route.method.id == method_id:
                return route.method
        raise KeyError(method_id)

    def route(self, http_method: str, path: str) -> tuple[ApiMethod, bool]:
        """The method a request is for, and whether it came to an upload path; 404 as Google's front end."""
        for route in self._routes:
            if route.method.http_method == http_method and route.pattern.fullmatch(path):
                return route.method, route.upload
        raise errors.not_found(path)

    def validate(
        self,
        method: ApiMethod,
        query: Iterable[tuple[str, list[str]]],
        body: bytes,
        content_type: str,
        upload: bool,
    ) -> ApiCall:
        params = self._query(method, query)
        parts = _parts(method, params)
        media: Media | None = None
        json_body: dict[str, Any] | None = None
        if upload:
            metadata, media = _upload(method, params, body, content_type)
            if method.request_schema is not None and metadata is not None:
                json_body = self.check_body(method.request_schema, metadata)
        elif method.media_upload is not None and method.request_schema is None:
            raise errors.media_body_required()
        elif method.request_schema is not None:
            json_body = self.check_body(method.request_schema, _json_object(body))
        return ApiCall(method, params, parts, json_body, media)

    def _query(self, method: ApiMethod, query: Iterable[tuple[str, list[str]]]) -> dict[str, Any]:
        known = {**self.document.get("parameters", {}), **method.parameters}
        params: dict[str, Any] = {}
        for name, values in query:
            spec = known.get(name)
            if spec is None:
                raise errors.invalid_argument(
                    f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                    f"Field '{name}' could not be found in request message.",
                    name,
                )
            if spec.get("repeated"):
                # YouTube takes a repeated value as several parameters or as one comma-separated list
                params[name] = [
                    _typed(name, item.strip(), spec)
                    for value in values
                    for item in value.split(",")
                    if item.strip()
                ]
            elif len(values) > 1:
                raise errors.invalid_argument(
                    f"Invalid JSON payload received. Received multiple values for non-repeated field "
                    f"'{_snake(name)}'.",
                    name,
                )
            else:
                params[name] = _typed(name, values[0], spec)
        for name, spec in method.parameters.items():
            if spec.get("required") and params.get(name) in (None, "", []):
                raise errors.required_parameter(name)
        return params

    def check_body(self, schema_name: str, body: Any) -> dict[str, Any]:
        root = _snake(schema_name)
        self._check_value(body, {"$ref": schema_name}, root, at_root=True)
        return dict(body)

    def _check_value(self, value: Any, spec: Mapping[str, Any], path: str, at_root: bool = False) -> None:
        if "$ref" in spec:
            spec = self.schemas[spec["$ref"]]
        kind = spec.get("type", "any")
        if kind == "object":
            if not isinstance(value, dict):
                raise errors.invalid_argument(
                    f"Invalid value at '{path}' (TYPE_MESSAGE), {json.dumps(value)}", path
                )
            properties = spec.get("properties")
            extra = spec.get("additionalProperties")
            for name, item in value.items():
                if properties is not None and name in properties:
                    self._check_value(item, properties[name], f"{path}.{_snake(name)}")
                elif extra is not None:
                    self._check_value(item, extra, f"{path}[{json.dumps(name)}]")
                else:
                    where = "" if at_root else f" at '{path}'"
                    raise errors.invalid_argument(
                        f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.',
                        path if not at_root else name,
                    )
        elif kind == "array":
            if not isinstance(value, list):
                raise errors.invalid_argument(f"Invalid value at '{path}', {json.dumps(value)}", path)
            for index, item in enumerate(value):
                self._check_value(item, spec.get("items", {}), f"{path}[{index}]")
        elif kind != "any":
            _check_scalar(value, spec, path)


def _check_scalar(value: Any, spec: Mapping[str, Any], path: str) -> None:
    kind, form = spec.get("type"), spec.get("format")
    if "enum" in spec:
        if not isinstance(value, str) or value not in spec["enum"]:
            raise errors.invalid_argument(f"Invalid value at '{path}' (TYPE_ENUM), {json.dumps(value)}", path)
        return
    if kind == "boolean":
        valid, type_name = isinstance(value, bool), "TYPE_BOOL"
    elif kind == "integer":
        type_name = _INTEGER_TYPES.get(form or "int32", "TYPE_INT32")
        valid = _is_integer(value, unsigned=(form or "").startswith("uint"))
    elif kind == "number":
        valid, type_name = isinstance(value, int | float) and not isinstance(value, bool), "TYPE_DOUBLE"
    elif form in ("int64", "uint64"):  # 64-bit integers travel as strings
        type_name = _INTEGER_TYPES[form]
        valid = _is_integer(value, unsigned=form == "uint64")
    elif form == "date-time":
        valid, type_name = isinstance(value, str) and parse_time(value) is not None, TIMESTAMP_TYPE
    elif form == "byte":
        valid, type_name = isinstance(value, str) and _is_base64(value), "TYPE_BYTES"
    else:
        valid, type_name = isinstance(value, str), "TYPE_STRING"
    if not valid:
        raise errors.invalid_argument(f"Invalid value at '{path}' ({type_name}), {json.dumps(value)}", path)


def _typed(name: str, raw: str, spec: Mapping[str, Any]) -> Any:
    kind, field_name = spec.get("type", "string"), _snake(name)
    if "enum" in spec and raw not in spec["enum"]:
        raise errors.invalid_argument(f"Invalid value at '{field_name}' (TYPE_ENUM), \"{raw}\"", name)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise errors.invalid_argument(f"Invalid value at '{field_name}' (TYPE_BOOL), \"{raw}\"", name)
        return raw == "true"
    if kind == "integer":
        form = spec.get("format", "int32")
        if not _is_integer(raw, unsigned=form.startswith("uint")):
            type_name = _INTEGER_TYPES.get(form, "TYPE_INT32")
            raise errors.invalid_argument(f"Invalid value at '{field_name}' ({type_name}), \"{raw}\"", name)
        number = int(raw)
        low, high = spec.get("minimum"), spec.get("maximum")
        if (low is not None and number < int(low)) or (high is not None and number > int(high)):
            raise errors.out_of_range(name, raw, low, high)
        return number
    return raw


def _parts(method: ApiMethod, params: Mapping[str, Any]) -> tuple[str, ...]:
    if PART not in method.parameters:
        return ()
    names = tuple(params.get(PART) or ())
    valid = method.parts
    for name in names:
        if name not in valid:
            raise errors.unknown_part(name)
    return names


def _upload(
    method: ApiMethod, params: Mapping[str, Any], body: bytes, content_type: str
) -> tuple[Any, Media]:
    assert method.media_upload is not None
    upload_type = params.get("uploadType")
    if upload_type not in UPLOAD_TYPES:
        raise errors.bad_upload(
            f"Invalid upload type: {upload_type!r}; the emulator takes uploadType=media or multipart"
        )
    metadata: Any = None
    if upload_type == "multipart":
        metadata, media = _multipart(body, content_type)
    else:
        media = Media(content_type.split(";")[0].strip().lower(), body)
    accepted = [kind.lower() for kind in method.media_upload.get("accept", [])]
    if not _accepts(accepted, media.content_type):
        raise errors.bad_upload(
            f"Media type '{media.content_type}' is not supported. Valid media types: [{', '.join(accepted)}]"
        )
    if len(media.data) > int(method.media_upload.get("maxSize", "0") or 0) > 0:
        raise errors.bad_upload(f"Media larger than {method.media_upload['maxSize']} bytes")
    if not media.data:
        raise errors.media_body_required()
    return metadata, media


def _multipart(body: bytes, content_type: str) -> tuple[Any, Media]:
    """multipart/related: the JSON metadata, then the media (what googleapiclient sends for both)."""
    if not content_type.lower().startswith("multipart/related"):
        raise errors.bad_upload("A multipart upload must be multipart/related")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    parts = list(message.iter_parts()) if message.is_multipart() else []
    if len(parts) != 2:
        raise errors.bad_upload("A multipart upload has two parts: the metadata, then the media")
    metadata_part, media_part = parts
    raw_metadata = _payload(metadata_part)
    metadata = _json_object(raw_metadata) if raw_metadata.strip() else None
    return metadata, Media(media_part.get_content_type().lower(), _payload(media_part))


def _payload(part: email.message.Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _accepts(accepted: list[str], content_type: str) -> bool:
    main = content_type.split("/")[0]
    return any(kind in (content_type, f"{main}/*", "*/*") for kind in accepted)


def _json_object(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except ValueError as error:
        raise errors.invalid_argument(
            f"Invalid JSON payload received. {error.args[0] if error.args else 'Unexpected token'}.", ""
        ) from None


def _methods(resources: Mapping[str, Any], schemas: Mapping[str, Any]) -> Iterable[ApiMethod]:
    for resource in resources.values():
        for spec in resource.get("methods", {}).values():
            request = (spec.get("request") or {}).get("$ref")
            response = (spec.get("response") or {}).get("$ref")
            yield ApiMethod(
                id=spec["id"],
                http_method=spec["httpMethod"],
                path="/" + spec["path"].lstrip("/"),
                parameters=spec.get("parameters", {}),
                request_schema=request,
                parts=_resource_parts(request or _item_schema(response, schemas), schemas),
                media_upload=spec.get("mediaUpload"),
            )
        yield from _methods(resource.get("resources", {}), schemas)


def _item_schema(response: str | None, schemas: Mapping[str, Any]) -> str | None:
    """A list response's item schema (LiveBroadcastListResponse -> LiveBroadcast), else the response's own."""
    if response is None:
        return None
    items = schemas[response].get("properties", {}).get("items", {})
    return items.get("items", {}).get("$ref") if items.get("type") == "array" else response


def _resource_parts(schema_name: str | None, schemas: Mapping[str, Any]) -> frozenset[str]:
    if schema_name is None:
        return frozenset()
    return frozenset(schemas[schema_name].get("properties", {})) - NOT_PARTS


def _path_pattern(path: str) -> re.Pattern[str]:
    path = "/" + path.lstrip("/")
    return re.compile(re.sub(r"\\\{\\?\+?(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _is_integer(value: Any, unsigned: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        number = int(value)
    else:
        return False
    return number >= 0 or not unsigned


def _is_base64(value: str) -> bool:
    try:
        base64.b64decode(
            value + "=" * (-len(value) % 4), altchars=b"-_" if "-" in value or "_" in value else None
        )
    except (binascii.Error, ValueError):
        return False
    return True


def parse_time(value: str) -> datetime | None:
    """An RFC 3339 time as Google takes it (`Z` or an offset, optional fractions); None when it is not one."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


@cache
def youtube_discovery() -> DiscoveryDocument:
    content = get_static_doc("youtube", "v3")
    if content is None:
        raise RuntimeError("google-api-python-client ships no youtube.v3 discovery document")
    return DiscoveryDocument(json.loads(content))
