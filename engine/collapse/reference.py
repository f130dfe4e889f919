"""Judge runs of known state snapshot by snapshot: confusion matrices, forecast lead times, false warnings.

Torch-free: the input is each run's intended state and its collapse snapshots (events.jsonl
"collapse" events); `benchmarks.collapse_reference` builds the runs and writes the result.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Mapping, Sequence

from engine.collapse.forecast import forecasts
from engine.collapse.verdicts import COLLAPSE_KINDS, Intended, run_verdicts

Judged = Mapping[str, tuple[Intended, Sequence[Mapping[str, Any]]]]  # case name -> (intended, snapshots)


def _matrix(pairs: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    counts = Counter(pairs)
    return {i: {v: n for (i2, v), n in sorted(counts.items()) if i2 == i} for i in sorted({i for i, _ in pairs})}


def evaluate(runs: Judged) -> dict[str, Any]:
    """Verdict and forecast of every snapshot of every run, and what they add up to.

    Returns {"runs": {name: {intended, final, verdicts: [[step, kind]], forecasts: [...], first_verdict,
    first_warning, lead_steps}}, "per_step": {step: matrix}, "final": matrix, "summary": {...}}, where
    a matrix is {intended: {verdict: count}}.
    """
    out: dict[str, Any] = {}
    per_step: dict[int, list[tuple[str, str]]] = {}
    final: list[tuple[str, str]] = []
    for name, (intended, snapshots) in runs.items():
        verdicts = run_verdicts(snapshots, untrained=intended == "untrained")
        warnings = forecasts(snapshots)
        for v in verdicts:
            per_step.setdefault(v.step, []).append((intended, v.kind))
        if verdicts:
            final.append((intended, verdicts[-1].kind))
        first = next((v.step for v in verdicts if v.kind == intended), None) if intended in COLLAPSE_KINDS else None
        warned = next((w.step for w in warnings if w.kind == intended), None) if intended in COLLAPSE_KINDS else None
        out[name] = {
            "intended": intended, "final": verdicts[-1].kind if verdicts else None,
            "verdicts": [[v.step, v.kind] for v in verdicts],
            "forecasts": [w._asdict() for w in warnings],
            "first_verdict": first, "first_warning": warned,
            "lead_steps": (first - warned) if first is not None and warned is not None else None,
        }
    healthy = [r for r in out.values() if r["intended"] == "healthy"]
    collapses = [r for r in out.values() if r["intended"] in COLLAPSE_KINDS]
    summary = {
        "healthy_runs": len(healthy),
        "healthy_snapshots_alarmed": sum(k in COLLAPSE_KINDS for r in healthy for _, k in r["verdicts"]),
        "healthy_snapshots": sum(len(r["verdicts"]) for r in healthy),
        "false_warnings": sum(len(r["forecasts"]) for r in healthy),
        "collapses_detected_with_kind": sum(r["final"] == r["intended"] for r in collapses),
        "collapses": len(collapses),
        "lead_steps": {name: r["lead_steps"] for name, r in out.items() if r["intended"] in COLLAPSE_KINDS},
        "untrained_judged_untrained": all(r["final"] == "untrained" for r in out.values()
                                          if r["intended"] == "untrained"),
    }
    return {"runs": out, "per_step": {str(s): _matrix(p) for s, p in sorted(per_step.items())},
            "final": _matrix(final), "summary": summary}
