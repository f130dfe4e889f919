"""Runs the fault suite starts from (trained once per session) and its ledger of faults, survivals and losses."""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from engine import config
from engine.training.speed_cache import cpu_info
from tests.engine.fake_runs import make_run


@pytest.fixture(scope="session")
def trained_run(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-step contrastive run with step checkpoints 1 and 2, last.pt and embeddings.h5 (one segment a track)."""
    from engine.config import prepare_run
    from engine.evaluation.embed import embed
    from engine.training.loop import train

    run = tmp_path_factory.mktemp("fault-base") / "trained"
    cfg = config.build("demo", overrides=dict(corpus=f"folder:{tiny_corpus}", method="contrastive", steps=2,
                                              batch_size=4, log_every=1, checkpoint_every=1, num_workers=0,
                                              precision="fp32", device="cpu"))
    prepare_run(cfg, run)
    assert train(run, progress=False) == "done"
    embed(run, segments_per_track=1, progress=False, workers=0, bf16=False)
    return run


@pytest.fixture(scope="session")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished run with embeddings only: what project and probe read."""
    return make_run(tmp_path_factory.mktemp("fault-fake") / "fake", n=120, dim=16, segments=2)


def copy_run(run: Path, to: Path, skip: tuple[str, ...] = ()) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns(*skip) if skip else None)
    return to


class Ledger:
    """Faults injected, survived (one line, nothing finished lost, the re-run finishes) and work lost, by kind."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, int]] = defaultdict(lambda: {"injected": 0, "survived": 0, "lost": 0})

    def record(self, fault: str, survived: bool, lost: int = 0) -> None:
        row = self.rows[fault]
        row["injected"] += 1
        row["survived"] += int(survived)
        row["lost"] += lost

    def totals(self) -> dict[str, Any]:
        return {key: sum(r[key] for r in self.rows.values()) for key in ("injected", "survived", "lost")}


@pytest.fixture(scope="session")
def ledger() -> Iterator[Ledger]:
    """Written to $MVSSL_FAULT_FIGURES (JSON) when set, and summed up on stdout at the end of the session."""
    book = Ledger()
    started = time.time()
    yield book
    if not book.rows:
        return
    figures = {"date": time.strftime("%Y-%m-%d"), "machine": cpu_info()["cpu"], "cores": os.cpu_count(),
               "load_average": os.getloadavg()[0],
               "seconds": round(time.time() - started, 1), "totals": book.totals(), "faults": dict(book.rows)}
    if os.environ.get("MVSSL_FAULT_FIGURES"):
        Path(os.environ["MVSSL_FAULT_FIGURES"]).write_text(json.dumps(figures, indent=1))
    print(f"\nfault suite: {figures['totals']}")
