"""What every benchmark section shares: result rows with their goals, timers, the matmul peak, the machine.

A row compares `ours` with a `baseline` measured in the same run (this machine is shared and noisy,
so only the ratio is meant to be compared across runs); the absolute figures are kept for the record.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any, Callable

Goal = tuple[str, str, float]  # (field: "ratio" | "ours", operator: ">=" | "<=" | "<", value)
_OPS: dict[str, Callable[[float, float], bool]] = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
                                                   "<": lambda a, b: a < b, ">": lambda a, b: a > b}


def row(section: str, what: str, unit: str, ours: float, baseline: float, baseline_is: str,
        goal: Goal | None = None, **extra: Any) -> dict[str, Any]:
    """One table row: ours, baseline, ratio = ours / baseline, and whether the goal (if any) is met."""
    ours, baseline = float(ours), float(baseline)
    ratio = ours / baseline if baseline else float("nan")
    out: dict[str, Any] = {"section": section, "what": what, "unit": unit, "ours": ours, "baseline": baseline,
                           "baseline_is": baseline_is, "ratio": ratio, "goal": None, "met": None}
    if goal is not None:
        field, op, value = goal
        out["goal"] = f"{field} {op} {value:g}"
        out["met"] = bool(_OPS[op]({"ratio": ratio, "ours": ours}[field], value))
    out.update(extra)
    return out


def times(fn: Callable[[], Any], repeats: int, warmup: int = 0) -> list[float]:
    """Wall seconds of `repeats` calls of fn, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def matmul_peak_gflops(dtype_name: str, n: int = 2048, repeats: int = 10) -> float:
    """Best GFLOP/s of an (n, n) @ (n, n) torch.matmul in `dtype_name` ("float32" or "bfloat16") on this CPU."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    best = min(times(lambda: torch.matmul(a, b), repeats, warmup=2))
    return 2 * n**3 / best / 1e9


def machine() -> dict[str, Any]:
    """What a figure was measured on: CPU model and kind, the flags that decide bf16 speed, cores, torch
    build and threads, load, and the precision `precision=auto` resolves to here (with its reason)."""
    import numpy
    import torch

    from engine.training import precision

    from engine.training import speed_cache

    info = speed_cache.cpu_info()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    auto = precision.resolve("auto", device)
    return {"host": platform.node(), "cpu": info["cpu"], "vendor": info["vendor"], "kind": speed_cache.machine_kind(info),
            "flags": info["flags"], "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "isa_limits": {k: os.environ[k] for k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY") if k in os.environ},
            "numpy": numpy.__version__, "python": platform.python_version(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "precision_auto": auto.name, "precision_reason": auto.reason,
            "loadavg_at_start": list(load) if load else None}


def result_kind(info: dict[str, Any]) -> str:
    """Folder name of a result under benchmarks/results/: the machine kind, marked when an ISA was capped."""
    return info["kind"] + ("-isa-" + info["isa_limits"].get("ONEDNN_MAX_CPU_ISA", "capped").lower()
                           if info.get("isa_limits") else "")


def demo_subset(root, tracks: int) -> str:
    """SOURCE of the first `tracks` demo-corpus tracks (links in `root`), generating the demo corpus if missing."""
    import csv
    from pathlib import Path

    from engine.data.corpora.demo import ensure_demo

    demo, root = ensure_demo(progress=False), Path(root)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    with open(demo / "tags.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:tracks]
    for r in rows:
        (root / r["path"]).symlink_to(demo / r["path"])
    with open(root / "tags.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return f"folder:{root}"


def tiny_corpus(root, tracks: int = 8, seconds: float = 12.0) -> str:
    """SOURCE of a few short generated WAV tracks with tags and splits (for --quick runs without the demo corpus)."""
    from pathlib import Path

    import numpy as np
    import soundfile as sf

    root, rng = Path(root), np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    lines = ["path,tags,split"]
    t = np.arange(int(seconds * 16_000)) / 16_000
    for i in range(tracks):
        wave = 0.3 * np.sin(2 * np.pi * (110 + 40 * i) * t) + 0.05 * rng.standard_normal(len(t))
        sf.write(root / f"t{i:03d}.wav", wave.astype(np.float32), 16_000)
        lines.append(f"t{i:03d}.wav,genre:g{i % 2},{('train', 'train', 'valid', 'test')[i % 4]}")
    (root / "tags.csv").write_text("\n".join(lines) + "\n")
    return f"folder:{root}"
