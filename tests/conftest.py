"""Shared fixtures: where the real data in ../shared lives."""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

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


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[Path]:
    """A real single-node Slurm (`.ci/slurm-cluster`, with accounting), started once for the tests marked
    `slurm`; yields its slurm.conf, exported as SLURM_CONF. Where it cannot start the tests are skipped,
    except in CI (CI=true), where that fails them."""
    script = PROJECT_ROOT / ".ci" / "slurm-cluster"
    root = Path(os.environ.get("MVSSL_SLURM_ROOT", Path(tempfile.gettempdir()) / "mvssl-slurm"))
    env = {**os.environ, "MVSSL_SLURM_ROOT": str(root)}
    started = subprocess.run([script, "status"], env=env, capture_output=True).returncode != 0
    if started:
        out = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=900)
        if out.returncode != 0:
            why = (out.stderr.strip().splitlines() or ["no output"])[-1]
            message = f"no Slurm cluster: .ci/slurm-cluster start failed ({why})"
            pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", str(root / "etc" / "slurm.conf"))
        yield root / "etc" / "slurm.conf"
    if started:
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=120)
