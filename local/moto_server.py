"""moto's server as local mode runs it: its WSGI app behind layers that make it answer the requests of
local mode's flows (a browser's presigned multipart upload and <img>, boto3, urllib, curl, ffmpeg) as S3
does. Each layer fixes one difference found between moto and S3, with a test in tests/integration/
test_local_s3_*.py:

- BucketCors: CORS from the bucket's rules as S3 evaluates them. moto granted every preflight of a bucket
  with CORS whatever the method or headers asked, and its server (flask-cors) allowed any origin to read
  any response, so a page of another origin could read what S3 would have kept from it.
- PresignedRequests: a presigned (SigV4 query) request is checked as S3 checks it: its signature over the
  method, path, query and signed headers, its expiry, its access key. moto checked none of it, so a part
  PUT of another length than the content-length its URL signs was stored where S3 answers 403.
- MultipartUploads: NoSuchUpload (404) for an upload id S3 does not know under that key: moto answered 500
  to a part PUT or a complete after an abort, and aborted an upload named under another key (a complete
  retried after its success still answers as the first, as in S3 and moto). Each upload is listed with the
  time it began (moto: 2010-11-10 for all), by key then that time.
- QuietDeleteObjects: DeleteObjects in quiet mode lists only the keys it failed to delete, as S3 does.
- RangedGetObject: a byte range of a stored object read from those bytes alone. moto read the whole object
  into memory to cut a range out of it, so each seek of a reader (ffprobe and ffmpeg on a presigned URL, a
  browser's <video>, boto3's ranged downloads) copied the whole upload: seconds per request for 2 GB.
- ServedHostsOnly (local/hosts.py): 421 to a request naming another host than 127.0.0.1 or localhost (with
  the server's port). moto answered any Host, so a page rebound to 127.0.0.1 could read every bucket, table,
  key and user pool (moto takes any credentials).
- PutBodyAsBytes: moto read the body of a request typed as a form (`application/x-www-form-urlencoded`,
  urllib's default for any body, or `multipart/form-data`) as form fields, even on a PUT of an object or a
  part: it hung until the client gave up (a binary body) or answered 500. S3 stores such a body as it came.

Requests to moto's other services (DynamoDB, KMS, Cognito) pass through all of them untouched."""

from __future__ import annotations

import hashlib
import hmac
import io
import re
import secrets
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.exceptions import S3ClientError
from moto.s3.models import FakeBucket, FakeKey, s3_backends
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import run_wsgi_app

from local.hosts import ServedHostsOnly

CHUNK_BYTES: Final = 1024 * 1024
# A plain GetObject's query: a presigned URL's signature (v4 or v2), the version, boto3's operation marker.
PLAIN_GET_PARAMS: Final = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
        "Signature",
        "Expires",
        "versionId",
        "x-id",
    }
)
_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
FORM_CONTENT_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
_QUIET: Final = re.compile(rb"<Quiet>\s*true\s*</Quiet>", re.IGNORECASE)
_DELETED: Final = re.compile(rb"<Deleted>.*?</Deleted>", re.DOTALL)

SIGV4_ALGORITHM: Final = "AWS4-HMAC-SHA256"
SIGV4_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
MAX_PRESIGNED_EXPIRY_S: Final = 7 * 24 * 3600  # S3 refuses a presigned URL valid for longer than a week
UNSIGNED_PAYLOAD: Final = "UNSIGNED-PAYLOAD"
S3_XML_NAMESPACE: Final = "http://s3.amazonaws.com/doc/2006-03-01/"
# The headers S3 varies its CORS answer on, sent with every answer a CORS rule allowed.
CORS_VARY: Final = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
CORS_NOT_ALLOWED: Final = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
    "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted "
    "by the resource's CORS spec."
)
NO_SUCH_UPLOAD: Final = (
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted "
    "or completed."
)


