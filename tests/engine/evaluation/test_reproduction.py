"""`mvssl compare --against paper`: a run's scores beside the paper's figures, the protocol differences,
and the demo corpus said to have no published figure."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from engine import config
from engine.cli import main
from engine.evaluation import paper_figures, reproduction
from engine.evaluation.compare import compare
from engine.evaluation.probe import ProbeConfig, run_probe
from tests.engine.fake_runs import make_run

MTAT = "mtat:/data/mtat/split:/data/mtat/audio"


def test_the_figures_are_the_posters_with_their_read_off_and_source() -> None:
    assert paper_figures.figure("mtat", "roc_auc", "contrastive").value == 0.897
    assert paper_figures.figure("jamendo-top50", "pr_auc", "byol").value == 0.202
    assert paper_figures.figure("msd100", "pr_auc", "vicreg").uncertainty == 0.01
    assert paper_figures.figure("msd100", "roc_auc", "contrastive") is None  # the poster shows PR-AUC only
    assert paper_figures.figure("demo", "roc_auc", "contrastive") is None
    assert len(paper_figures.FIGURES) == 25 and all("poster" in f.source for f in paper_figures.FIGURES)


def test_the_figures_and_the_report_need_no_torch() -> None:
    import subprocess

    code = ("import sys; import engine.evaluation.paper_figures, engine.evaluation.reproduction; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_dataset_of_a_source_and_task() -> None:
    assert reproduction.dataset_of(MTAT, "top50") == "mtat"
    assert reproduction.dataset_of("jamendo:/s:/a:top50", "top50") == "jamendo-top50"
    assert reproduction.dataset_of("jamendo:/s:/a:genre", "genre") == "jamendo-genre"
    assert reproduction.dataset_of("demo", "genre") == "demo"


def _facts(**overrides) -> reproduction.RunFacts:
    values = dict(name="c", method="contrastive", task="top50", protocol="ours", eval_corpus=MTAT,
                  train_corpus="demo", imported=False, steps=300, f_max=8000.0, official=False, segments="all",
                  train_segments="all", micro_pooling="evaluable", split_sizes=(15_244, 1_529, 4_332))
    return reproduction.RunFacts(**{**values, **overrides})


def test_every_protocol_difference_is_listed_and_the_papers_own_choices_are_not() -> None:
    ours = {d.aspect: d.differs for d in reproduction.differences(_facts(), "mtat")}
    assert ours == {"pre-training corpus": True, "steps trained": None, "split files": False, "segments": True,
                    "pooling (track score)": True, "probe": True, "averaging": True, "f_max": True,
                    "official switches": True}
    paper = _facts(imported=True, protocol="paper", train_segments="25", f_max=11025.0, micro_pooling="all",
                   official=True)
    assert not any(d.differs for d in reproduction.differences(paper, "mtat"))


def test_a_run_is_set_beside_the_published_figure_of_its_dataset_and_metric() -> None:
    rep = reproduction.reproduce(_facts(), {"roc_auc": reproduction.Score(0.850, 0.84, 0.86),
                                            "pr_auc": reproduction.Score(0.40)})
    assert [r.paper.value for r in rep.rows] == [0.897, 0.435]
    assert rep.rows[0].difference == pytest.approx(-0.047)
    text = reproduction.render_text([rep])
    assert "paper 0.897 ± 0.005, difference -0.047" in text and "[differs] segments" in text
    assert "seeds" not in text.split("\n")[2] and "spread over training seeds is unknown" in text
    assert "source: poster Fig. 1" in text and "probe parameters: protocol ours" in text


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("paper-runs")
    out = []
    for name, method, attrs in (("contrastive", "contrastive", {"corpus": MTAT, "checkpoint_step": 200}),
                                ("demo", "byol", {"corpus": "demo"})):
        run = make_run(root / name, method, attrs=attrs)
        run_probe(run, "all", fractions=(100,), draws=1, config=ProbeConfig.of("paper"))
        out.append(run)
    return out


def test_compare_against_paper_on_the_cli_writes_and_prints_the_report(runs: list[Path], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(runs[0]), "--task", "all", "--out", str(tmp_path / "r"), "--resamples", "20",
                 "--against", "paper"]) == 0
    printed = capsys.readouterr().out
    assert "contrastive (contrastive) on MagnaTagATune" in printed and "paper 0.897 ± 0.005" in printed
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    report = results["against_paper"][0]
    assert report["dataset"] == "mtat" and report["scores"][0]["paper"]["value"] == 0.897
    assert report["protocol_parameters"]["protocol"] == "paper"
    differs = {d["aspect"]: d["differs"] for d in report["differences"]}
    assert differs["pooling (track score)"] is False and differs["segments"] is True  # 4 stored segments, not 25
    assert differs["split files"] is True  # 140 / 30 / 30 tracks, not the MTAT split
    html = (tmp_path / "r" / "report.html").read_text()
    assert "Against the paper" in html and "0.897 ± 0.005" in html and "bias-free Linear(512)" in html


def test_on_the_demo_corpus_it_says_no_published_figure_exists(runs: list[Path]) -> None:
    results = compare([runs[1]], "all", n_resamples=20, paper=True)
    report = results["against_paper"][0]
    assert all(s["paper"] is None for s in report["scores"])
    assert any("No published figure exists for this corpus (demo)" in n for n in report["notes"])
    assert "no published figure" in results["against_paper_text"]


def test_official_runs_report_micro_over_every_column(tmp_path: Path) -> None:
    run = make_run(tmp_path / "official", attrs={"corpus": "demo"})
    cfg = config.build("demo", overrides={"official": "true"})
    config.save(cfg, run / "config.toml")
    run_probe(run, "all", fractions=(100,), draws=1)
    results = compare([run], "all", n_resamples=10)
    assert results["full_data"]["official"]["micro_pooling"] == "all"
    from engine.rundir import analysis_store
    assert analysis_store.read_probes(run, "all")["all"].draws[0].info["micro_pooling"] == "all"
