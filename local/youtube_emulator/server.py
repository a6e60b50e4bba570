"""Starting and stopping the emulator: `running_youtube_emulator()` binds everything to 127.0.0.1 on free
ports and gives back where each part answers. Its servers are daemon threads and nginx dies with the thread
that started it, so nothing outlives the process that runs the emulator."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from local.hosts import ServedHostsOnly
from local.youtube_emulator.app import EmulatorApp
from local.youtube_emulator.certificate import certificate_for_loopback
from local.youtube_emulator.data_api import IngestAddresses, YouTubeDataApi
from local.youtube_emulator.discovery import youtube_discovery
from local.youtube_emulator.ingest import APPLICATION, HOST, EventLog, RtmpIngest, TlsTerminator
from local.youtube_emulator.live import ARCHIVE_LIMIT_S, ARCHIVE_SLOTS, Channel, LiveStudio, new_channel_id
from local.youtube_emulator.oauth import (
    DEFAULT_ACCESS_TOKEN_LIFETIME_S,
    Account,
    GoogleAccounts,
    OAuthClient,
    new_client,
)
from local.youtube_emulator.quota import DEFAULT_DAILY_LIMIT, QuotaLedger

TICK_S: Final = 0.1
DEFAULT_CHANNEL_TITLE: Final = "Emulated Channel"
DEFAULT_ACCOUNT_EMAIL: Final = "emulated.channel@example.com"


@dataclass(frozen=True)
class EmulatorUrls:
    base: str  # https://127.0.0.1:<port>: every endpoint below
    authorization_endpoint: str
    token_endpoint: str
    revoke_endpoint: str
    api_endpoint: str  # googleapiclient's client_options={"api_endpoint": ...}
    controls: str  # the test controls, /emulator
    plain_base: str  # the same app over plain http (nginx's notifications; a browser without the authority)
    rtmp_ingest: str
    rtmps_ingest: str
    ca_certificate: Path  # the authority to trust for `base` and `rtmps_ingest`

    def as_dict(self) -> dict[str, str]:
        return {name: str(value) for name, value in vars(self).items()}


@dataclass
class RunningEmulator:
    urls: EmulatorUrls
    client: OAuthClient  # registered with the redirect URIs given
    channel: Channel
    account: Account
    app: EmulatorApp
    root: Path

    def client_config(self) -> dict[str, Any]:
        """The client secrets a web app gets from the Cloud Console (google-auth-oauthlib's Flow reads it)."""
        return {
            "web": {
                "client_id": self.client.client_id,
                "client_secret": self.client.client_secret,
                "auth_uri": self.urls.authorization_endpoint,
                "token_uri": self.urls.token_endpoint,
                "redirect_uris": list(self.client.redirect_uris),
            }
        }

    def archive(self, broadcast_id: str) -> list[Path]:
        """A broadcast's recording while it was live: one file per publishing session, closed ones only
        (none once YouTube dropped it: live for `archive_limit_s` or longer)."""
        return [s.path for s in self.app.studio.broadcast(broadcast_id).archived if s.closed]

    @property
    def recordings_dir(self) -> Path:
        """Where the ingest records each publishing session whole, as it arrives (`<stream name>-<t>.flv`)."""
        return self.root / "rtmp" / "ingest"

    def ingest_recordings(self, stream_name: str) -> list[Path]:
        """Everything that arrived for a stream name, one file per publishing session that ended."""
        stream = self.app.studio.stream_by_name(stream_name)
        return list(stream.ingest_recordings) if stream else []


class _Silent:
    def event(self, message: str, **fields: object) -> None:
        pass


class _QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the app logs its own, shorter lines (without queries, which may hold tokens)


class _LateApp:
    """Answers 503 until the emulator's app exists: the sockets are bound first, their ports go into it."""

    target: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.target is None:
            start_response("503 Service Unavailable", [("Retry-After", "1")])
            return [b""]
        return self.target(environ, start_response)


@contextmanager
def running_youtube_emulator(
    *,
    root: Path | None = None,
    redirect_uris: Sequence[str] = (),
    channel_title: str = DEFAULT_CHANNEL_TITLE,
    access_token_lifetime_s: int = DEFAULT_ACCESS_TOKEN_LIFETIME_S,
    daily_quota: int = DEFAULT_DAILY_LIMIT,
    starting_delay_s: float = 1.0,
    auto_stop_delay_s: float = 10.0,
    archive_limit_s: float = ARCHIVE_LIMIT_S,
    clock: Callable[[], float] = time.time,
    log: EventLog | None = None,
) -> Iterator[RunningEmulator]:
    """Google OAuth, the YouTube Data API and an RTMP(S) ingest on 127.0.0.1, with one OAuth client (for
    `redirect_uris`) and one account owning one channel. `root` keeps its files (recordings, nginx, the TLS
    authority); by default a temporary directory, removed at the end."""
    log = log or _Silent()
    own_root = root is None
    root = Path(tempfile.mkdtemp(prefix="playout-youtube-emulator-")) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    certificate = certificate_for_loopback(root / "tls")
    late = _LateApp()
    # The consent page and the test controls answer no page rebound to 127.0.0.1 (local/hosts.py).
    served, served_securely = ServedHostsOnly(late), ServedHostsOnly(late)
    plain = make_server(HOST, 0, served, threaded=True, request_handler=_QuietRequestHandler)
    secure = make_server(
        HOST,
        0,
        served_securely,
        threaded=True,
        request_handler=_QuietRequestHandler,
        ssl_context=certificate.server_context(),
    )
    servers: list[BaseWSGIServer] = [plain, secure]
    served.port, served_securely.port = plain.server_port, secure.server_port
    base, plain_base = f"https://{HOST}:{secure.server_port}", f"http://{HOST}:{plain.server_port}"
    ingest = RtmpIngest(root / "rtmp", f"{plain_base}/emulator/rtmp", archive_slots=ARCHIVE_SLOTS, log=log)
    rtmps = TlsTerminator(certificate.server_context(), ingest.rtmp_port)
    urls = EmulatorUrls(
        base=base,
        authorization_endpoint=f"{base}/o/oauth2/v2/auth",
        token_endpoint=f"{base}/token",
        revoke_endpoint=f"{base}/revoke",
        api_endpoint=f"{base}/",
        controls=f"{base}/emulator",
        plain_base=plain_base,
        rtmp_ingest=ingest.rtmp_url,
        rtmps_ingest=f"rtmps://{HOST}:{rtmps.port}/{APPLICATION}",
        ca_certificate=certificate.certificate,
    )

    accounts = GoogleAccounts(clock=clock, access_token_lifetime_s=access_token_lifetime_s)
    studio = LiveStudio(
        clock=clock,
        recorder=ingest,
        starting_delay_s=starting_delay_s,
        auto_stop_delay_s=auto_stop_delay_s,
        archive_limit_s=archive_limit_s,
    )
    client = accounts.add_client(new_client(tuple(redirect_uris), name="Playout (local)"))
    channel = studio.add_channel(Channel(new_channel_id(), channel_title, published_at=clock()))
    account = accounts.add_account(Account(DEFAULT_ACCOUNT_EMAIL, channel.channel_id))
    app = EmulatorApp(
        accounts=accounts,
        studio=studio,
        data_api=YouTubeDataApi(studio, IngestAddresses(urls.rtmp_ingest, urls.rtmps_ingest), plain_base),
        discovery=youtube_discovery(),
        ledger=QuotaLedger(clock=clock, daily_limit=daily_quota),
        ingest=ingest,
        clock=clock,
        log=log,
    )
    app.about = {"urls": urls.as_dict()}
    late.target = app

    stopping = threading.Event()

    def tick() -> None:
        while not stopping.wait(TICK_S):
            try:
                studio.tick()
            except Exception as error:  # the next tick tries again
                log.event("youtube emulator tick failed", error=repr(error))

    serving: list[tuple[BaseWSGIServer, threading.Thread]] = []
    clock_thread = threading.Thread(target=tick, name="youtube-emulator-clock", daemon=True)
    try:
        for server in servers:
            thread = threading.Thread(target=server.serve_forever, name="youtube-emulator", daemon=True)
            thread.start()
            serving.append((server, thread))
        clock_thread.start()
        ingest.start()
        rtmps.start()
        log.event("youtube emulator ready", **urls.as_dict())
        yield RunningEmulator(urls=urls, client=client, channel=channel, account=account, app=app, root=root)
    finally:
        stopping.set()
        rtmps.stop()
        ingest.stop()  # before the servers: nginx reports the recordings it closes as it stops
        for server, thread in serving:
            server.shutdown()  # waits for serve_forever to notice: only for a server that serves
            thread.join(timeout=5)
        for server in servers:
            server.server_close()
        if clock_thread.is_alive():
            clock_thread.join(timeout=5)
        if own_root:
            shutil.rmtree(root, ignore_errors=True)
