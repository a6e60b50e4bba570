"""Runs every benchmark; each prints a ratio against a baseline measured side by side in the same run."""

from __future__ import annotations

from bench import copy_vs_transcode


def main() -> None:
    copy_vs_transcode.main()


if __name__ == "__main__":
    main()
