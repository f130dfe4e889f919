"""Runs shared by the export tests: a contrastive run trained for 4 steps with TensorBoard scalars on, the
`random` control and the log-mel baseline, each embedded in float32 on the tiny demo corpus."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.evaluation.embed import embed, embed_logmel
from engine.config import prepare_run as prepare_run_dir
from engine.training.loop import train


@pytest.fixture(scope="session")
def export_runs(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from engine import config

    root = tmp_path_factory.mktemp("export-runs")
    common = dict(corpus=f"folder:{tiny_corpus}", batch_size=4, log_every=1, checkpoint_every=2, num_workers=0,
                  precision="fp32", device="cpu", views=2, segment_s=4.0, min_gap_s=0.0)
    runs = {}
    for method, extra in (("contrastive", dict(steps=4, warmup_steps=1, tensorboard=True)), ("random", {})):
        run = root / method
        prepare_run_dir(config.build("demo", overrides={"method": method, **common, **extra}), run)
        assert train(run, progress=False) == "done"
        embed(run, batch=8, progress=False, bf16=False)
        runs[method] = run
    runs["logmel"] = root / "logmel"
    embed_logmel(runs["logmel"], corpus=f"folder:{tiny_corpus}", batch=8, progress=False)
    return runs
