"""Job entry points run as their own process: `python -m engine.jobs KIND RUN_DIR`."""
from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python -m engine.jobs KIND RUN_DIR", file=sys.stderr)
        return 2
    kind, run_dir = argv[0], Path(argv[1])
    if kind == "train":
        from engine.train import train

        state = train(run_dir)
        return 0 if state in ("done", "cancelled") else 1
    print(f"unknown job kind {kind!r} (valid: train)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
