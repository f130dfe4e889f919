"""The demo study's README table: one row per method with its spread over seeds, and the method
order with the share of comparisons over tracks and seeds each step holds in."""
from __future__ import annotations

from pathlib import Path

from engine.service.demo_study import TASKS, summary_table
from engine.evaluation.probe import ProbeConfig, run_probe
from engine.evaluation.compare import write_report
from tests.engine.fake_runs import make_run


def test_summary_table_groups_seeds_and_states_the_order(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / f"{m}-s{s}", m, signal=sig, seed=s) for m, sig in (("contrastive", 3.0), ("random", 0.0))
            for s in (0, 1)]
    for run in runs:
        for task in TASKS:
            run_probe(run, task, fractions=(100,), draws=1, config=ProbeConfig.of("linear"))
    for task in TASKS:
        write_report(runs, task, tmp_path / "out" / task, n_resamples=50)
    table = summary_table(tmp_path / "out")
    lines = table.splitlines()
    assert lines[0].startswith("| method | seeds | genre roc_auc |")
    contrastive = next(line for line in lines if line.startswith("| contrastive | 2 |"))
    assert " ± " in contrastive and "[" in contrastive
    assert any(line.startswith("| random | 2 |") for line in lines)
    order = [line for line in lines if line.startswith("- genre, PR-AUC: ")]
    assert order and order[0].startswith("- genre, PR-AUC: contrastive > (100 %*) random")


def test_demo_reports_put_the_linear_log_mel_probe_beside_the_trained_runs(tmp_path: Path) -> None:
    """The demo probes its log-mel baseline linearly and the trained runs with ours: the report takes both."""
    import json

    from engine.service.demo_study import reports

    runs = [make_run(tmp_path / "contrastive-s0", "contrastive", signal=3.0), make_run(tmp_path / "logmel", "logmel")]
    for run, protocol in zip(runs, ("ours", "linear")):
        for task in TASKS:
            run_probe(run, task, fractions=(100,), draws=1, config=ProbeConfig.of(protocol))
    written = reports(tmp_path, tmp_path / "out", runs)
    assert set(written) == set(TASKS)
    results = json.loads((tmp_path / "out" / TASKS[0] / "results.json").read_text())
    assert sorted(json.dumps(results).count(p) > 0 for p in ('"ours"', '"linear"')) == [True, True]
