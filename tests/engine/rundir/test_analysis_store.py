"""engine.rundir.analysis_store: the analysis.h5 layout, copy-on-write updates, and crash safety."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.rundir import analysis_store

ROOT = Path(__file__).resolve().parents[3]


def run_python(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_projection_diagnostics_and_probes_round_trip(tmp_path: Path) -> None:
    assert analysis_store.read_projection(tmp_path, "umap") is None and analysis_store.list_projections(tmp_path) == []
    assert analysis_store.read_diagnostics(tmp_path) == {} and analysis_store.read_probes(tmp_path) == {}
    xy = np.random.default_rng(0).standard_normal((5, 2))
    analysis_store.write_projection(tmp_path, "umap", xy, {"method": "umap", "params": {"n_neighbors": 15}, "seed": 3})
    analysis_store.write_projection(tmp_path, "pca", xy[:, ::-1], {"method": "pca"})
    analysis_store.write_diagnostics(tmp_path, 100, {"rankme": 12.5}, {"spectrum": np.arange(4.0)})
    analysis_store.write_diagnostics(tmp_path, 20, {"rankme": 3.0}, {})
    got, attrs = analysis_store.read_projection(tmp_path, "umap")
    assert got.dtype == np.float32 and np.allclose(got, xy)
    assert attrs == {"method": "umap", "params": {"n_neighbors": 15}, "seed": 3}
    assert analysis_store.list_projections(tmp_path) == ["pca", "umap"]
    diag = analysis_store.read_diagnostics(tmp_path)
    assert list(diag) == [20, 100] and diag[100][0] == {"rankme": 12.5}
    np.testing.assert_array_equal(diag[100][1]["spectrum"], np.arange(4.0))
    with pytest.raises(ValueError, match="xy must be"):
        analysis_store.write_projection(tmp_path, "bad", np.zeros((3, 3)), {})
    with pytest.raises(ValueError, match="without '/'"):
        analysis_store.write_projection(tmp_path, "a/b", xy, {})


def test_probes_hold_every_fraction_and_draw_and_reset_on_a_new_test_set(tmp_path: Path) -> None:
    test_index = np.array([4, 7, 9])
    for fraction, draw in [(0.01, 0), (0.01, 1), (1.0, 0)]:
        pred = np.full((3, 2), fraction + draw, np.float32)
        analysis_store.write_probe(tmp_path, "top50", fraction, draw, pred, test_index, ["a", "b"],
                          {"roc_auc_macro": 0.5 + fraction}, {"train_tracks": 10, "seed": draw})
    result = analysis_store.read_probes(tmp_path)["top50"]
    assert result.tag_names == ["a", "b"] and list(result.test_index) == [4, 7, 9]
    assert result.fractions() == [0.01, 1.0]
    assert [(d.fraction, d.draw) for d in result.draws] == [(0.01, 0), (0.01, 1), (1.0, 0)]
    assert result.at(0.01)[1].pred[0, 0] == pytest.approx(1.01)
    assert result.draws[2].metrics == {"roc_auc_macro": 1.5} and result.draws[1].info == {"train_tracks": 10, "seed": 1}
    assert analysis_store.list_probe_tasks(tmp_path) == ["top50"] and analysis_store.read_probes(tmp_path, "other") == {}
    analysis_store.write_probe(tmp_path, "top50", 0.05, 0, np.zeros((2, 2)), np.array([1, 2]), ["a", "b"], {}, {})
    assert [(d.fraction, d.draw) for d in analysis_store.read_probes(tmp_path, "top50")["top50"].draws] == [(0.05, 0)]
    with pytest.raises(ValueError, match="pred"):
        analysis_store.write_probe(tmp_path, "top50", 0.05, 0, np.zeros((2, 3)), np.array([1, 2]), ["a", "b"], {}, {})


def test_analysis_update_killed_midway_leaves_the_old_file(tmp_path: Path) -> None:
    analysis_store.write_projection(tmp_path, "pca", np.ones((3, 2)), {"method": "pca"})
    proc = run_python(f"""
        import os, signal, numpy as np
        from engine.rundir import analysis_store
        def change(f):
            f["projections/pca/xy"][:] = 0
            f.create_dataset("big", data=np.zeros(1 << 20))
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        analysis_store.update_analysis({str(tmp_path)!r}, change)
        """)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert [p.name for p in tmp_path.glob(".analysis.h5.*.partial")] == [f".analysis.h5.{proc.pid}.partial"]
    xy, attrs = analysis_store.read_projection(tmp_path, "pca")
    np.testing.assert_array_equal(xy, np.ones((3, 2)))
    analysis_store.write_diagnostics(tmp_path, 1, {"x": 1.0}, {})  # the next writer is not blocked
    assert not list(tmp_path.glob(".analysis.h5.*.partial"))
    assert analysis_store.read_projection(tmp_path, "pca") is not None and 1 in analysis_store.read_diagnostics(tmp_path)


def test_concurrent_analysis_writers_lose_no_update(tmp_path: Path) -> None:
    code = f"""
        import sys, numpy as np
        from engine.rundir import analysis_store
        for i in range(8):
            analysis_store.write_diagnostics({str(tmp_path)!r}, int(sys.argv[1]) * 100 + i, {{"i": i}}, {{}})
        """
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), str(k)], cwd=ROOT) for k in (1, 2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert sorted(analysis_store.read_diagnostics(tmp_path)) == [k * 100 + i for k in (1, 2) for i in range(8)]
    assert json.loads(json.dumps(analysis_store.read_diagnostics(tmp_path)[205][0])) == {"i": 5}
