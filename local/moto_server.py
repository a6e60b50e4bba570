"""moto's server as local mode runs it: its WSGI app, behind a reader of byte ranges of stored objects and
a guard that keeps moto from reading an object PUT's body as a form.

moto answers a GetObject by reading the whole object into memory and slicing the Range out of it, so
each seek of a reader (ffprobe and ffmpeg on a presigned URL, a browser's <video>, boto3's ranged
downloads) copied the whole upload: seconds per request for 2 GB. S3 serves a range in constant time
whatever the object's size, and so does local mode with this in front of moto.

moto also reads the body of a request typed as a form (`application/x-www-form-urlencoded`, urllib's default
for any body, or `multipart/form-data`) as form fields, even on a PUT of an object or a part: it hung until
the client gave up (a binary body) or answered 500. S3 stores such a body as it came."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.exceptions import S3ClientError
from moto.s3.models import FakeKey, s3_backends
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import run_wsgi_app

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


def serve_moto(host: str) -> BaseWSGIServer:
    """moto's server app behind RangedGetObject on a free port of `host`, served by a daemon thread until
    `shutdown()`: what moto.server.ThreadedMotoServer runs, plus the range reader."""
    app = RangedGetObject(PutBodyAsBytes(DomainDispatcherApplication(create_backend_app)))
    server = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    return server


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
        # moto's GET answers a browser with the bucket's CORS rule, its HEAD does not
        and "HTTP_ORIGIN" not in environ
        and all(name in PLAIN_GET_PARAMS for name, _ in query)
    )


def _stored_key(environ: dict[str, Any]) -> FakeKey | None:
    # Read as moto reads it: the raw path unquoted (PATH_INFO is WSGI's latin-1 text), path-style as local
    # mode's clients address the bucket (S3_ADDRESSING_STYLE=path).
    path = unquote(environ.get("RAW_URI", "").split("?", 1)[0])
    bucket, _, name = path.lstrip("/").partition("/")
    owner = s3_backends.bucket_accounts.get(bucket)
    if not name or owner is None:
        return None
    partition, account_id = owner
    version_id = dict(parse_qsl(environ.get("QUERY_STRING", ""))).get("versionId")
    try:
        return s3_backends[account_id][partition].get_object(bucket, name, version_id=version_id)
    except S3ClientError:
        return None


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
