"""`make gpu-check`: what a lent GPU does with this project, in a few minutes, as JSON.

1. Each pretext method: `steps` training steps of the trainer's own step (engine.training.loop.TrainStep) at the
   precision `precision=auto` resolves to on the device; views/s, and MFU against a matmul peak measured
   in the same run at that precision (bf16 on a GPU with bf16; fp32 on a CPU where auto picks fp32, whose
   bf16 would be emulated) (FLOPs of one step from torch.utils.flop_counter).
2. The training data pipeline (decode, crop, resample) with every core as a worker, in views/s, against
   what the GPU step consumes.
3. Embedding: clips/s of the frozen backbone's forward at the auto precision.
4. A one-process `torchrun` smoke test of DDP (NCCL on CUDA, gloo on CPU) through TrainStep.distribute.

    python -m benchmarks.gpu_check [--device cuda|cpu] [--quick] [--out FILE]

`--device cpu --quick` runs every part at toy sizes in seconds (the test suite runs it so it cannot rot).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("contrastive", "byol", "clustering", "barlow_twins", "vicreg")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_tflops(device: torch.device, n: int, dtype: torch.dtype = torch.bfloat16, repeats: int = 10) -> float:
    """Best (n, n) @ (n, n) TFLOP/s in `dtype` on `device`, after warm-up."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e12


