"""Where each playlist item is read from: a local copy once it is staged, S3 directly until then.

Nothing waits for a download: the first item plays from S3 (a presigned GET, which ffmpeg reads with
Range requests, so the moov atom may sit anywhere) while a background thread copies the media to the
scratch disk in the order they will play. A download that fails or would not fit on the disk is
abandoned (its partial file removed) and that item keeps playing from S3: the stream never waits for,
or fails because of, the scratch disk."""

from __future__ import annotations

import contextlib
import shutil
import threading
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

from stream_task.playlist import Entry, PlayOrder
from stream_task.process import Log

PRESIGN_S = 3600  # each URL is made when a reader opens it: it never needs to outlive one item
DISK_RESERVE_BYTES = 256 * 1024**2  # left free for ffmpeg, logs and the OS

# Two parts at a time: staging runs ahead of the playlist, so speed matters less than the task's memory
# (boto3's default keeps ten 8 MB parts in flight; this saved about 5 MB of the task's footprint).
_TRANSFER = TransferConfig(max_concurrency=2, max_io_queue=16)


class Stager:
    def __init__(
        self,
        s3: Any,
        bucket: str,
        scratch: Path,
        *,
        logger: Log,
        reserve_bytes: int = DISK_RESERVE_BYTES,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._scratch = scratch
        self._log = logger
        self._reserve = reserve_bytes
        self._keys: dict[str, str] = {}
        self._staged: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures: dict[str, str] = {}

    def register(self, object_keys: dict[str, str]) -> None:
        self._keys = dict(object_keys)

    def url(self, media_id: str) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": self._keys[media_id]}, ExpiresIn=PRESIGN_S
        )
        return url

    def source(self, entry: Entry) -> str:
        media_id = entry.item.media_id
        with self._lock:
            staged = self._staged.get(media_id)
        self._log.info(
            "reading media", extra={"media_id": media_id, "from": "S3" if staged is None else "scratch disk"}
        )
        return str(staged) if staged is not None else self.url(media_id)

    def start(self, order: PlayOrder) -> None:
        first_play = list(dict.fromkeys(order.items[i].media_id for i in order.order(0)))
        self._thread = threading.Thread(
            target=self._stage_all, args=(first_play,), name="stager", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _stage_all(self, media_ids: list[str]) -> None:
        for number, media_id in enumerate(media_ids):
            if self._closing.is_set():
                return
            path = self._scratch / f"{number:04d}-{media_id}"
            try:
                self._stage(media_id, path)
            except (ClientError, BotoCoreError, OSError) as error:
                with contextlib.suppress(OSError):
                    path.with_suffix(".part").unlink()
                self.failures[media_id] = str(error)
                self._log.warning(
                    "staging failed; the item plays from S3",
                    extra={"media_id": media_id, "error": str(error)},
                )

    def _stage(self, media_id: str, path: Path) -> None:
        key = self._keys[media_id]
        size = int(self._s3.head_object(Bucket=self._bucket, Key=key)["ContentLength"])
        free = shutil.disk_usage(self._scratch).free
        if size + self._reserve > free:
            raise OSError(f"{size} bytes would not fit on the scratch disk ({free} free)")
        partial = path.with_suffix(".part")
        self._s3.download_file(self._bucket, key, str(partial), Config=_TRANSFER)
        partial.rename(path)
        with self._lock:
            self._staged[media_id] = path
