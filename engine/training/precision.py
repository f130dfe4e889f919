"""The one place that decides the autocast dtype of the jobs that run the backbone (training, embedding, snapshots);
probes always train in float32 (engine.evaluation.probe: faster for their small MLP on every CPU measured).

CUDA: bf16 where the device has it, else fp16 (with a grad scaler in training). CPU: whichever of bf16
and fp32 a short measurement of the real training step finds faster on this machine, measured once
and cached per CPU and torch build (`engine.training.speed_cache`). bf16 is only kept when it is clearly
faster (by `BF16_MARGIN`): its rounding is not worth a tie. `MVSSL_CPU_PRECISION=fp32|bf16` skips the
measurement (clusters with many identical nodes, and the test suite, which must not depend on the CPU).
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from engine.training import speed_cache

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
BF16_MARGIN = 1.10  # bf16 must be at least 10 % faster than fp32 to be chosen on a CPU
NOISY = 1.5  # slowest / fastest timed step above this: the machine was too busy for a clean measurement
MEASURE_BATCH = 8  # tracks per measured step; the demo preset's 32 is estimated linearly from it
ENV = "MVSSL_CPU_PRECISION"

StepTimer = Callable[[str], list[float]]  # precision name -> seconds of each timed step


@dataclass(frozen=True)
class Precision:
    """What `requested` resolved to on a device, and why, in words a user can act on."""

    name: str  # "bf16" | "fp16" | "fp32"
    requested: str
    reason: str
    measurement: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]

    @property
    def autocast(self) -> bool:
        return self.name != "fp32"

    def record(self) -> dict[str, Any]:
        """The choice as written to events.jsonl and shown in the GUI."""
        out: dict[str, Any] = {"precision": self.name, "requested": self.requested, "reason": self.reason}
        if self.measurement is not None:
            out["measured_step_s"] = self.measurement["step_s"]
        return out


def resolve(requested: str, device: torch.device | str, timer: StepTimer | None = None) -> Precision:
    """The precision of a job on `device`: `requested` is auto, bf16, fp16 or fp32 (config field `precision`)."""
    device = torch.device(device)
    if requested not in ("auto", *DTYPES):
        raise ValueError(f"config field 'precision': expected auto, bf16, fp16 or fp32, got {requested!r}")
    if device.type == "cuda":
        return _resolve_cuda(requested, device)
    if requested == "fp16":
        raise ValueError("config field 'precision': fp16 needs a GPU; use bf16 or fp32 on CPU")
    if requested == "fp32":
        return Precision("fp32", requested, "set in the config")
    forced = os.environ.get(ENV, "").strip().lower()
    if requested == "auto" and forced:
        if forced not in ("bf16", "fp32"):
            raise ValueError(f"environment variable {ENV}: expected bf16 or fp32, got {forced!r}")
        return Precision(forced, requested, f"set by {ENV}")
    measurement = cpu_measurement(timer)
    slowdown = measurement["bf16_slowdown"]
    if requested == "bf16":
        reason = "set in the config"
        if slowdown > 1.0:
            reason += f"; measured {slowdown:.1f}x slower than fp32 on this CPU"
            print(f"warning: precision=bf16 on {measurement['cpu']}: bf16 trains {slowdown:.1f}x slower than fp32 "
                  f"here (measured); precision=auto picks fp32", file=sys.stderr, flush=True)
        return Precision("bf16", requested, reason, measurement)
    chosen = measurement["chosen"]
    flags = ", ".join(k for k, v in measurement["flags"].items() if v) or "no SIMD flags read"
    if chosen == "bf16":
        reason = f"bf16 measured {1 / slowdown:.2f}x faster than fp32 on this CPU ({flags})"
    else:
        reason = f"bf16 measured {slowdown:.2f}x the time of fp32 on this CPU ({flags})"
    return Precision(chosen, requested, reason, measurement)


def _resolve_cuda(requested: str, device: torch.device) -> Precision:
    bf16 = torch.cuda.is_bf16_supported()
    if requested == "auto":
        name = "bf16" if bf16 else "fp16"
        return Precision(name, requested, f"{torch.cuda.get_device_name(device)}: "
                                           f"{'native bf16' if bf16 else 'no bf16; fp16 with a grad scaler'}")
    if requested == "bf16" and not bf16:
        raise ValueError(f"config field 'precision': {torch.cuda.get_device_name(device)} has no bf16; use fp16")
    return Precision(requested, requested, "set in the config")


def cpu_measurement(timer: StepTimer | None = None) -> dict[str, Any]:
    """This machine's cached step times at fp32 and bf16, measured now (a few seconds) if missing."""
    key = speed_cache.machine_key(torch.__version__, torch.get_num_threads())
    cached = speed_cache.read(key) if timer is None else None
    if cached is not None and not cached.get("provisional"):
        return cached
    measurement = measure(timer or _real_step_timer())
    if cached is not None and measurement["provisional"] and cached.get("noise", 9e9) < measurement["noise"]:
        return cached  # the earlier (also busy) measurement was the cleaner one
    speed_cache.write(key, measurement)
    return measurement


