"""The HDF5 layout of a run's `analysis.h5`: derived results, changed only copy-on-write.

Every change goes through `update_analysis` (lock, copy into a new file, change, fsync, rename), so
readers see the old or the new file. Every attribute in it is a JSON string.

    /projections/<name>/xy               (N, 2) float32; attrs method, params, seed, checkpoint_step...
    /diagnostics/<step>/<array>          attr scalars
    /probes/<task>/test_index            (N_test,) int32 into /tracks; attrs tag_names, protocol
    /probes/<task>/<fraction>/<draw>/pred  (N_test, T) float32; attrs metrics, info
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import h5py
import numpy as np

from engine.rundir.disk import room_for, temp_path, writing
from engine.rundir.h5files import StoreError, fsync_rename, h5_written, locked
from engine.rundir.layout import ANALYSIS, RunDir


def _put(attrs: h5py.AttributeManager, values: dict[str, Any]) -> None:
    for key, value in values.items():
        attrs[key] = json.dumps(value)


def _get(attrs: h5py.AttributeManager) -> dict[str, Any]:
    return {key: json.loads(value) for key, value in attrs.items()}


def update_analysis(run_dir: Path, fn: Callable[[h5py.File], None]) -> None:
    """Apply `fn` to a fresh copy of analysis.h5 and swap it in atomically, one writer at a time; a failed
    write (a full disk) removes the copy, keeps the previous file and raises a one-line WriteFailed."""
    run_dir = Path(run_dir)
    final = RunDir(run_dir).analysis
    tmp = temp_path(final, "partial")
    with locked(RunDir(run_dir).analysis_lock, ANALYSIS):
        for stale in run_dir.glob(f".{ANALYSIS}.*.partial"):  # left by a writer that died
            stale.unlink(missing_ok=True)
        room_for(tmp, final.stat().st_size if final.exists() else 0, final)
        with h5_written(final, tmp) as dst:
            if final.exists():
                with _read_analysis(run_dir) as src:
                    for name in src:
                        src.copy(src[name], dst, name)
                    dst.attrs.update(src.attrs)
            fn(dst)
        with writing(final, tmp):
            fsync_rename(tmp, final)


@contextlib.contextmanager
def _read_analysis(run_dir: Path) -> Iterator[h5py.File | None]:
    path = RunDir(run_dir).analysis
    if not path.exists():
        yield None
        return
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise StoreError(f"{path}: unreadable analysis file ({err})") from None
    with f:
        yield f


def _name(kind: str, name: str) -> str:
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"{kind} name '{name}': must be non-empty, without '/' or a leading '.'")
    return name


def _replace(parent: h5py.Group, name: str) -> h5py.Group:
    if name in parent:
        del parent[name]
    return parent.create_group(name)


def write_projection(run_dir: Path, name: str, xy: np.ndarray, attrs: dict[str, Any]) -> None:
    """Store a 2-D map (N, 2) under /projections/<name> with its method, params, seed, step."""
    xy = np.asarray(xy, np.float32)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"projection '{name}': xy must be (N, 2), got {xy.shape}")

    def change(f: h5py.File) -> None:
        group = _replace(f.require_group("projections"), _name("projection", name))
        group.create_dataset("xy", data=xy)
        _put(group.attrs, attrs)
    update_analysis(run_dir, change)


def read_projection(run_dir: Path, name: str) -> tuple[np.ndarray, dict[str, Any]] | None:
    """(xy (N, 2) float32, attrs) of a stored projection, or None when there is none."""
    with _read_analysis(run_dir) as f:
        if f is None or f"projections/{name}/xy" not in f:
            return None
        group = f[f"projections/{name}"]
        return group["xy"][:], _get(group.attrs)


def list_projections(run_dir: Path) -> list[str]:
    with _read_analysis(run_dir) as f:
        return sorted(f["projections"]) if f is not None and "projections" in f else []


def write_diagnostics(run_dir: Path, step: int, scalars: dict[str, float], arrays: dict[str, np.ndarray]) -> None:
    """Store (replace) the diagnostics of one checkpoint step."""
    def change(f: h5py.File) -> None:
        group = _replace(f.require_group("diagnostics"), str(int(step)))
        for key, value in arrays.items():
            group.create_dataset(_name("diagnostic", key), data=np.asarray(value))
        _put(group.attrs, {"scalars": scalars})
    update_analysis(run_dir, change)


def read_diagnostics(run_dir: Path) -> dict[int, tuple[dict[str, float], dict[str, np.ndarray]]]:
    """{step: (scalars, arrays)} for every stored step, in step order."""
    with _read_analysis(run_dir) as f:
        if f is None or "diagnostics" not in f:
            return {}
        out = {}
        for step in sorted(f["diagnostics"], key=int):
            group = f["diagnostics"][step]
            out[int(step)] = (_get(group.attrs).get("scalars", {}), {k: group[k][()] for k in group})
        return out


@dataclass(frozen=True)
class ProbeDraw:
    """One probe trained on one draw of a training fraction: test predictions (N_test, T) and metrics."""

    fraction: float
    draw: int
    pred: np.ndarray
    metrics: dict[str, Any]
    info: dict[str, Any]


@dataclass(frozen=True)
class ProbeResult:
    """Every stored draw of one probe task; test_index rows into /tracks give the tracks of `pred`."""

    task: str
    tag_names: list[str]
    test_index: np.ndarray
    draws: list[ProbeDraw]
    protocol: str = "ours"  # engine.evaluation.probe_protocols: every draw of a task follows one protocol

    def fractions(self) -> list[float]:
        return sorted({d.fraction for d in self.draws})

    def at(self, fraction: float) -> list[ProbeDraw]:
        return [d for d in self.draws if np.isclose(d.fraction, fraction)]


def _fraction_key(fraction: float) -> str:
    if not 0 < fraction <= 1:
        raise ValueError(f"probe fraction must be in (0, 1], got {fraction}")
    return f"{fraction:g}"


def write_probe(run_dir: Path, task: str, fraction: float, draw: int, pred: np.ndarray, test_index: np.ndarray,
                tag_names: list[str], metrics: dict[str, Any], info: dict[str, Any]) -> None:
    """Store one draw's test predictions and metrics; a changed test set, tag list or probe protocol
    (`info["protocol"]`) resets the task, so its draws never mix protocols."""
    protocol = str(info.get("protocol", "ours"))
    pred = np.asarray(pred, np.float32)
    test_index = np.asarray(test_index, np.int32)
    if pred.shape != (len(test_index), len(tag_names)):
        raise ValueError(f"probe '{task}': pred {pred.shape} != ({len(test_index)}, {len(tag_names)})")

    def change(f: h5py.File) -> None:
        probes = f.require_group("probes")
        group = probes.get(_name("probe task", task))
        if group is None or not (np.array_equal(group["test_index"][:], test_index)
                                 and json.loads(group.attrs["tag_names"]) == list(tag_names)
                                 and _protocol(group) == protocol):
            group = _replace(probes, task)
            group.create_dataset("test_index", data=test_index)
            _put(group.attrs, {"tag_names": list(tag_names), "protocol": protocol})
        slot = _replace(group.require_group(_fraction_key(fraction)), str(int(draw)))
        slot.create_dataset("pred", data=pred)
        _put(slot.attrs, {"metrics": metrics, "info": info})
    update_analysis(run_dir, change)


def _protocol(group: h5py.Group) -> str:
    """A task's probe protocol; stores older than protocols say `kind` (mlp = ours) in each draw."""
    if "protocol" in group.attrs:
        return json.loads(group.attrs["protocol"])
    for frac in (k for k in group if k != "test_index"):
        for d in group[frac]:
            info = _get(group[frac][d].attrs).get("info", {})
            return str(info.get("protocol") or {"mlp": "ours"}.get(info.get("kind", "mlp"), info.get("kind")))
    return "ours"


def read_probes(run_dir: Path, task: str | None = None) -> dict[str, ProbeResult]:
    """{task: ProbeResult} of every stored task (or just `task`; {} when it has none)."""
    with _read_analysis(run_dir) as f:
        if f is None or "probes" not in f:
            return {}
        out = {}
        for name in [task] if task is not None else sorted(f["probes"]):
            if name not in f["probes"]:
                continue
            group = f["probes"][name]
            draws = [ProbeDraw(float(frac), int(d), group[frac][d]["pred"][:], **_get(group[frac][d].attrs))
                     for frac in sorted((k for k in group if k != "test_index"), key=float)
                     for d in sorted(group[frac], key=int)]
            out[name] = ProbeResult(name, json.loads(group.attrs["tag_names"]), group["test_index"][:], draws,
                                    _protocol(group))
        return out


def list_probe_tasks(run_dir: Path) -> list[str]:
    with _read_analysis(run_dir) as f:
        return sorted(f["probes"]) if f is not None and "probes" in f else []
