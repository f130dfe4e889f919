"""Shared fixtures: where the real data in ../shared lives."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MVSSL_SHARED_DIR", PROJECT_ROOT.parent / "shared"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# precision=auto measures this CPU; tests (and the job processes they start) must not depend on what it
# finds, so auto resolves to fp32 here. Tests of the choice itself unset this and fake the measurement.
os.environ["MVSSL_CPU_PRECISION"] = "fp32"
# speed measurements that tests make (or fake) never reach the user's cache
os.environ["MVSSL_CACHE_DIR"] = tempfile.mkdtemp(prefix="mvssl-test-cache-")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"shared data folder not found at {SHARED} (set MVSSL_SHARED_DIR)")
    return SHARED


@pytest.fixture(scope="session")
def real_audio_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "real-audio"
