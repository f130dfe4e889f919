"""`--set compile=true` (torch.compile of the ResNets): the trainer's step against eager, and what compiling costs.

Each measurement runs in a child process with its own inductor cache directory, twice: cold
(nothing cached, what the first compiled run on a machine pays) and warm (the cache the cold child
left, what later runs with the same shapes pay). A child times engine.training.loop.TrainStep on
contrastive, eager and compiled, in alternating blocks after the compiled model's first step.
Skipped with --quick: a cold compile alone takes minutes.

    python -m benchmarks.bench_compile CACHE_DIR   # one child; prints its JSON on the last line
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

import torch

from benchmarks.bench_train import OurStep, interleaved_step_times, make_batches, make_config
from benchmarks.common import median, row

SECTION = "compile"
METHOD = "contrastive"
DEMO_STEPS = 300  # steps of a demo-preset run: the horizon in which compiling has to pay


def child(batch: int = 32, warmup: int = 1, timed: int = 8) -> dict[str, Any]:
    """Seconds of the compiled model's first step, and per-step seconds of eager and compiled."""
    cfg = make_config(METHOD, batch)
    batches = make_batches(cfg)
    eager = OurStep(cfg)
    compiled = OurStep(cfg.model_copy(update={"compile": True}))
    t0 = time.perf_counter()
    compiled(batches[0])
    first = time.perf_counter() - t0
    seconds = interleaved_step_times({"eager": eager, "compiled": compiled}, batches, warmup, timed, blocks=4)
    return {"first_step_s": first, "step_s": {k: median(v) for k, v in seconds.items()}, "step_s_all": seconds,
            "views_per_step": cfg.views * cfg.batch_size}


def _run_child(cache_dir: str) -> dict[str, Any]:
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache_dir, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_compile", cache_dir], env=env,
                         capture_output=True, text=True, timeout=1200, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    if quick:
        return {"rows": [], "raw": {"skipped": "--quick: a cold compile takes minutes"}}
    raw: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-inductor-") as cache:
        for kind in ("cold", "warm"):
            m = _run_child(cache)
            steady = m["step_s"]["compiled"]
            m["overhead_s"] = m["first_step_s"] - steady
            m["saved_per_step_s"] = m["step_s"]["eager"] - steady
            m["break_even_steps"] = (m["overhead_s"] / m["saved_per_step_s"] if m["saved_per_step_s"] > 0
                                     else float("inf"))
            raw[kind] = m
            progress(f"{kind} cache: first compiled step {m['first_step_s']:.1f} s, then "
                     f"{steady * 1e3:.0f} ms/step against {m['step_s']['eager'] * 1e3:.0f} ms eager; "
                     f"pays after {m['break_even_steps']:.0f} steps")
    cold, warm = raw["cold"], raw["warm"]
    views = cold["views_per_step"]
    rows = [row(SECTION, f"train {METHOD}, compile=true: views/s (warm cache)", "views/s",
                views / warm["step_s"]["compiled"], views / warm["step_s"]["eager"],
                "the same step eager (compile=false)", None)]
    for kind, m in (("cold", cold), ("warm", warm)):
        rows.append(row(SECTION, f"compile=true: first-step overhead, {kind} cache, vs time saved in "
                        f"{DEMO_STEPS} steps", "s", m["overhead_s"], m["saved_per_step_s"] * DEMO_STEPS
                        if m["saved_per_step_s"] > 0 else float("nan"),
                        f"eager minus compiled step time x {DEMO_STEPS} (ratio < 1: it pays in a demo run)", None,
                        break_even_steps=m["break_even_steps"]))
    return {"rows": rows, "raw": raw}


if __name__ == "__main__":
    print(json.dumps(child(), default=float))
