"""`python -m workbench [--runs-dir DIR]`: open the workbench."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.shell.app import main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="mvssl gui")
    parser.add_argument("--runs-dir", help="runs directory (default: last used, else under the user data dir)")
    args = parser.parse_args()
    sys.exit(main(runs_dir=Path(args.runs_dir).expanduser() if args.runs_dir else None))
