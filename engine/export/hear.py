"""`mvssl export --format hear`: a pip-installable package implementing the HEAR 2021 API around a run's
frozen model (trained, `random` or log-mel baseline).

The package holds `engine/model/portable/hear_api.py` as its `__init__.py` and `engine/model/portable/model.py` as its
`model.py`, both copied unchanged, and `weights.pt` (a state dict plus the model's JSON config, loadable
with `torch.load(weights_only=True)`); it needs torch and numpy only. Before the folder is moved into
place, the written package is imported and must reproduce the run's model on a test segment.
"""
from __future__ import annotations

import importlib.util
import io
import json
import keyword
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from engine.api import load_model
from engine.data.audio import SAMPLE_RATE

PORTABLE = Path(__file__).resolve().parents[1] / "model" / "portable"
TOLERANCE = 1e-4  # max abs difference between the package's and the run's embedding of a test segment


def module_name(run_dir: Path) -> str:
    """The default import name: `mvssl_` + the run folder's name, lower case, non-alphanumerics as `_`."""
    return "mvssl_" + re.sub(r"[^0-9a-z]+", "_", Path(run_dir).resolve().name.lower()).strip("_")


def _check_name(name: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name) or name.lower() != name:
        raise ValueError(f"--name '{name}': must be a lower-case Python identifier (e.g. mvssl_contrastive)")
    return name


def embedder_state(model: torch.nn.Module, method: str, segment_samples: int) -> tuple[dict, dict]:
    """(config, state dict) of `engine.model.portable.model.Embedder` equal to the run's model."""
    backbone = None if method == "logmel" else model
    frontend = model.frontend
    c = frontend.config
    config = {"kind": "logmel" if backbone is None else "backbone", "sample_rate": c.sample_rate,
              "segment_samples": int(segment_samples), "n_fft": c.n_fft, "hop_length": c.hop_length,
              "n_mels": c.n_mels, "top_db": c.top_db}
    state = {"window": frontend.mel.spectrogram.window, "filterbank": frontend.mel.mel_scale.fb}
    if backbone is not None:
        b = backbone.config
        config.update(layers=list(b.layers), width=b.width, heads=b.heads, output_dim=b.output_dim,
                      grid=list(b.grid))
        state.update({f"resnet.{k}": v for k, v in backbone.resnet.state_dict().items()})
    return config, {k: v.detach().cpu().clone().contiguous() for k, v in state.items()}


def _pyproject(name: str, description: str) -> str:
    return f'''[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name.replace("_", "-")}"
version = "1.0.0"
description = "{description}"
requires-python = ">=3.9"
dependencies = ["torch>=2.0", "numpy"]

[tool.setuptools]
packages = ["{name}"]

[tool.setuptools.package-data]
"{name}" = ["weights.pt", "provenance.json"]
'''


def _readme(name: str, provenance: dict, dim: int) -> str:
    return f"""# {name}

HEAR 2021 API (https://hearbenchmark.com/hear-api.html) around the frozen `{provenance["method"]}` model
of the mvssl-workbench run `{provenance["run_id"]}` (checkpoint step {provenance["checkpoint_step"]}).
Needs torch and numpy only.

```sh
pip install .                # from this folder (needs torch and numpy)
hear-validator {name}        # the official validator, where it is installed
```

```python
import {name}, torch
model = {name}.load_model()             # the bundled weights.pt (or load_model("path/to/weights.pt"))
audio = torch.zeros(2, 10 * model.sample_rate)   # (n_sounds, n_samples), mono, {SAMPLE_RATE} Hz
scene = {name}.get_scene_embeddings(audio, model)                 # (2, {dim})
emb, timestamps = {name}.get_timestamp_embeddings(audio, model)   # (2, 201, {dim}), (2, 201) in ms
```

- `sample_rate` {SAMPLE_RATE}; `scene_embedding_size` = `timestamp_embedding_size` = {dim}.
- Scene embedding: the mean over the clip's non-overlapping 4 s segments from its start, silent
  segments (RMS below -60 dBFS) left out unless all are; a clip under 4 s is zero-padded. It equals the
  track embedding `mvssl embed` stores for the same audio (float32).
- Timestamp embeddings: one every `model.timestamp_hop_ms` = 50 ms from 0 to the end of the clip, the
  embedding of the 4 s window centred there (the clip zero-padded by 2 s on both sides).

Provenance: `provenance.json`.
"""


def _import_package(folder: Path, name: str):
    """Import the package in `folder` under a private name (so a second export in one process is fresh)."""
    alias = f"_mvssl_export_check_{name}"
    spec = importlib.util.spec_from_file_location(alias, folder / name / "__init__.py",
                                                  submodule_search_locations=[str(folder / name)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module
    try:
        spec.loader.exec_module(module)
    finally:
        for key in [k for k in sys.modules if k == alias or k.startswith(alias + ".")]:
            del sys.modules[key]
    return module


def export_hear(run_dir: Path, out: Path, checkpoint: str = "last", name: str | None = None,
                force: bool = False) -> Path:
    """Write the HEAR package of `run_dir` to `out` (a new or empty folder; `force` replaces it)."""
    run_dir, out = Path(run_dir), Path(out)
    name = _check_name(name or module_name(run_dir))
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out}: exists and is not empty (pick another --out, or --force to replace it)")
    model, method, step, cfg, samples = load_model(run_dir, checkpoint)
    config, state = embedder_state(model, method, samples)
    provenance = {"run_id": run_dir.resolve().name, "method": method, "checkpoint_step": step,
                  "corpus": cfg.corpus if cfg is not None else None, "seed": cfg.seed if cfg is not None else None,
                  "segment_samples": samples, "sample_rate": SAMPLE_RATE, "exported_by": "mvssl export --format hear"}
    config["provenance"] = provenance

    tmp = out.with_name(f".{out.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / name).mkdir(parents=True)
    try:
        shutil.copyfile(PORTABLE / "hear_api.py", tmp / name / "__init__.py")
        shutil.copyfile(PORTABLE / "model.py", tmp / name / "model.py")
        buffer = io.BytesIO()
        torch.save({"state_dict": state, "config": json.dumps(config)}, buffer)
        (tmp / name / "weights.pt").write_bytes(buffer.getvalue())
        (tmp / name / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")
        dim = config.get("output_dim", 2 * config["n_mels"])
        description = f"HEAR 2021 API for the {method} model of mvssl-workbench run {provenance['run_id']}"
        (tmp / "pyproject.toml").write_text(_pyproject(name, description))
        (tmp / "README.md").write_text(_readme(name, provenance, dim))
        _verify(tmp, name, model, samples)
        if out.exists():
            shutil.rmtree(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@torch.no_grad()
def _verify(folder: Path, name: str, model: torch.nn.Module, samples: int) -> None:
    """The written package must embed a test segment as the run's model does."""
    package = _import_package(folder, name)
    exported = package.load_model()
    wave = torch.from_numpy(np.random.default_rng(0).uniform(-0.5, 0.5, (2, samples)).astype(np.float32))
    got, want = exported(wave), model(wave).float()
    diff = float((got - want).abs().max())
    if got.shape != want.shape or not diff <= TOLERANCE:
        raise ValueError(f"{folder}: the exported model differs from the run's (max abs difference {diff:.3g})")
