"""Import from URL: fetch a user's http(s) link into an S3 object, safely and in bounded memory.

The body streams through one part buffer into an S3 multipart upload; a dropped connection resumes with
a Range request from the bytes already stored, and only when the server proves it is still the same file
(206, the matching Content-Range, the same validator); otherwise the import restarts from zero rather
than splice two files. Any failure aborts the multipart upload, so nothing half-imported is stored.

SSRF: only http and https; links carrying a user name or password are refused (the job would otherwise
keep the credentials in its logs and history, and the user can share a link that works without them, such
as a signed URL). Every URL, redirects included, is checked before it is requested, and the socket itself
is opened to an address checked at that moment (DNS rebinding): see `_PublicAddressOnly`. Proxies from the
environment are ignored: a proxy would make the connection the guard checks a different one.

Runs where no time limit applies (the import job); it knows nothing of media items: the caller passes
the byte limit (the user's remaining quota) and writes progress and the result where it belongs.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection
from urllib3.util.retry import Retry

from playout.errors import InvalidInput, PlayoutError, QuotaExceeded
from playout.media import MAX_PARTS, part_size_for
from playout.netguard import resolve_public

MAX_REDIRECTS: Final = 5
MAX_RESUMES: Final = 5  # dropped connections (and restarts from zero) one import survives
PART_SIZE_BYTES: Final = 8 * 1024**2
READ_CHUNK_BYTES: Final = 1024**2
CONNECT_TIMEOUT_S: Final = 10.0
READ_TIMEOUT_S: Final = 60.0
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
_CONTENT_RANGE: Final = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

ProgressCallback = Callable[[int, int | None], None]
"""Called with (bytes received so far, total bytes if the server said) after each chunk read; it goes
back to 0 when an import restarts from zero."""


class ImportFailed(PlayoutError):
    """The link could not be imported for a reason on the remote side (its answer, its connection)."""

    status = 422
    code = "import_failed"


@dataclass(frozen=True)
class ImportedObject:
    size_bytes: int
    content_type: str
    final_url: str  # after redirects, without query or fragment: signed links carry their credentials there
    etag: str  # the S3 object's


def import_url(
    url: str,
    *,
    s3: Any,
    bucket: str,
    key: str,
    byte_limit: int,
    allow_loopback: bool = False,
    on_progress: ProgressCallback | None = None,
    session: requests.Session | None = None,
    part_size_bytes: int = PART_SIZE_BYTES,
    object_args: dict[str, Any] | None = None,
) -> ImportedObject:
    """Fetch `url` into s3://bucket/key; at most `byte_limit` bytes, else QuotaExceeded.

    `allow_loopback` admits 127.0.0.0/8 and ::1 (local mode, whose tests serve files from this machine),
    never the rest. `object_args` go to CreateMultipartUpload (CacheControl, SSE, ...).
    Raises InvalidInput (the link itself: scheme, credentials, address, redirects), QuotaExceeded or
    ImportFailed (the remote side), each with a message a user can act on.
    """
    http = session or import_session(allow_loopback=allow_loopback)
    writer: _MultipartWriter | None = None
    response: requests.Response | None = None
    try:
        response, final_url = _get_following_redirects(http, url, {}, allow_loopback)
        body = _FullBody.of(response, final_url, byte_limit)
        object_args = {"ContentType": body.content_type, **(object_args or {})}
        writer = _MultipartWriter(s3, bucket, key, part_size_bytes, body.total, object_args)
        resumes_left = MAX_RESUMES
        while True:
            try:
                for chunk in response.raw.stream(READ_CHUNK_BYTES, decode_content=False):
                    if writer.received + len(chunk) > byte_limit:
                        raise _over_limit(byte_limit)
                    writer.write(chunk)
                    if on_progress is not None:
                        on_progress(writer.received, body.total)
                if body.total is not None and writer.received < body.total:
                    raise urllib3.exceptions.ProtocolError("body ended early")
                break
            except (urllib3.exceptions.HTTPError, OSError):  # requests' errors are OSErrors too
                response.close()
                if resumes_left == 0:
                    raise ImportFailed(
                        f"the connection to {_host(final_url)} dropped {MAX_RESUMES + 1} times; "
                        "try again later"
                    ) from None
                resumes_left -= 1
                response, final_url, restarted = _resume(
                    http, final_url, body, writer.received, byte_limit, allow_loopback
                )
                if restarted is not None:
                    body = restarted
                    writer.restart(body.total)
        etag = writer.complete()
        return ImportedObject(writer.received, body.content_type, _without_secrets(final_url), etag)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if response is not None:
            response.close()
        if session is None:
            http.close()


def filename_of(url: str) -> str:
    """The name a link's file goes by: the last part of its path."""
    name = urlsplit(url.strip()).path.rstrip("/").rsplit("/", 1)[-1]
    return name[:200] or "imported video"


