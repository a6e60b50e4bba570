"""A stand-in for ffmpeg: prints literal `-progress pipe:1` blocks on stdout and ffmpeg-like lines on stderr,
and obeys SIGINT as ffmpeg does (ends the progress, says why, exits 255). Driven by its arguments:

  --blocks N         progress blocks to print (-1: until stopped)
  --interval S       seconds between blocks
  --stderr LINE      a line for stderr at start (repeatable)
  --final LINE       a line for stderr just before exiting (repeatable)
  --exit CODE        exit code once the blocks are done
  --stall            after the blocks, hang without output (the watchdog's case)
  --ignore-sigint    ignore SIGINT (the grace period's case)
"""

from __future__ import annotations

import argparse
import signal
import sys
import time

BLOCK = """frame={frame}
fps=30.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us={us}
out_time_ms={us}
out_time={clock}
dup_frames=0
drop_frames={dropped}
speed=1.00x
progress={state}
"""


def block(index: int, interval: float, state: str = "continue") -> str:
    us = int(index * interval * 1_000_000)
    seconds = us / 1_000_000
    clock = f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:09.6f}"
    return BLOCK.format(frame=index * 30, us=us, clock=clock, dropped=index // 10, state=state)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--interval", type=float, default=0.02)
    parser.add_argument("--stderr", action="append", default=[])
    parser.add_argument("--final", action="append", default=[])
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--stall", action="store_true")
    parser.add_argument("--ignore-sigint", action="store_true")
    args, _ = parser.parse_known_args()
    printed = 0

    def on_sigint(_signum: int, _frame: object) -> None:
        sys.stdout.write(block(printed, args.interval, "end"))
        sys.stdout.flush()
        sys.stderr.write("Exiting normally, received signal 2.\n")
        sys.exit(255)

    signal.signal(signal.SIGINT, signal.SIG_IGN if args.ignore_sigint else on_sigint)
    for line in args.stderr:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()
    while args.blocks < 0 or printed < args.blocks:
        printed += 1
        last = printed == args.blocks and not args.stall
        sys.stdout.write(block(printed, args.interval, "end" if last else "continue"))
        sys.stdout.flush()
        time.sleep(args.interval)
    if args.stall:
        while True:
            time.sleep(1)
    for line in args.final:
        sys.stderr.write(line + "\n")
    sys.exit(args.exit)


if __name__ == "__main__":
    main()