def train_method(method: str, device: torch.device, batch: int, steps: int, warmup: int) -> dict[str, Any]:
    """Views/s and FLOPs per step of `steps` trainer steps of `method` on in-device random views."""
    from torch.utils.flop_counter import FlopCounterMode

    from engine import config as config_mod
    from engine.training.loop import TrainStep, build_model, resolve_runtime, scheduled_at

    cfg = config_mod.build("demo", overrides={"method": method, "batch_size": batch, "device": device.type})
    rt = resolve_runtime(cfg)
    step = TrainStep(cfg, build_model(cfg, rt), rt)
    sched = scheduled_at(cfg, cfg.steps // 2, steps_per_epoch=1)
    gen = torch.Generator(device=device).manual_seed(0)
    views = 0.1 * torch.randn(cfg.views, batch, round(cfg.segment_s * 16_000), device=device, generator=gen)
    for _ in range(warmup):
        step(views, cfg.steps // 2, sched)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        result = step(views, cfg.steps // 2, sched)
    float(result.loss)  # waits for the last step
    seconds = time.perf_counter() - t0
    with FlopCounterMode(display=False) as counter:
        step(views, cfg.steps // 2, sched)
    n_views = cfg.views * batch
    return {"method": method, "precision": rt.precision.name, "precision_reason": rt.precision.reason,
            "batch": batch, "steps": steps, "step_s": seconds / steps, "views_per_s": n_views * steps / seconds,
            "flops_per_step": int(counter.get_total_flops()), "loss": float(result.loss)}


def data_pipeline(tracks: int, seconds: float, workers: int, batches: int, batch: int) -> dict[str, Any]:
    """Views/s of the trainer's DataLoader (decode + crop + resample) on generated FLAC, `workers` workers."""
    import numpy as np
    import soundfile as sf
    from torch.utils.data import DataLoader

    from engine.data.corpora.sources import load_source
    from engine.training.batches import EpochIndexed, StepBatches
    from engine.data.views import MultiViewDataset, ViewConfig

    with tempfile.TemporaryDirectory(prefix="gpu-check-audio-") as root:
        rng = np.random.default_rng(0)
        lines = ["path,tags,split"]
        t = np.arange(int(seconds * 22_050)) / 22_050
        for i in range(tracks):
            wave = 0.3 * np.sin(2 * np.pi * (110 + 7 * i) * t) + 0.05 * rng.standard_normal(len(t))
            sf.write(Path(root) / f"t{i:04d}.flac", wave.astype(np.float32), 22_050)  # resampled to 16 kHz
            lines.append(f"t{i:04d}.flac,genre:g{i % 4},train")
        (Path(root) / "tags.csv").write_text("\n".join(lines) + "\n")
        source = load_source(f"folder:{root}")
        dataset = MultiViewDataset(source.tracks, ViewConfig(n_views=2, segment_s=4.0, min_gap_s=4.0, augment=False))
        sampler = StepBatches(len(dataset), batch, 0, 0, batches + 1)
        loader = DataLoader(EpochIndexed(dataset), batch_sampler=sampler, num_workers=workers,
                            persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
        it = iter(loader)
        next(it)
        t0 = time.perf_counter()
        views = sum(b.shape[0] * b.shape[1] for b in it)
        elapsed = time.perf_counter() - t0
    return {"workers": workers, "views_per_s": views / elapsed, "views": views, "format": "FLAC 22.05 kHz mono",
            "track_seconds": seconds}


def embedding(device: torch.device, batch: int, repeats: int) -> dict[str, Any]:
    """Clips/s of the frozen backbone (front end included) on 4 s clips at the auto precision."""
    from engine import config as config_mod
    from engine.training import precision
    from engine.model.ssl_model import SSLModel

    cfg = config_mod.build("demo", overrides={"device": device.type})
    backbone = SSLModel(cfg).backbone.eval().to(device)
    if device.type == "cuda":
        backbone = backbone.to(memory_format=torch.channels_last)
    choice = precision.resolve("auto", device)
    clips = 0.1 * torch.randn(batch, 64_000, device=device)
    with torch.no_grad(), torch.autocast(device.type, dtype=choice.dtype, enabled=choice.autocast):
        for _ in range(2):
            backbone(clips)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            out = backbone(clips)
        _sync(device)
    elapsed = time.perf_counter() - t0
    return {"precision": choice.name, "batch": batch, "clips_per_s": batch * repeats / elapsed,
            "finite": bool(torch.isfinite(out.float()).all())}


def ddp_smoke(device: str, timeout: float) -> dict[str, Any]:
    """Two trainer steps in a one-process `torchrun` job (NCCL on CUDA, gloo on CPU); its JSON line."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
           "-m", "benchmarks.gpu_check", "--ddp-child", "--device", device]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    result: dict[str, Any] = {"returncode": out.returncode, "seconds": time.perf_counter() - t0}
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode == 0 and lines:
        result.update(json.loads(lines[-1]))
    else:
        result["stderr"] = out.stderr.splitlines()[-15:]
    return result


def _ddp_child(device: str) -> int:
    """Inside torchrun: init the process group the trainer would, wrap the model in DDP, take two steps."""
    import torch.distributed as tdist

    from engine import config as config_mod
    from engine.training.loop import TrainStep, build_model, resolve_runtime, scheduled_at

    cfg = config_mod.build("demo", overrides={"method": "contrastive", "batch_size": 4, "device": device})
    rt = resolve_runtime(cfg)  # with WORLD_SIZE > 1 this initialises the process group itself
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if rt.device.type == "cuda" else "gloo")
    step = TrainStep(cfg, build_model(cfg, rt), rt)
    step.distribute()
    sched = scheduled_at(cfg, 1, steps_per_epoch=1)
    views = 0.1 * torch.randn(cfg.views, 4, 64_000, device=rt.device)
    losses = [float(step(views, 1, sched).loss) for _ in range(2)]
    total = torch.ones(1, device=rt.device)
    tdist.all_reduce(total)
    print(json.dumps({"backend": tdist.get_backend(), "world": tdist.get_world_size(), "losses": losses,
                      "ddp": type(step.forward).__name__, "all_reduce": float(total)}))
    tdist.destroy_process_group()
    return 0


def run(device: str = "cuda", quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Every part of the check on `device`; the JSON-ready result."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu-check: no CUDA device here; use --device cpu for the quick CPU mode")
    from benchmarks.common import machine

    started = time.perf_counter()
    sizes = dict(batch=2, steps=2, warmup=1, peak_n=256, tracks=4, seconds=10.0, batches=2, embed_batch=4,
                 repeats=2) if quick else dict(batch=256, steps=100, warmup=10, peak_n=8192, tracks=256,
                                                seconds=30.0, batches=20, embed_batch=512, repeats=20)
    out: dict[str, Any] = {"date": dt.date.today().isoformat(), "quick": quick, "device": device,
                           "machine": machine(), "sizes": sizes}
    if dev.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(dev)
    from engine.training import precision

    auto = precision.resolve("auto", dev)
    peak = matmul_peak_tflops(dev, sizes["peak_n"], auto.dtype)
    out["matmul_peak_tflops"], out["matmul_peak_precision"] = peak, auto.name
    progress(f"{auto.name} matmul peak: {peak:.1f} TFLOP/s")
    out["training"] = {}
    for method in METHODS:
        m = train_method(method, dev, sizes["batch"], sizes["steps"], sizes["warmup"])
        m["mfu"] = m["flops_per_step"] / m["step_s"] / 1e12 / peak
        out["training"][method] = m
        progress(f"train {method}: {m['views_per_s']:.0f} views/s at {m['precision']}, MFU {m['mfu']:.1%}")
    consumed = out["training"]["contrastive"]["views_per_s"]
    workers = 1 if quick else (os.cpu_count() or 1)
    data = data_pipeline(sizes["tracks"], sizes["seconds"], workers, sizes["batches"], sizes["batch"] if quick else 64)
    data["gpu_step_views_per_s"] = consumed
    data["ratio"] = data["views_per_s"] / consumed
    out["data"] = data
    progress(f"data: {data['views_per_s']:.0f} views/s with {workers} workers = {data['ratio']:.2f}x "
             f"what the contrastive step consumes")
    out["embedding"] = embedding(dev, sizes["embed_batch"], sizes["repeats"])
    progress(f"embed: {out['embedding']['clips_per_s']:.0f} clips/s")
    out["ddp"] = ddp_smoke(device, timeout=120 if quick else 300)
    progress(f"torchrun DDP smoke: {out['ddp']}")
    out["seconds"] = time.perf_counter() - started
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="toy sizes, seconds (CPU test mode)")
    parser.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/gpu/<date>-<device>.json)")
    parser.add_argument("--ddp-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ddp_child:
        return _ddp_child(args.device)
    result = run(args.device, args.quick)
    name = result.get("gpu", args.device).replace(" ", "-")
    path = args.out or ROOT / "benchmarks" / "results" / "gpu" / f"{result['date']}-{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    ok = result["ddp"].get("returncode") == 0 and result["embedding"]["finite"]
    print(f"wrote {path} ({result['seconds']:.0f} s){'' if ok else '; FAILED: see ddp / embedding'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