def serve_moto(host: str, credentials: Mapping[str, str]) -> BaseWSGIServer:
    """moto's server app behind the layers of this module on a free port of `host`, served by a daemon
    thread until `shutdown()`: what moto.server.ThreadedMotoServer runs, answering as S3 does.

    `credentials` (access key id: secret key) are the ones presigned URLs may be signed with, as S3 knows
    its account's keys: a URL signed with another key is refused (InvalidAccessKeyId)."""
    moto = DomainDispatcherApplication(create_backend_app)
    inner = MultipartUploads(QuietDeleteObjects(RangedGetObject(PutBodyAsBytes(moto))))
    app = ServedHostsOnly(BucketCors(PresignedRequests(inner, credentials)))
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    app.port = server.server_port
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    return server


@dataclass(frozen=True)
class S3Target:
    """The bucket (and key, "" for the bucket itself) an S3 request names, path-style as local mode's
    clients address the bucket (S3_ADDRESSING_STYLE=path)."""

    backend: Any
    bucket: FakeBucket
    key: str


def s3_target(environ: dict[str, Any]) -> S3Target | None:
    """What `environ` asks of an existing bucket, or None (another service of moto's, an unknown bucket)."""
    # Read as moto reads it: the raw path unquoted (PATH_INFO is WSGI's latin-1 text).
    path = unquote(environ.get("RAW_URI", "").split("?", 1)[0])
    bucket_name, _, key = path.lstrip("/").partition("/")
    owner = s3_backends.bucket_accounts.get(bucket_name)
    if owner is None:
        return None
    partition, account_id = owner
    backend = s3_backends[account_id][partition]
    try:
        return S3Target(backend, backend.get_bucket(bucket_name), key)
    except S3ClientError:
        return None


@dataclass(frozen=True)
class S3Error:
    """An error as S3 words it: the status, and the code, message and details of its XML body."""

    status: str
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()

    def respond(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        _discard_body(environ)  # read before answering, so that the client sees the answer, not a reset
        request_id = secrets.token_hex(8).upper()
        fields = [("Code", self.code), ("Message", self.message), *self.details, ("RequestId", request_id)]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            + "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields)
            + "</Error>"
        ).encode()
        if environ.get("REQUEST_METHOD") == "HEAD":
            body = b""  # S3 answers a HEAD with the status alone
        start_response(
            self.status,
            [
                ("Content-Type", "application/xml"),
                ("Content-Length", str(len(body))),
                ("x-amz-request-id", request_id),
            ],
        )
        return [body]


class BucketCors:
    """CORS as S3 answers it from the bucket's rules (the first rule that matches the origin, the method and
    every requested header), on every request to a bucket.

    A preflight (OPTIONS) is answered here: 200 with the rule's headers, the requested headers echoed, or
    403 with no CORS header when no rule matches. Any other request goes on, and its answer carries the CORS
    headers of the rule that matches its origin and method, and no others: moto's own (and flask-cors's,
    which allowed every origin) are dropped."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = s3_target(environ)
        if target is None:
            return self._app(environ, start_response)
        origin = environ.get("HTTP_ORIGIN", "")
        if environ.get("REQUEST_METHOD") == "OPTIONS":
            return self._preflight(environ, start_response, target, origin)
        method = environ.get("REQUEST_METHOD", "")
        rule = _cors_rule(target.bucket, origin, method, []) if origin else None
        cors = _cors_headers(rule, origin, [], signed="HTTP_AUTHORIZATION" in environ) if rule else []

        def with_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(name, value) for name, value in headers if not _is_cors_header(name)]
            return start_response(status, kept + cors, exc_info)

        return self._app(environ, with_cors)

    @staticmethod
    def _preflight(
        environ: dict[str, Any], start_response: Any, target: S3Target, origin: str
    ) -> Iterable[bytes]:
        method = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD", "")
        requested = [
            name.strip().lower()
            for name in environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "").split(",")
            if name.strip()
        ]
        details = (("Method", method or "OPTIONS"), ("ResourceType", "OBJECT" if target.key else "BUCKET"))
        if not origin:
            error = S3Error(
                "400 Bad Request", "BadRequest", "Insufficient information. Origin request header needed."
            )
            return error.respond(environ, start_response)
        if not target.bucket.cors:
            error = S3Error(
                "403 Forbidden",
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
                details,
            )
            return error.respond(environ, start_response)
        rule = _cors_rule(target.bucket, origin, method, requested)
        if rule is None:
            return S3Error("403 Forbidden", "AccessForbidden", CORS_NOT_ALLOWED, details).respond(
                environ, start_response
            )
        headers = _cors_headers(rule, origin, requested, signed=False)
        start_response("200 OK", [*headers, ("Content-Length", "0")])
        return [b""]


def _cors_rule(bucket: FakeBucket, origin: str, method: str, requested_headers: list[str]) -> Any:
    """The first of the bucket's CORS rules that allows `origin`, `method` and every requested header."""
    for rule in bucket.cors:
        if (
            method in (rule.allowed_methods or [])
            and any(_wildcard_match(allowed, origin) for allowed in rule.allowed_origins or [])
            and all(
                any(_wildcard_match(allowed.lower(), header) for allowed in rule.allowed_headers or [])
                for header in requested_headers
            )
        ):
            return rule
    return None


