"""`python -m local.youtube_emulator [redirect URI ...]`: the emulator on its own until Ctrl-C, its URLs and
OAuth client printed (JSON) for pointing a client at it."""

from __future__ import annotations

import json
import signal
import sys
import threading
from types import FrameType

from local.youtube_emulator.server import running_youtube_emulator


def main() -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with running_youtube_emulator(redirect_uris=sys.argv[1:]) as emulator:
        print(json.dumps({"urls": emulator.urls.as_dict(), **emulator.client_config()}, indent=2), flush=True)
        while not stop.wait(1.0):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
