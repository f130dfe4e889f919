"""Training speed: our trainer's step against a plain eager fp32 loop over the same model, per method.

Ours is the step of engine/train.py on engine/ssl_model.SSLModel: all views in one forward,
channels_last, autocast as `resolve_runtime` picks it (bf16 on CPU), AdamW on the parameter groups
of the trainer, gradient clipping, EMA/center update. The plain loop is the way the paper's code
runs: the same modules, each view forwarded on its own, fp32, no channels_last, no autocast.
Both see the same pre-generated in-memory batches, so data loading is excluded; their timed
steps are interleaved in blocks so that load from other processes hits both alike.
FLOPs per step come from torch.utils.flop_counter (convolutions and matmuls; the STFT is not
counted), the peak from a large matmul measured in the same run.
"""
from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import matmul_peak_gflops, median, row
from engine import config as config_mod
from engine.pretext import ema_update
from engine.ssl_model import SSLModel
from engine.train import _param_groups, resolve_runtime

METHODS = ("contrastive", "byol", "clustering", "barlow_twins", "vicreg")
SECTION = "training"


def make_config(method: str, batch: int) -> config_mod.RunConfig:
    """The demo preset (2 views of 4 s at 16 kHz) on the CPU, at `batch` tracks."""
    return config_mod.build("demo", overrides={"method": method, "batch_size": batch, "device": "cpu"})


def make_batches(cfg: config_mod.RunConfig, count: int = 2, seed: int = 0) -> list[torch.Tensor]:
    """`count` in-memory batches of views (V, B, T), noise at a music-like level."""
    gen = torch.Generator().manual_seed(seed)
    samples = round(cfg.segment_s * 16_000)
    return [0.1 * torch.randn(cfg.views, cfg.batch_size, samples, generator=gen) for _ in range(count)]


class OurStep:
    """The trainer's step (engine/train.py): one forward of all views, channels_last, autocast, AdamW."""

    def __init__(self, cfg: config_mod.RunConfig) -> None:
        self.cfg = cfg
        self.rt = resolve_runtime(cfg)
        torch.manual_seed(cfg.seed)
        self.model = SSLModel(cfg)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(_param_groups(self.model), lr=cfg.lr, weight_decay=0.0, fused=False)
        self.dtype = self.rt.dtype

    def __call__(self, views: torch.Tensor) -> None:
        cfg, model = self.cfg, self.model
        autocast = torch.autocast("cpu", dtype=self.dtype) if self.dtype != torch.float32 else nullcontext()
        with autocast:
            out = model(views, cfg.teacher_temp_start)
        if not torch.isfinite(out.loss):
            raise FloatingPointError("non-finite loss")
        self.optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.student_parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf)
        self.optimizer.step()
        model.after_step(cfg.ema_start)


class PlainStep:
    """The paper's code style: the same modules, each view forwarded on its own, eager fp32."""

    def __init__(self, cfg: config_mod.RunConfig) -> None:
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.model = SSLModel(cfg)
        self.optimizer = torch.optim.AdamW(self.model.student_parameters(), lr=cfg.lr,
                                           weight_decay=cfg.weight_decay_start)

    def __call__(self, views: torch.Tensor) -> None:
        cfg, model = self.cfg, self.model
        student, targets = [], []
        for view in views:  # (B, T) one at a time
            z = model.head(model.backbone(view))
            student.append(model.predictor(z) if model.predictor is not None else z)
            if model.teacher is not None:
                with torch.no_grad():
                    targets.append(model.teacher["head"](model.teacher["backbone"](view)))
        z = torch.stack(student)  # (V, B, D)
        if model.spec.uses_teacher_temp:
            target = torch.stack(targets)
            loss = model.loss_fn(z, target, cfg.teacher_temp_start)
        elif targets:
            loss = model.loss_fn(z, torch.stack(targets))
        else:
            loss = model.loss_fn(z)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.student_parameters(), cfg.grad_clip)
        self.optimizer.step()
        if model.teacher is not None:
            ema_update(model.teacher["backbone"], model.backbone, cfg.ema_start)
            ema_update(model.teacher["head"], model.head, cfg.ema_start)
        if model.spec.uses_teacher_temp:
            model.loss_fn.update_center(target)


def count_flops(step: Callable[[torch.Tensor], None], views: torch.Tensor) -> int:
    """FLOPs of one training step (forward and backward of every conv and matmul)."""
    with FlopCounterMode(display=False) as counter:
        step(views)
    return int(counter.get_total_flops())


