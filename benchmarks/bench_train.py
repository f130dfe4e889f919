"""Training speed: our trainer's step against a plain eager fp32 loop over the same model, per method.

Ours is the trainer's own step, engine.training.loop.TrainStep on engine.model.ssl_model.SSLModel: all views in
one forward (one log-mel shared by student and teacher), channels_last, autocast as
`resolve_runtime` picks it (bf16 on CPU), fused AdamW on the parameter groups of the trainer,
gradient clipping, EMA/center update. The plain loop is the way the paper's code runs: the same
modules, each view forwarded on its own (teacher included), fp32, no channels_last, no autocast,
the log-mel by torchaudio's MelSpectrogram + AmplitudeToDB, the default (for-loop) AdamW. A second
plain loop with our faster LogMel is timed too, to show how much of the ratio the front end carries.
All see the same pre-generated in-memory batches, so data loading is excluded; their timed steps
are interleaved in blocks so that load from other processes hits them alike.
FLOPs per step come from torch.utils.flop_counter (convolutions and matmuls; the STFT is not
counted), the peak from a large matmul measured in the same run.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import matmul_peak_gflops, median, row
from engine import config as config_mod
from engine.model.backbone import Backbone
from engine.methods.ema import ema_update
from engine.model.ssl_model import SSLModel
from engine.training.loop import Runtime, TrainStep, build_model, resolve_runtime, scheduled_at

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
    """The trainer's own step (engine.training.loop.TrainStep) at the schedule values of the run's middle step,
    at the precision `precision=auto` resolves to here (or at `dtype`)."""

    def __init__(self, cfg: config_mod.RunConfig, dtype: torch.dtype | None = None) -> None:
        self.rt = resolve_runtime(cfg)
        if dtype is not None:
            self.rt = Runtime(self.rt.device, dtype)
        self.dtype = self.rt.dtype
        self.step = TrainStep(cfg, build_model(cfg, self.rt), self.rt)
        self.model = self.step.model
        self.at = cfg.steps // 2
        self.sched = scheduled_at(cfg, self.at, steps_per_epoch=1)

    def __call__(self, views: torch.Tensor) -> None:
        self.step(views, self.at, self.sched)


class PlainStep:
    """The paper's code style: the same modules, each view forwarded on its own, eager fp32.

    With `paper_frontend` the log-mel is computed as the paper's code computes it, by torchaudio's
    MelSpectrogram and AmplitudeToDB (a complex `abs` of the STFT); otherwise by our LogMel.
    """

    def __init__(self, cfg: config_mod.RunConfig, paper_frontend: bool = True) -> None:
        self.cfg, self.paper_frontend = cfg, paper_frontend
        torch.manual_seed(cfg.seed)
        self.model = SSLModel(cfg)
        self.optimizer = torch.optim.AdamW(self.model.student_parameters(), lr=cfg.lr,
                                           weight_decay=cfg.weight_decay_start)

    def _backbone(self, backbone: Backbone, view: torch.Tensor) -> torch.Tensor:
        if not self.paper_frontend:
            return backbone(view)
        frontend = backbone.frontend
        return backbone.forward_features(frontend.to_db(frontend.mel(view.unsqueeze(1))))

    def __call__(self, views: torch.Tensor) -> None:
        cfg, model = self.cfg, self.model
        student, targets = [], []
        for view in views:  # (B, T) one at a time
            z = model.head(self._backbone(model.backbone, view))
            student.append(model.predictor(z) if model.predictor is not None else z)
            if model.teacher is not None:
                with torch.no_grad():
                    targets.append(model.teacher["head"](self._backbone(model.teacher["backbone"], view)))
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
    variants = {"ours": ours, "plain": plain, "plain_our_frontend": PlainStep(cfg, paper_frontend=False)}
    if ours.dtype != torch.float32:
        variants["ours_fp32"] = OurStep(cfg, torch.float32)
    seconds = interleaved_step_times(variants, batches, warmup, timed, blocks=4)
    if "ours_fp32" not in seconds:
        seconds["ours_fp32"] = seconds["ours"]
    flops = {"ours": count_flops(ours, batches[0]), "plain": count_flops(plain, batches[0])}
    views = cfg.views * cfg.batch_size
    step_s = {k: median(v) for k, v in seconds.items()}
    achieved = {k: flops[k] / step_s[k] / 1e9 for k in flops}  # GFLOP/s
    peak_ours = peaks["bfloat16" if ours.dtype == torch.bfloat16 else "float32"]
    return {"method": method, "views_per_step": views, "autocast": str(ours.dtype).removeprefix("torch."),
            "step_s": step_s, "step_s_all": seconds, "views_per_s": {k: views / s for k, s in step_s.items()},
            "flops_per_step": flops, "achieved_gflops": achieved,
            "mfu": {"ours": achieved["ours"] / peak_ours, "plain": achieved["plain"] / peaks["float32"]}}


def precision_rows(batch: int, warmup: int, timed: int, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    """Is auto's choice right here? Its step against the other CPU precision's, contrastive at `batch`,
    interleaved in this run; and the short cached measurement auto decided from."""
    from engine.training import precision

    cfg = make_config("contrastive", batch)
    batches = make_batches(cfg)
    auto = OurStep(cfg)
    other_dtype = torch.float32 if auto.dtype == torch.bfloat16 else torch.bfloat16
    other_name = "fp32" if other_dtype == torch.float32 else "bf16"
    chosen = "bf16" if auto.dtype == torch.bfloat16 else "fp32"
    seconds = interleaved_step_times({"auto": auto, "other": OurStep(cfg, other_dtype)}, batches, 1,
                                     max(2, timed // 2), blocks=2)
    step_s = {k: median(v) for k, v in seconds.items()}
    progress(f"precision: auto = {chosen}, {step_s['auto']:.2f} s/step; {other_name} {step_s['other']:.2f} s/step")
    rows = [row(SECTION, f"precision auto ({chosen}) vs {other_name}: contrastive views/s", "views/s",
                cfg.views * batch / step_s["auto"], cfg.views * batch / step_s["other"],
                f"the same step at {other_name}, same run", ("ratio", ">=", 1.0), step_s_all=seconds)]
    m = auto.rt.precision.measurement if auto.rt.precision is not None else None
    if m is not None:
        rows.append(row(SECTION, f"precision measurement auto decided from: bf16 vs fp32 s/step "
                                 f"(batch {m['batch_size']}, chose {m['chosen']})", "s",
                        m["step_s"]["bf16"], m["step_s"]["fp32"], "fp32 step, cached measurement", None,
                        measured_at=m["measured_at"], threads=m["threads"]))
    return rows


def profile_rows(batch: int, top: int = 6) -> list[dict[str, Any]]:
    """Where the fp32 step's time goes (contrastive): the `top` operators by self CPU time, as shares."""
    from torch.profiler import ProfilerActivity, profile

    cfg = make_config("contrastive", batch)
    batches = make_batches(cfg)
    step = OurStep(cfg, torch.float32)
    step(batches[0])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for b in batches:
            step(b)
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in ops) / 1e6
    return [row(SECTION, f"fp32 step profile: {e.key}", "s", e.self_cpu_time_total / 1e6 / len(batches),
                total / len(batches), "whole fp32 step, self CPU time", None, calls=e.count // len(batches))
            for e in ops[:top]]


def run(quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Every method's training speed; rows and the raw per-method figures."""
    batch, warmup, timed = (2, 1, 4) if quick else (32, 2, 8)
    n = 256 if quick else 2048
    auto_bf16 = OurStep(make_config("contrastive", batch)).dtype == torch.bfloat16
    # where bf16 is emulated (auto = fp32) a 2048^2 bf16 matmul takes over a minute: a smaller one says enough
    sizes = {"float32": n, "bfloat16": n if auto_bf16 else min(n, 512)}
    used = ("float32", "bfloat16") if auto_bf16 else ("float32",)
    peaks = {d: matmul_peak_gflops(d, sizes[d]) for d in sizes}
    progress(f"matmul peak ({n}x{n}, {torch.get_num_threads()} threads): fp32 {peaks['float32']:.0f} GFLOP/s, "
             f"bf16 {peaks['bfloat16']:.0f} GFLOP/s ({sizes['bfloat16']}x{sizes['bfloat16']})")
    rows, raw = [], {}
    for method in METHODS:
        # the best peak seen so far: one taken while other processes hold the cores would inflate the MFU
        peaks = {d: max(peaks[d], matmul_peak_gflops(d, sizes[d])) if d in used else peaks[d] for d in peaks}
        m = measure_method(method, batch, warmup, timed, peaks)
        raw[method] = m
        rate = m["views_per_s"]
        progress(f"train {method}: ours {rate['ours']:.1f} views/s, plain {rate['plain']:.1f} views/s "
                 f"({rate['ours'] / rate['plain']:.2f}x; {rate['ours'] / rate['plain_our_frontend']:.2f}x against "
                 f"the plain loop with our front end), MFU {m['mfu']['ours']:.1%} "
                 f"(plain {m['mfu']['plain']:.1%} of fp32)")
        rows.append(row(SECTION, f"train {method}: views/s at auto ({m['autocast']})", "views/s", m["views_per_s"]["ours"],
                        m["views_per_s"]["plain"], "plain eager fp32 loop, views one at a time",
                        ("ratio", ">=", 2.0), batch=batch,
                        ratio_vs_plain_with_our_frontend=rate["ours"] / rate["plain_our_frontend"]))
        rows.append(row(SECTION, f"train {method}, fp32: views/s", "views/s", rate["ours_fp32"], rate["plain"],
                        "plain eager fp32 loop, views one at a time", None, batch=batch,
                        same_as_auto=m["autocast"] == "float32"))
        rows.append(row(SECTION, f"train {method}: GFLOP/s vs {m['autocast']} matmul peak (MFU)", "GFLOP/s",
                        m["achieved_gflops"]["ours"], peaks["bfloat16" if m["autocast"] == "bfloat16" else "float32"],
                        f"{m['autocast']} matmul peak, same run", None,
                        flops_per_step=m["flops_per_step"]["ours"], plain_mfu_fp32=m["mfu"]["plain"]))
    rows += precision_rows(batch, warmup, timed, progress)
    rows += profile_rows(batch)
    peak_after = {d: matmul_peak_gflops(d, sizes[d]) for d in sizes}
    rows.append(row(SECTION, "matmul peak: bf16 vs fp32", "GFLOP/s", peaks["bfloat16"], peaks["float32"],
                    "fp32 matmul, same run", None, sizes=sizes, after_section=peak_after))
    consumption = raw["contrastive"]["views_per_s"]["ours"]
    return {"rows": rows, "raw": {"methods": raw, "peaks": peaks, "peaks_after": peak_after, "batch": batch},
            "trainer_views_per_s": consumption}
