"""`mvssl export --format hear`: the package's embeddings equal `mvssl embed`'s, and the official
`hearvalidator` (in its own venv, `make hear-venv`) accepts the package installed with pip."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine import cli

from engine.rundir import embeddings_store
from engine.api import load_model
from engine.export.hear import export_hear

PROJECT_ROOT = Path(__file__).resolve().parents[3]
HEAR_PYTHON = PROJECT_ROOT / ".venv-hear" / "bin" / "python"
METHODS = ("contrastive", "random", "logmel")


def import_package(folder: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, folder / name / "__init__.py",
                                                  submodule_search_locations=[str(folder / name)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def packages(export_runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("hear")
    return {m: export_hear(export_runs[m], out / m, name=f"mvssl_{m}") for m in METHODS}


@pytest.mark.parametrize("method", METHODS)
def test_scene_embedding_equals_the_track_embedding_mvssl_embed_stores(method, export_runs, packages) -> None:
    package = import_package(packages[method], f"mvssl_{method}")
    model = package.load_model()
    assert (model.sample_rate, model.scene_embedding_size) == (16000, 256 if method == "logmel" else 1024)
    with embeddings_store.open_embeddings(export_runs[method]) as emb:
        tracks, stored = emb.tracks, emb.track_embeddings()
    rows = [0, 5, 11]
    audio = []
    for row in rows:
        wave, sr = sf.read(tracks.paths[row], dtype="float32")
        assert sr == 16000 and wave.ndim == 1
        audio.append(wave)
    scene = package.get_scene_embeddings(torch.from_numpy(np.stack(audio)), model)
    assert scene.dtype == torch.float32 and scene.shape == (3, model.scene_embedding_size)
    np.testing.assert_allclose(scene.numpy(), stored[rows], rtol=1e-5, atol=2e-6)
    other = stored[[1, 6, 12]]  # and not just any track's embedding (the untrained ones are close)
    assert np.abs(scene.numpy() - other).max() > 1e-4


@pytest.mark.parametrize("method", ["contrastive", "logmel"])
def test_timestamp_embeddings_are_centred_4_s_windows_every_50_ms(method, export_runs, packages) -> None:
    package = import_package(packages[method], f"mvssl_{method}")
    model = package.load_model()
    run_model = load_model(export_runs[method])[0]
    wave = torch.from_numpy(np.random.default_rng(1).uniform(-0.5, 0.5, (1, 3 * 16000 + 123)).astype(np.float32))
    emb, times = package.get_timestamp_embeddings(wave, model)
    np.testing.assert_allclose(times[0].numpy(), np.arange(61) * 50.0)  # 0 .. 3000 ms, never past the end
    assert emb.shape == (1, 61, model.timestamp_embedding_size)
    padded = torch.nn.functional.pad(wave[0], (32000, 32000))
    for k in (0, 20, 60):  # the window centred on k * 50 ms
        start = k * 800
        with torch.no_grad():
            want = run_model(padded[start : start + 64000][None])[0]
        np.testing.assert_allclose(emb[0, k].numpy(), want.numpy(), rtol=1e-5, atol=2e-6)
    assert np.abs(emb[0, 20].numpy() - emb[0, 21].numpy()).max() > 1e-5  # neighbouring windows differ


def test_a_fractional_timestamp_hop_rounds_each_window_start_without_drift(packages) -> None:
    package = import_package(packages["logmel"], "mvssl_logmel")
    model = package.load_model()
    model.timestamp_hop_ms = 1000 / 30  # 533.33 samples at 16 kHz
    wave = torch.from_numpy(np.random.default_rng(2).uniform(-0.5, 0.5, (2, 100 * 16000)).astype(np.float32))
    emb, times = package.get_timestamp_embeddings(wave, model)
    assert times.shape == (2, 3001) and float(times[0, -1]) == pytest.approx(100_000.0)
    padded = torch.nn.functional.pad(wave[1], (32000, 32000))
    k = 2999  # its window starts at round(2999 * 533.33) = 1599467, not 2999 * 533
    with torch.no_grad():
        want = model(padded[1599467 : 1599467 + 64000][None])[0]
    np.testing.assert_allclose(emb[1, k].numpy(), want.numpy(), rtol=1e-5, atol=1e-4)


def test_package_ships_the_portable_source_unchanged_and_weights_load_weights_only(packages) -> None:
    folder = packages["contrastive"] / "mvssl_contrastive"
    portable = PROJECT_ROOT / "engine" / "model" / "portable"
    assert (folder / "model.py").read_text() == (portable / "model.py").read_text()
    assert (folder / "__init__.py").read_text() == (portable / "hear_api.py").read_text()
    source = (folder / "model.py").read_text() + (folder / "__init__.py").read_text()
    assert "engine" not in {line.split()[1].split(".")[0] for line in source.splitlines()
                            if line.startswith(("import ", "from "))}
    state = torch.load(folder / "weights.pt", weights_only=True)
    assert set(state) == {"state_dict", "config"} and "resnet.attnpool.c_proj.weight" in state["state_dict"]


def test_cli_export_and_its_errors(export_runs, tmp_path, capsys) -> None:
    out = tmp_path / "pkg"
    assert cli.main(["export", "--run-dir", str(export_runs["random"]), "--format", "hear", "--out", str(out),
                     "--checkpoint", "0"]) == 0
    assert (out / "pyproject.toml").is_file() and (out / "mvssl_random" / "weights.pt").is_file()
    assert cli.main(["export", "--run-dir", str(export_runs["random"]), "--format", "hear", "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert cli.main(["export", "--run-dir", str(export_runs["random"]), "--format", "hear", "--out",
                     str(tmp_path / "x"), "--name", "Not-A-Module"]) == 2
    assert "--name 'Not-A-Module'" in capsys.readouterr().err
    assert cli.main(["export", "--run-dir", str(export_runs["random"]), "--format", "hear", "--out",
                     str(tmp_path / "y"), "--checkpoint", "7"]) == 2
    assert not (tmp_path / "y").exists()


def hear_python() -> Path:
    if not HEAR_PYTHON.exists():
        message = f"{HEAR_PYTHON} missing: `make hear-venv` installs the HEAR validator"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return HEAR_PYTHON


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_official_hear_validator_accepts_the_pip_installed_package(method, packages, tmp_path) -> None:
    python = hear_python()
    site = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(packages[method])], check=True, env=env, cwd=tmp_path)
    env.update(PYTHONPATH=str(site), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([str(python), "-m", "hearvalidator.validate", f"mvssl_{method}", "--device", "cpu"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Looks good!" in done.stdout
    assert f"scene_embedding_size: {256 if method == 'logmel' else 1024}" in done.stdout