def interleaved_step_times(steps: dict[str, Callable[[torch.Tensor], None]], batches: list[torch.Tensor],
                           warmup: int, timed: int, blocks: int = 2) -> dict[str, list[float]]:
    """Seconds per step of each variant, timed in alternating blocks after `warmup` steps each."""
    import time

    out: dict[str, list[float]] = {name: [] for name in steps}
    for name, step in steps.items():
        for i in range(warmup):
            step(batches[i % len(batches)])
    per_block = max(1, -(-timed // blocks))
    for _ in range(blocks):
        for name, step in steps.items():
            for i in range(per_block):
                t0 = time.perf_counter()
                step(batches[i % len(batches)])
                out[name].append(time.perf_counter() - t0)
    return out


def measure_method(method: str, batch: int, warmup: int, timed: int, peaks: dict[str, float]) -> dict[str, Any]:
    """Views/s of ours and of the plain loop for one method, FLOPs per step and model FLOP utilisation."""
    cfg = make_config(method, batch)
    batches = make_batches(cfg)
    ours, plain = OurStep(cfg), PlainStep(cfg)
    seconds = interleaved_step_times({"ours": ours, "plain": plain}, batches, warmup, timed)
    flops = {"ours": count_flops(ours, batches[0]), "plain": count_flops(plain, batches[0])}
    views = cfg.views * cfg.batch_size
    step_s = {k: median(v) for k, v in seconds.items()}
    achieved = {k: flops[k] / step_s[k] / 1e9 for k in step_s}  # GFLOP/s
    peak_ours = peaks["bfloat16" if ours.dtype == torch.bfloat16 else "float32"]
    return {"method": method, "views_per_step": views, "autocast": str(ours.dtype).removeprefix("torch."),
            "step_s": step_s, "step_s_all": seconds, "views_per_s": {k: views / s for k, s in step_s.items()},
            "flops_per_step": flops, "achieved_gflops": achieved,
            "mfu": {"ours": achieved["ours"] / peak_ours, "plain": achieved["plain"] / peaks["float32"]}}


def run(quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Every method's training speed; rows and the raw per-method figures."""
    batch, warmup, timed = (2, 1, 2) if quick else (32, 2, 8)
    n = 256 if quick else 2048
    peaks = {d: matmul_peak_gflops(d, n) for d in ("float32", "bfloat16")}
    progress(f"matmul peak ({n}x{n}, {torch.get_num_threads()} threads): fp32 {peaks['float32']:.0f} GFLOP/s, "
             f"bf16 {peaks['bfloat16']:.0f} GFLOP/s")
    rows, raw = [], {}
    for method in METHODS:
        m = measure_method(method, batch, warmup, timed, peaks)
        raw[method] = m
        progress(f"train {method}: ours {m['views_per_s']['ours']:.1f} views/s, plain {m['views_per_s']['plain']:.1f} "
                 f"views/s, MFU {m['mfu']['ours']:.1%} (plain {m['mfu']['plain']:.1%} of fp32)")
        rows.append(row(SECTION, f"train {method}: views/s", "views/s", m["views_per_s"]["ours"],
                        m["views_per_s"]["plain"], "plain eager fp32 loop, views one at a time",
                        ("ratio", ">=", 2.0), batch=batch))
        rows.append(row(SECTION, f"train {method}: GFLOP/s vs {m['autocast']} matmul peak (MFU)", "GFLOP/s",
                        m["achieved_gflops"]["ours"], peaks["bfloat16" if m["autocast"] == "bfloat16" else "float32"],
                        f"{m['autocast']} matmul peak, same run", None,
                        flops_per_step=m["flops_per_step"]["ours"], plain_mfu_fp32=m["mfu"]["plain"]))
    peak_after = {d: matmul_peak_gflops(d, n) for d in ("float32", "bfloat16")}
    rows.append(row(SECTION, "matmul peak: bf16 vs fp32", "GFLOP/s", peaks["bfloat16"], peaks["float32"],
                    "fp32 matmul, same run", None, size=n, after_section=peak_after))
    consumption = raw["contrastive"]["views_per_s"]["ours"]
    return {"rows": rows, "raw": {"methods": raw, "peaks": peaks, "peaks_after": peak_after, "batch": batch},
            "trainer_views_per_s": consumption}