def check_import_url(url: str, *, allow_loopback: bool = False) -> None:
    """InvalidInput unless `url` is an http(s) link without credentials to a host whose every address is
    public right now. Cheap enough for the API to answer a bad link at once; the import checks it again."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidInput("the link is not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput("only http:// and https:// links can be imported")
    if "@" in parts.netloc:
        raise InvalidInput(
            "links with a user name or password are not imported; share a link that works without them"
        )
    if not parts.hostname:
        raise InvalidInput("the link has no host name")
    resolve_public(parts.hostname, port or (443 if scheme == "https" else 80), allow_loopback=allow_loopback)


def import_session(*, allow_loopback: bool = False) -> requests.Session:
    """A keep-alive session that retries connection errors and 5xx answers, and connects to public
    addresses only (plus loopback when allowed), ignoring proxy settings from the environment."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"User-Agent": "Playout-Importer/1", "Accept-Encoding": "identity"})
    retry = Retry(
        total=6,
        connect=3,
        read=2,
        status=3,
        redirect=0,
        other=0,  # a TLS failure (a certificate for another name) does not mend by asking again
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        backoff_factor=0.5,
        backoff_max=10,
        # A Retry-After of an hour would hold the job that long: the backoff alone paces retries.
        respect_retry_after_header=False,
        raise_on_status=False,
    )
    adapter = _PublicAddressAdapter(allow_loopback=allow_loopback, max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass
class _FullBody:
    """What the first full (200) answer said about the file."""

    total: int | None
    content_type: str
    validator: dict[str, str] = field(default_factory=dict)  # If-Range's value: a strong ETag, else a date

    @classmethod
    def of(cls, response: requests.Response, url: str, byte_limit: int) -> _FullBody:
        if response.status_code != 200:
            raise _unexpected_status(response, url)
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            # Ranges count encoded bytes; a re-encoded body would not resume where it dropped.
            raise ImportFailed(f"{_host(url)} sent the file compressed; use a direct download link")
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.isdigit() else None
        if total is not None and total > byte_limit:
            raise _over_limit(byte_limit, total)
        return cls(total, response.headers.get("Content-Type") or DEFAULT_CONTENT_TYPE, _validator(response))

    def same_file(self, response: requests.Response) -> bool:
        return bool(self.validator) and _validator(response) == self.validator


def _validator(response: requests.Response) -> dict[str, str]:
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):  # If-Range takes only a strong validator
        return {"ETag": etag}
    modified = response.headers.get("Last-Modified")
    return {"Last-Modified": modified} if modified else {}


def _resume(
    http: requests.Session, url: str, body: _FullBody, received: int, byte_limit: int, allow_loopback: bool
) -> tuple[requests.Response, str, _FullBody | None]:
    """The rest of the file from byte `received`, or (when the server cannot prove it is the same file)
    a fresh full answer and what it says: the third item, not None when the import starts again."""
    if not body.validator:
        response, url = _get_following_redirects(http, url, {}, allow_loopback)
        return response, url, _restart_with(response, url, byte_limit)
    if_range = body.validator.get("ETag") or body.validator["Last-Modified"]
    headers = {"Range": f"bytes={received}-", "If-Range": if_range}
    response, url = _get_following_redirects(http, url, headers, allow_loopback)
    if response.status_code == 200:  # changed (If-Range) or ranges not supported
        return response, url, _restart_with(response, url, byte_limit)
    if response.status_code != 206:
        response.close()
        raise _unexpected_status(response, url)
    matched = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
    same_length = matched is not None and (body.total is None or matched[3] == str(body.total))
    if matched is not None and int(matched[1]) == received and same_length and body.same_file(response):
        return response, url, None
    # A server that ignored If-Range and changed the file, or answered another range.
    response.close()
    response, url = _get_following_redirects(http, url, {}, allow_loopback)
    return response, url, _restart_with(response, url, byte_limit)


def _restart_with(response: requests.Response, url: str, byte_limit: int) -> _FullBody:
    try:
        restarted = _FullBody.of(response, url, byte_limit)
    except BaseException:
        response.close()
        raise
    return restarted


def _get_following_redirects(
    http: requests.Session, url: str, headers: dict[str, str], allow_loopback: bool
) -> tuple[requests.Response, str]:
    """requests follows redirects without asking where they lead: here each target is checked first. A
    target refused says it was a redirect: the address refused is not the one its user gave."""
    for hop in range(MAX_REDIRECTS + 1):
        try:
            check_import_url(url, allow_loopback=allow_loopback)
        except InvalidInput as refused:
            if hop == 0:
                raise
            raise type(refused)(
                f"the link redirects, and the redirect cannot be followed: {refused.message}"
            ) from None
        try:
            response = http.get(
                url,
                headers=headers,
                stream=True,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            )
        except requests.exceptions.SSLError:
            raise ImportFailed(
                f"{_host(url)} did not present a valid certificate for its name; the link cannot be "
                "fetched securely"
            ) from None
        except requests.RequestException:
            raise ImportFailed(
                f"could not connect to {_host(url)}; check the link or try again later"
            ) from None
        target = http.get_redirect_target(response)
        if target is None:
            return response, url
        response.close()
        url = urljoin(url, target)
    raise InvalidInput(f"the link redirects more than {MAX_REDIRECTS} times; use the file's direct link")