def _cors_headers(
    rule: Any, origin: str, requested_headers: list[str], signed: bool
) -> list[tuple[str, str]]:
    any_origin = "*" in (rule.allowed_origins or [])
    # S3 answers a rule of any origin with `*`, unless the request was signed in its headers.
    headers = [("Access-Control-Allow-Origin", "*" if any_origin and not signed else origin)]
    if not any_origin:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    headers.append(("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods)))
    if requested_headers:
        headers.append(("Access-Control-Allow-Headers", ", ".join(requested_headers)))
    if rule.exposed_headers:
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule.exposed_headers)))
    if rule.max_age_seconds is not None:
        headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
    headers.append(("Vary", CORS_VARY))
    return headers


def _is_cors_header(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("access-control-") or lowered == "vary"


def _wildcard_match(pattern: str, value: str) -> bool:
    """S3's match of an AllowedOrigin or AllowedHeader: equal, or `*` standing for any characters."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), value) is not None


class PresignedRequests:
    """Refuses a presigned request (SigV4 in the query) as S3 would: 403 SignatureDoesNotMatch when the
    signature is not the one of this request (another method, path, query, or value of a signed header: a
    part PUT of another length than the `content-length` its URL signs), 403 AccessDenied once expired,
    403 InvalidAccessKeyId for a key the server does not know, 400 for a malformed or week-long URL.

    Requests signed in their headers (boto3's own calls) are taken as moto takes them, unchecked."""

    def __init__(self, app: Any, credentials: Mapping[str, str]) -> None:
        self._app = app
        self._credentials = dict(credentials)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        pairs = _query_pairs(environ)
        names = {name for name, _ in pairs}
        if (
            not names & {"X-Amz-Algorithm", "X-Amz-Signature"}
            or environ.get("REQUEST_METHOD") == "OPTIONS"  # a preflight carries no credentials of its own
            or s3_target(environ) is None
        ):
            return self._app(environ, start_response)
        error = self._refusal(environ, pairs)
        if error is not None:
            return error.respond(environ, start_response)
        return self._app(environ, start_response)

    def _refusal(self, environ: dict[str, Any], pairs: list[tuple[str, str]]) -> S3Error | None:
        params = dict(pairs)
        missing = [
            name
            for name in (
                "X-Amz-Algorithm",
                "X-Amz-Credential",
                "X-Amz-Signature",
                "X-Amz-Date",
                "X-Amz-Expires",
            )
            if not params.get(name)
        ]
        if missing or "X-Amz-SignedHeaders" not in params:
            return _query_auth_error(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
            )
        if params["X-Amz-Algorithm"] != SIGV4_ALGORITHM:
            return _query_auth_error(f'X-Amz-Algorithm only supports "{SIGV4_ALGORITHM}"')
        access_key, _, scope = params["X-Amz-Credential"].partition("/")
        scope_parts = scope.split("/")
        if len(scope_parts) != 4 or scope_parts[3] != "aws4_request":
            return _query_auth_error(
                f"Error parsing the X-Amz-Credential parameter: {params['X-Amz-Credential']}"
            )
        try:
            expires_s = int(params["X-Amz-Expires"])
            signed_at = datetime.strptime(params["X-Amz-Date"], SIGV4_DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return _query_auth_error("X-Amz-Date and X-Amz-Expires must be a date and a number of seconds.")
        if not 0 <= expires_s <= MAX_PRESIGNED_EXPIRY_S:
            return _query_auth_error(
                f"X-Amz-Expires must be less than a week (in seconds) that is; {MAX_PRESIGNED_EXPIRY_S}"
            )
        secret = self._credentials.get(access_key)
        if secret is None:
            return S3Error(
                "403 Forbidden",
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
                (("AWSAccessKeyId", access_key),),
            )
        now = datetime.now(UTC)
        expires_at = signed_at + timedelta(seconds=expires_s)
        if now > expires_at:
            return S3Error(
                "403 Forbidden",
                "AccessDenied",
                "Request has expired",
                (
                    ("X-Amz-Expires", str(expires_s)),
                    ("Expires", expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")),
                    ("ServerTime", now.strftime("%Y-%m-%dT%H:%M:%SZ")),
                ),
            )
        canonical = canonical_request(environ, pairs, params["X-Amz-SignedHeaders"].split(";"))
        string_to_sign = "\n".join(
            [SIGV4_ALGORITHM, params["X-Amz-Date"], scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        expected = sigv4_signature(secret, scope_parts, string_to_sign)
        if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return S3Error(
                "403 Forbidden",
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
                (
                    ("AWSAccessKeyId", access_key),
                    ("StringToSign", string_to_sign),
                    ("SignatureProvided", params["X-Amz-Signature"]),
                    ("CanonicalRequest", canonical),
                ),
            )
        return None


def canonical_request(
    environ: dict[str, Any], pairs: list[tuple[str, str]], signed_headers: list[str]
) -> str:
    """SigV4's canonical request of a presigned S3 request as it arrived (the payload unsigned)."""
    path = quote(unquote(environ.get("RAW_URI", "").split("?", 1)[0]), safe="/~")
    query = "&".join(
        f"{name}={value}"
        for name, value in sorted(
            (_uri_encode(name), _uri_encode(value)) for name, value in pairs if name != "X-Amz-Signature"
        )
    )
    headers = "".join(f"{name}:{_header_value(environ, name)}\n" for name in signed_headers)
    payload = dict(pairs).get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
    return "\n".join(
        [environ.get("REQUEST_METHOD", ""), path, query, headers, ";".join(signed_headers), payload]
    )


def sigv4_signature(secret: str, scope: list[str], string_to_sign: str) -> str:
    """The SigV4 signature of `string_to_sign` with the key derived from `secret` for `scope` (date, region,
    service, aws4_request)."""
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _query_auth_error(message: str) -> S3Error:
    return S3Error("400 Bad Request", "AuthorizationQueryParametersError", message)


def _query_pairs(environ: dict[str, Any]) -> list[tuple[str, str]]:
    # Split by hand, not with parse_qsl: a `+` in the query is a plus to SigV4, not a space.
    pairs = []
    for item in environ.get("QUERY_STRING", "").split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((unquote(name), unquote(value)))
    return pairs


def _uri_encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _header_value(environ: dict[str, Any], name: str) -> str:
    key = {"content-type": "CONTENT_TYPE", "content-length": "CONTENT_LENGTH"}.get(
        name, "HTTP_" + name.upper().replace("-", "_")
    )
    return " ".join(str(environ.get(key, "")).split())


class MultipartUploads:
    """What S3 answers about multipart uploads where moto does not.

    A request naming an upload (a part PUT, a complete, an abort, a list of parts) whose id the bucket does
    not hold under that key is answered 404 NoSuchUpload, but for a complete retried after it succeeded,
    which S3 answers as it did the first time. A listing of uploads (ListMultipartUploads) says
    when each began, by key then that time; moto lists every upload as begun on 2010-11-10, which would
    make any sweep of abandoned uploads abort those still being sent."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._initiated: dict[str, datetime] = {}  # upload id: when it began (until completed or aborted)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = s3_target(environ)
        if target is None:
            return self._app(environ, start_response)
        query = dict(_query_pairs(environ))
        method = environ.get("REQUEST_METHOD")
        upload_id = query.get("uploadId")
        if upload_id is not None and target.key:
            multipart = target.bucket.multiparts.get(upload_id)
            retried_complete = method == "POST" and _completed_by(target, upload_id)
            if (multipart is None and not retried_complete) or (
                multipart and multipart.key_name != target.key
            ):
                error = S3Error("404 Not Found", "NoSuchUpload", NO_SUCH_UPLOAD, (("UploadId", upload_id),))
                return error.respond(environ, start_response)
            if method in ("POST", "DELETE"):
                return self._ending(environ, start_response, upload_id)
        if "uploads" in query and method == "POST" and target.key:
            began = datetime.now(UTC)
            body = self._app(environ, start_response)
            for started in list(target.bucket.multiparts):
                self._initiated.setdefault(started, began)
            return body
        if "uploads" in query and method == "GET" and not target.key:
            return self._listing(environ, start_response)
        return self._app(environ, start_response)

    def _ending(self, environ: dict[str, Any], start_response: Any, upload_id: str) -> Iterable[bytes]:
        def forgetting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("2"):
                self._initiated.pop(upload_id, None)
            return start_response(status, headers, exc_info)

        return self._app(environ, forgetting)

    def _listing(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        status, headers, body = _buffered(self._app, environ)
        return _respond(
            start_response, status, headers, self._with_initiated(body) if status.startswith("200") else body
        )

    def _with_initiated(self, listing: bytes) -> bytes:
        ns = f"{{{S3_XML_NAMESPACE}}}"
        root = ET.fromstring(listing)  # noqa: S314 - moto's own answer, not a client's
        uploads = root.findall(f"{ns}Upload")
        now = datetime.now(UTC)
        for upload in uploads:
            began = self._initiated.get(upload.findtext(f"{ns}UploadId", ""), now)
            initiated = upload.find(f"{ns}Initiated")
            if initiated is None:
                initiated = ET.SubElement(upload, f"{ns}Initiated")
            initiated.text = began.strftime("%Y-%m-%dT%H:%M:%S.") + f"{began.microsecond // 1000:03d}Z"
            root.remove(upload)
        for upload in sorted(
            uploads, key=lambda u: (u.findtext(f"{ns}Key", ""), u.findtext(f"{ns}Initiated", ""))
        ):
            root.append(upload)
        ET.register_namespace("", S3_XML_NAMESPACE)
        return bytes(ET.tostring(root, encoding="UTF-8", xml_declaration=True))


def _completed_by(target: S3Target, upload_id: str) -> bool:
    """Whether the object at the target's key is the one `upload_id` completed: S3 (and moto) answer a
    complete retried after its success as they answered the first."""
    try:
        stored = target.backend.get_object(target.bucket.name, target.key)
    except S3ClientError:
        return False
    return stored is not None and stored.multipart is not None and stored.multipart.id == upload_id


class QuietDeleteObjects:
    """DeleteObjects in quiet mode answers as S3 does: with the keys it could not delete alone (moto listed
    every deleted key as well)."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        names = {name for name, _ in _query_pairs(environ)}
        if environ.get("REQUEST_METHOD") != "POST" or "delete" not in names or s3_target(environ) is None:
            return self._app(environ, start_response)
        length = environ.get("CONTENT_LENGTH")
        request = environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()
        environ = {**environ, "wsgi.input": io.BytesIO(request)}
        if not _QUIET.search(request):
            return self._app(environ, start_response)
        status, headers, body = _buffered(self._app, environ)
        if status.startswith("200"):
            body = _DELETED.sub(b"", body)
        return _respond(start_response, status, headers, body)


class RangedGetObject:
    """Answers a plain GetObject with a Range from the stored bytes of the range alone.

    moto is asked the same request as a HEAD first, so it still decides everything but the body: access,
    conditions, whether the range is satisfiable, the status and every header (ETag, Content-Range,
    Content-Length). Only when that answer is 206 does the body come from here. Everything else, a 416 or
    a range moto ignores included, is moto's own answer, as it was."""

    def __init__(self, moto_app: Any) -> None:
        self._moto = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if not _is_plain_ranged_get(environ):
            return self._moto(environ, start_response)
        _, status, headers = run_wsgi_app(self._moto, {**environ, "REQUEST_METHOD": "HEAD"}, buffered=True)
        span = _CONTENT_RANGE.fullmatch(headers.get("Content-Range", ""))
        key = _stored_key(environ) if status.startswith("206") and span else None
        if key is None or span is None:
            return self._moto(environ, start_response)
        first, last, size = int(span[1]), int(span[2]), int(span[3])
        if (
            # the key moto answered for, not one stored since its HEAD
            key.etag != headers.get("ETag")
            or key.size != size
            # a range of the whole object keeps its checksum, which moto's HEAD words unlike its GET
            or (first == 0 and last == size - 1 and environ.get("HTTP_X_AMZ_CHECKSUM_MODE") == "ENABLED")
        ):
            return self._moto(environ, start_response)
        start_response(status, headers.to_wsgi_list())
        return _read(key, first, last)


class PutBodyAsBytes:
    """Hands moto a PUT typed as a form without its Content-Type, so that it takes the body as bytes.

    Only S3 PUTs a body of data (the AWS APIs that send forms POST them). S3 ignores a part's Content-Type;
    an object's is stored with it, so after a PutObject it is set on the stored object as S3 would have."""

    def __init__(self, moto_app: Any) -> None:
        self._moto = moto_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        content_type = environ.get("CONTENT_TYPE", "")
        if environ.get("REQUEST_METHOD") != "PUT" or not content_type.lower().startswith(FORM_CONTENT_TYPES):
            return self._moto(environ, start_response)
        environ = {name: value for name, value in environ.items() if name != "CONTENT_TYPE"}
        query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        if "partNumber" in query or "HTTP_X_AMZ_COPY_SOURCE" in environ:
            return self._moto(environ, start_response)
        statuses: list[str] = []

        def recording_status(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        body = self._moto(environ, recording_status)
        key = _stored_key(environ) if statuses and statuses[0].startswith("200") else None
        if key is not None:
            key.set_metadata({"Content-Type": content_type})
        return body


def _is_plain_ranged_get(environ: dict[str, Any]) -> bool:
    query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    return (
        environ.get("REQUEST_METHOD") == "GET"
        and bool(environ.get("HTTP_RANGE"))
        and all(name in PLAIN_GET_PARAMS for name, _ in query)
    )


def _stored_key(environ: dict[str, Any]) -> FakeKey | None:
    target = s3_target(environ)
    if target is None or not target.key:
        return None
    version_id = dict(parse_qsl(environ.get("QUERY_STRING", ""))).get("versionId")
    try:
        key: FakeKey | None = target.backend.get_object(target.bucket.name, target.key, version_id=version_id)
        return key
    except S3ClientError:
        return None


def _discard_body(environ: dict[str, Any]) -> None:
    stream = environ.get("wsgi.input")
    if stream is None:
        return
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    until_end = bool(environ.get("wsgi.input_terminated")) and not remaining  # a chunked body
    while until_end or remaining > 0:
        chunk = stream.read(CHUNK_BYTES if until_end else min(CHUNK_BYTES, remaining))
        if not chunk:
            return
        remaining -= len(chunk)


def _buffered(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """`app`'s whole answer to `environ` (for answers of a few KB that are rewritten before they are sent)."""
    answer: list[Any] = []

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer[:] = [status, headers]
        return lambda data: None

    body = b"".join(app(environ, capture))
    status, headers = answer
    return status, headers, body


def _respond(start_response: Any, status: str, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
    kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
    start_response(status, [*kept, ("Content-Length", str(len(body)))])
    return [body]


def _read(key: FakeKey, first: int, last: int) -> Iterator[bytes]:
    position = first
    while position <= last:
        try:
            # One file position for every reader of the key: moto's own reads hold this lock too.
            with key.lock:
                key._value_buffer.seek(position)
                chunk = key._value_buffer.read(min(CHUNK_BYTES, last + 1 - position))
        except ValueError:  # the key was deleted while read: its file is closed
            return
        if not chunk:
            return
        position += len(chunk)
        yield chunk
