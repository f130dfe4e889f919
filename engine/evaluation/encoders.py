"""The frozen encoders that embedding runs: a trained run's backbone, or the log-mel statistics of a
baseline pseudo-run (a run directory with `baseline.json` instead of config.toml and checkpoints)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import torch

from engine.evaluation.prototypes import PrototypeHead
from engine.rundir.layout import BASELINE, RunDir

Encoder = Callable[[torch.Tensor], torch.Tensor]  # (B, samples) waveforms -> (B, D) embeddings
LOGMEL_DIM = 256  # mean and std over time of 128 log-mel bins


def logmel_stats(frontend: torch.nn.Module) -> Encoder:
    """Log-mel statistics: per-bin mean and std over time, (B, samples) -> (B, 256)."""
    def encode(wave: torch.Tensor) -> torch.Tensor:
        mel = frontend(wave).squeeze(1)  # (B, n_mels, frames)
        return torch.cat([mel.mean(-1), mel.std(-1)], dim=1)  # (B, 2 * n_mels)
    return encode


def read_baseline(run_dir: Path) -> dict | None:
    """baseline.json of a pseudo-run, or None for a trained run."""
    path = RunDir(run_dir).baseline
    return json.loads(path.read_text()) if path.exists() else None



def load_encoder(run_dir: Path, checkpoint: str = "last", device: str = "cpu",
                 bf16: bool = False) -> tuple[Encoder, int, dict]:
    """The run's frozen encoder, its output size and the store attrs it implies (method, step, ...)."""
    return load_run(run_dir, checkpoint, device, bf16)[:3]


def load_trained_backbone(run_dir: Path, checkpoint: str) -> tuple[torch.nn.Module, Any, dict, Path]:
    """The backbone of a trained run's `checkpoint` (last or a step) on the CPU, with its config, the
    checkpoint's state and path; a ValueError names the file when it is not a run or does not match."""
    from engine import config as config_mod
    from engine.model.checkpoints import load_checkpoint, resolve_checkpoint
    from engine.model.ssl_model import build_backbone

    if not RunDir(run_dir).config.exists():
        raise ValueError(f"{run_dir}: not a run directory (no config.toml or {BASELINE})")
    cfg = config_mod.load(RunDir(run_dir).config)
    path = resolve_checkpoint(Path(run_dir), str(checkpoint))
    state = load_checkpoint(path)
    backbone = build_backbone(cfg)
    try:
        backbone.load_state_dict({k[len("backbone."):]: v for k, v in state["model"].items()
                                  if k.startswith("backbone.")})
    except (KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: no backbone weights matching config.toml ({str(err).splitlines()[0]})") from None
    return backbone, cfg, state, path


def load_run(run_dir: Path, checkpoint: str, device: str,
              bf16: bool) -> tuple[Encoder, int, dict, PrototypeHead | None]:
    """`load_encoder` plus the clustering head of the same checkpoint (None for other runs)."""
    from engine.model.frontend import LogMel

    baseline = read_baseline(run_dir)
    if baseline is not None:
        if baseline.get("method") != "logmel":
            raise ValueError(f"{RunDir(run_dir).baseline}: unknown baseline method {baseline.get('method')!r}")
        attrs = {"method": "logmel", "checkpoint_step": 0, "segment_seconds": float(baseline.get("segment_s", 4.0)),
                 "corpus": baseline.get("corpus", "demo"), "seed": int(baseline.get("seed", 0))}
        return logmel_stats(LogMel().to(device)), LOGMEL_DIM, attrs, None

    backbone, cfg, state, path = load_trained_backbone(run_dir, checkpoint)
    backbone.eval().to(device)
    attrs = {"method": cfg.method, "checkpoint_step": int(state["step"]), "segment_seconds": cfg.segment_s,
             "corpus": cfg.corpus, "seed": cfg.seed}

    try:
        head = PrototypeHead.from_checkpoint(cfg, state["model"], backbone.config.output_dim, device)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None

    def encode(wave: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            return backbone(wave).float()  # (B, D)
    return encode, backbone.config.output_dim, attrs, head


# --------------------------------------------------------------------------------------------------