class _MultipartWriter:
    """One part buffer at a time into an S3 multipart upload."""

    def __init__(
        self, s3: Any, bucket: str, key: str, part_size: int, total: int | None, object_args: dict[str, Any]
    ) -> None:
        self._s3, self._bucket, self._key = s3, bucket, key
        self._preferred_part_size = part_size
        self._upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key, **object_args)["UploadId"]
        self._buffer = BytesIO()
        self.restart(total)

    def restart(self, total: int | None) -> None:
        # Part numbers from 1 again: S3 keeps the last upload of a number, and completion names the parts.
        self._total = total
        self._base_part_size = part_size_for(total or 0, self._preferred_part_size)
        self._parts: list[dict[str, Any]] = []
        self._buffer.seek(0)
        self._buffer.truncate()
        self.received = 0

    def write(self, chunk: bytes) -> None:
        self._buffer.write(chunk)
        self.received += len(chunk)
        if self._buffer.tell() >= self._part_size():
            self._flush()

    def complete(self) -> str:
        if self._buffer.tell() or not self._parts:
            self._flush()
        completed = self._s3.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )
        return str(completed["ETag"])

    def abort(self) -> None:
        # Best effort while another error is on its way out: the bucket's lifecycle rule
        # (resources.ABORT_INCOMPLETE_UPLOAD_AFTER_DAYS) removes what this could not.
        with contextlib.suppress(Exception):
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)

    def _part_size(self) -> int:
        if self._total is not None:
            return self._base_part_size
        # Size unknown (chunked): double every 1,000 parts, so 10,000 parts hold 1023 x 1,000 base parts
        # (8 TB at 8 MiB), more than S3's 5 TB object, while a small file keeps small parts.
        return self._base_part_size * 2 ** (len(self._parts) // (MAX_PARTS // 10))

    def _flush(self) -> None:
        number = len(self._parts) + 1
        self._buffer.seek(0)
        uploaded = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=self._buffer
        )
        self._parts.append({"PartNumber": number, "ETag": uploaded["ETag"]})
        self._buffer.seek(0)
        self._buffer.truncate()


class _PublicAddressOnly:
    """Opens the socket to an address checked as the connection is made: the name is resolved once, every
    address checked (netguard), and the connection goes to a checked address, never through a second
    resolution a rebinding DNS server could answer differently. urllib3 keeps the host name for the Host
    header, TLS SNI and certificate checks.

    Written here because no well-kept library does it: advocate, the known one, was last released in 2020
    for urllib3 1.x; urllib3 and requests have no hook for the address they connect to."""

    allow_loopback: bool = False
    _dns_host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    host: str

    def _new_conn(self) -> socket.socket:
        addresses = resolve_public(self._dns_host, self.port, allow_loopback=self.allow_loopback)
        failure: OSError | None = None
        for address in addresses:
            try:
                return create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as timed_out:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from timed_out
            except OSError as error:
                failure = error
        raise NewConnectionError(self, f"Failed to establish a new connection: {failure}")  # type: ignore[arg-type]


class _PublicAddressAdapter(HTTPAdapter):
    def __init__(self, *, allow_loopback: bool, **kwargs: Any) -> None:
        self._pool_classes = _public_pool_classes(allow_loopback)  # read by init_poolmanager in super()
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes


def _public_pool_classes(allow_loopback: bool) -> dict[str, type[HTTPConnectionPool]]:
    policy = {"allow_loopback": allow_loopback}
    http_connection = type("PublicHTTPConnection", (_PublicAddressOnly, HTTPConnection), policy)
    https_connection = type("PublicHTTPSConnection", (_PublicAddressOnly, HTTPSConnection), policy)
    return {
        "http": type("PublicHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_connection}),
        "https": type(
            "PublicHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_connection}
        ),
    }


def _host(url: str) -> str:
    return urlsplit(url).hostname or "the server"


def _without_secrets(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _unexpected_status(response: requests.Response, url: str) -> ImportFailed:
    status = response.status_code
    if status in (401, 403):
        reason = "refused access to the file; use a link that works without signing in"
    elif status in (404, 410):
        reason = "has no file at this link; check the link"
    elif status >= 500:
        reason = "had an error serving the file; try again later"
    else:
        reason = f"answered {status} instead of the file"
    return ImportFailed(f"{_host(url)} {reason} (HTTP {status})")


def _over_limit(byte_limit: int, size: int | None = None) -> QuotaExceeded:
    stated = f"the file ({_mb(size)}) is larger" if size is not None else "the file is larger"
    return QuotaExceeded(f"{stated} than the {_mb(byte_limit)} left in your storage; free some space first")


def _mb(size: int) -> str:
    return f"{size / 1024**2:.1f} MB"
