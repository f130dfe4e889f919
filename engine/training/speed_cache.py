"""This machine's measured training speed at each precision, cached per CPU and torch build.

Torch-free so the GUI can read it (to say how long a study takes here); `engine.training.precision` measures
and writes it. One JSON file per machine key under the user cache dir (`MVSSL_CACHE_DIR` overrides).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import platformdirs

from engine.rundir.files import atomic_write_bytes

CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY")  # environment variables that cap the kernels used


def cache_dir() -> Path:
    """Where speed measurements live: $MVSSL_CACHE_DIR/speed, else the user cache dir."""
    root = os.environ.get("MVSSL_CACHE_DIR") or platformdirs.user_cache_dir("mvssl-workbench")
    return Path(root) / "speed"


def cpu_info() -> dict[str, Any]:
    """CPU model, vendor, cores and the instruction-set flags that decide bf16 speed (from /proc/cpuinfo)."""
    model, vendor, flags = platform.processor() or platform.machine(), "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key == "vendor_id" and not vendor:
                    vendor = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "vendor": vendor, "cores": os.cpu_count(),
            "flags": {name: name in flags for name in CPU_FLAGS}}


def machine_kind(info: dict[str, Any] | None = None) -> str:
    """A short name of the CPU's class for bf16: cpu-amx, cpu-avx512bf16, cpu-avx512, cpu-avx2 or cpu-other."""
    flags = (info or cpu_info())["flags"]
    if flags.get("amx_bf16"):
        return "cpu-amx"
    if flags.get("avx512_bf16"):
        return "cpu-avx512bf16"
    if flags.get("avx512f"):
        return "cpu-avx512"
    return "cpu-avx2" if flags.get("avx2") else "cpu-other"


def machine_key(torch_version: str, threads: int) -> str:
    """File stem of this machine's measurement: CPU model and flags, torch build, thread count and any
    cap on the kernels' instruction set (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY)."""
    info = cpu_info()
    caps = [os.environ.get(name, "") for name in ISA_CAPS]
    text = json.dumps([info["cpu"], info["flags"], torch_version, threads, caps], sort_keys=True)
    return f"{machine_kind(info)}-{hashlib.sha1(text.encode()).hexdigest()[:12]}"


def read(key: str) -> dict[str, Any] | None:
    """The measurement stored under `key`, or None (missing or unreadable: it is measured again)."""
    try:
        value = json.loads((cache_dir() / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("step_s"), dict) else None


def write(key: str, measurement: dict[str, Any]) -> Path:
    """Store `measurement` atomically under `key`."""
    path = cache_dir() / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, json.dumps(measurement, indent=1).encode())
    return path


def latest_measurement() -> dict[str, Any] | None:
    """The newest measurement on this machine, summarised for a time estimate, or None.

    Keys: precision (the dtype auto picks), step_s (seconds per demo-preset training step at it, scaled
    from the measured batch), batch_size, views, measured_at (Unix time), provisional (measured on a busy
    machine: the next training measures again) and loadavg (the load then).
    """
    kind = machine_kind()
    best: dict[str, Any] | None = None
    for path in sorted(cache_dir().glob(f"{kind}-*.json")):
        value = read(path.stem)
        if value is not None and (best is None or value.get("measured_at", 0) > best.get("measured_at", 0)):
            best = value
    if best is None:
        return None
    chosen = best["chosen"]
    return {"precision": chosen, "step_s": best["demo_step_s"][chosen], "batch_size": best["demo_batch_size"],
            "views": best["views"], "measured_at": best["measured_at"], "provisional": bool(best.get("provisional")),
            "loadavg": best.get("loadavg")}