def measure(timer: StepTimer) -> dict[str, Any]:
    """Median step time at both precisions; fp32 unless bf16 is faster by BF16_MARGIN.

    Taken on a busy machine (1-minute load above the cores, or steps spread by more than NOISY), the
    result is marked provisional: this job uses it, and the next job measures again.
    """
    times = {name: timer(name) for name in ("fp32", "bf16")}
    step_s = {name: statistics.median(t) for name, t in times.items()}
    slowdown = step_s["bf16"] / step_s["fp32"]
    noise = max(max(t) / min(t) for t in times.values())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    info = speed_cache.cpu_info()
    scale = 32 / MEASURE_BATCH
    return {"cpu": info["cpu"], "vendor": info["vendor"], "cores": info["cores"], "flags": info["flags"],
            "kind": speed_cache.machine_kind(info), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "measured_at": time.time(), "batch_size": MEASURE_BATCH, "views": 2, "segment_s": 4.0,
            "step_s": step_s, "step_s_all": times, "bf16_slowdown": slowdown,
            "chosen": "bf16" if slowdown * BF16_MARGIN <= 1.0 else "fp32", "noise": noise, "loadavg": load,
            "provisional": noise > NOISY or load > (info["cores"] or 1),
            "demo_batch_size": 32, "demo_step_s": {k: v * scale for k, v in step_s.items()}}


def _real_step_timer(warmup: int = 1, timed: int = 3) -> StepTimer:
    """Times the trainer's own step (contrastive, demo preset, MEASURE_BATCH tracks) at a precision,
    the two precisions' timed steps interleaved so that load from other processes hits both alike."""
    from engine import config as config_mod
    from engine.training.loop import Runtime, TrainStep, build_model, scheduled_at

    cfg = config_mod.build("demo", overrides={"method": "contrastive", "batch_size": MEASURE_BATCH,
                                              "device": "cpu"})
    gen = torch.Generator().manual_seed(0)
    views = 0.1 * torch.randn(cfg.views, cfg.batch_size, round(cfg.segment_s * 16_000), generator=gen)
    sched = scheduled_at(cfg, cfg.steps // 2, steps_per_epoch=1)
    steps = {}
    for name in ("fp32", "bf16"):
        rt = Runtime(torch.device("cpu"), DTYPES[name])
        steps[name] = TrainStep(cfg, build_model(cfg, rt), rt)
    results: dict[str, list[float]] = {name: [] for name in steps}
    for name, step in steps.items():
        for _ in range(warmup):
            step(views, cfg.steps // 2, sched)
    for _ in range(timed):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step(views, cfg.steps // 2, sched)
            results[name].append(time.perf_counter() - t0)
    return lambda name: results[name]
