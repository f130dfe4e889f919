"""End to end: `mvssl study --seeds 2` trains every method with two seeds through the engine, and
the compare report shows each method's spread over its seeds and "A beats B" over tracks, seeds
and both."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.cli import main
from engine.config import load
from tests.e2e.test_engine_e2e import _start_engine, _stop


@pytest.mark.slow
def test_study_with_two_seeds_per_method_and_its_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.data.corpora.demo import make_demo

    corpus = make_demo(tmp_path / "corpus", tracks=60, seed=2, seconds=6.0, workers=1, progress=False)
    runs = tmp_path / "runs"
    engine, client = _start_engine(runs)
    try:
        sets = [f"--set={kv}" for kv in ("steps=2", "warmup_steps=0", "batch_size=4", "num_workers=0",
                                         "precision=fp32", "device=cpu", "segment_s=2.0", "min_gap_s=2.0",
                                         "checkpoint_every=2")]
        code = main(["study", "--methods", "contrastive,random", "--corpus", f"folder:{corpus}", "--seeds", "2",
                     "--stages", "pretrain,embed,probe", "--tasks", "all", "--fractions", "100", "--draws", "1",
                     "--probe", "linear", "--name", "seeds", "--runs-dir", str(runs), *sets])
        out = capsys.readouterr()
        assert code == 0, out.out + out.err
    finally:
        _stop(engine, client)
    names = ["seeds-contrastive-s0", "seeds-contrastive-s1", "seeds-random-s0", "seeds-random-s1"]
    assert sorted(p.name for p in runs.iterdir() if not p.name.startswith(".")) == names
    assert [load(runs / n / "config.toml").seed for n in names] == [0, 1, 0, 1]

    assert main(["compare", *(str(runs / n) for n in names), "--task", "all", "--out", str(tmp_path / "report"),
                 "--resamples", "100"]) == 0
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert results["probe_protocols"] == ["linear"]
    pr = results["seeds"]["pr_auc"]
    assert set(pr["methods"]) == {"contrastive", "random"}
    contrastive = pr["methods"]["contrastive"]
    assert contrastive["runs"] == names[:2] and contrastive["n_seeds"] == 2
    assert contrastive["low"] <= contrastive["mean"] <= contrastive["high"]
    pair = next(p for p in pr["pairs"] if (p["a"], p["b"]) == ("contrastive", "random"))
    assert {"a_beats_b_over_tracks", "a_beats_b_over_seeds", "a_beats_b_over_both"} <= set(pair)
    assert pair["a_beats_b_over_seeds"] in (0.0, 0.25, 0.5, 0.75, 1.0)  # 2 x 2 seed pairs
    html = (tmp_path / "report" / "report.html").read_text()
    assert "Across seeds" in html and "over both" in html
