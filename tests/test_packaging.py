"""The installed package: console script, import contracts, config errors from the CLI."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import PROJECT_ROOT

BIN = Path(sys.executable).parent


def test_console_script_installed() -> None:
    mvssl = BIN / "mvssl"
    assert mvssl.exists(), "console script mvssl missing: is the package installed?"
    out = subprocess.run([str(mvssl), "--help"], capture_output=True, text=True, check=True)
    listed = out.stdout.split("{", 1)[1].split("}", 1)[0].split(",")
    assert listed == ["gui", "corpus", "train", "model", "diagnose", "probe", "compare", "embed", "project",
                      "neighbours", "engine", "runs", "study", "demo", "export", "import", "speed"], out.stdout


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports", path=str(BIN))
    assert lint, "import-linter not installed"
    out = subprocess.run([lint], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    contracts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert any(c["type"] == "layers" for c in contracts)
    assert f"{len(contracts)} kept, 0 broken" in out.stdout


def test_unknown_source_is_one_line_error() -> None:
    out = subprocess.run([str(BIN / "mvssl"), "corpus", "info", "nonsense:x"], capture_output=True, text=True)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mvssl: error:"), out.stderr
