"""End to end: the collapse alarm on real runs. The engine trains a tiny demo study of
`clustering-collapse` and `contrastive` with the same settings and diagnoses both; the collapse panel
names the dominant collapse of the first and shows no alarm for the second.

Why these settings, as measured on the demo corpus (seeds 0-2): with the paper's EMA (0.996 -> 1)
the teacher moves only ~15 % of the way to the student in 40 steps, too slowly for the uncentred
teacher's rich-get-richer feedback. `clustering-collapse` is then classified dominant only around
step 20, while the barely trained backbone still maps every input to nearly one point, and not at
steps 30-60 (5-26 distinct prototypes on the diagnosis views). With a fast teacher (EMA 0.9) one or
two prototypes take every view from step 20 on (teacher entropy < 0.15 nats, effective prototypes
1.1-1.9 at step 40). Batch 16 because contrastive at batch 8 stays dimensionally collapsed (RankMe
2.4-4.0 on the 80 diagnosis views at steps 40-100); at batch 16 its RankMe is 9-22 at step 40. The
EMA does not touch contrastive (no teacher).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.rundir import analysis_store
from engine.data.corpora.demo import make_demo
from tests.e2e.test_engine_e2e import TIMEOUT, _start_engine, _stop
from tests.engine.service.test_server import wait_push
from workbench.panels.collapse import model as cm
from workbench.panels.collapse.view import ALARM_STYLE, HEALTHY_STYLE, CollapsePanel
from workbench.runs.selection import RunSelection

CORPUS_TRACKS = 40  # 80 diagnosis views, so up to 4 effective prototypes count as dominant (5 % of 80)
STEPS = 40
CONFIG = dict(steps=STEPS, batch_size=16, segment_s=2.0, min_gap_s=2.0, warmup_steps=0, ema_start=0.9, ema_end=0.9,
              log_every=10, checkpoint_every=20, num_workers=0, precision="fp32", device="cpu")


@pytest.fixture(scope="module")
def study_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(clustering-collapse run, contrastive run), pre-trained and diagnosed by a real engine."""
    tmp = tmp_path_factory.mktemp("collapse-alarm")
    corpus = make_demo(tmp / "corpus", tracks=CORPUS_TRACKS, seconds=12.0, workers=1, progress=False)
    runs = tmp / "runs"
    engine, client = _start_engine(runs)
    try:
        study = client.request("submit_study", methods=["clustering-collapse", "contrastive"],
                               corpus=f"folder:{corpus}", config=CONFIG, seeds=[0], stages=["pretrain", "diagnose"],
                               name="alarm")["study"]
        done = wait_push(client, lambda p: p["type"] == "study" and p["study"]["id"] == study["id"]
                         and p["study"]["state"] != "running", timeout=4 * TIMEOUT)
        assert done["study"]["state"] == "done", done["study"]
        client.request("shutdown")
        engine.wait(timeout=TIMEOUT)
    finally:
        _stop(engine, client)
    collapse_run, contrastive_run = (runs / b["run"] for b in study["branches"])
    return collapse_run, contrastive_run


@pytest.mark.slow
def test_alarm_names_dominant_for_clustering_collapse_and_stays_off_for_contrastive(
        qtbot, study_runs: tuple[Path, Path]) -> None:
    collapse_run, contrastive_run = study_runs
    selection = RunSelection()
    selection.set_runs([collapse_run, contrastive_run])
    view = CollapsePanel(selection, poll_ms=100)
    qtbot.addWidget(view)
    assert view.shown_runs() == (collapse_run, contrastive_run)
    collapsed, healthy = view.columns

    assert collapsed.alarm_label.styleSheet() == ALARM_STYLE
    assert "dominant collapse: one prototype takes every sample" in collapsed.alarm_label.text()
    scalars, arrays = analysis_store.read_diagnostics(collapse_run)[STEPS]  # the diagnose job's verdict behind it
    assert scalars["clustering_state"] == "dominant" and scalars["effective_prototypes"] <= 4
    assert arrays["usage"].max() >= 0.5 * arrays["usage"].sum()  # one prototype holds at least half the views
    assert all(plot.isVisible() for plot in collapsed.clustering_plots)
    assert any(a.kind == "dominant" and a.step == STEPS for a in cm.RunCollapse.load(collapse_run).alarms())

    assert healthy.alarm_label.styleSheet() == HEALTHY_STYLE
    assert healthy.alarm_label.text() == "no collapse at the latest measurement"
    scalars, _ = analysis_store.read_diagnostics(contrastive_run)[STEPS]
    assert scalars["embedding_state"] == "healthy" and "clustering_state" not in scalars
    assert cm.RunCollapse.load(contrastive_run).alarms() == []
    assert not any(plot.isVisible() for plot in healthy.clustering_plots)
