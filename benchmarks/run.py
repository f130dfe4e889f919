"""`make bench`: run every benchmark section, write benchmarks/results/<kind>/<date>-<host>.json and .md, print the table.

Sections: training, compile, data, embedding, evaluation, study, gui (one module each). A section that fails is
recorded with its error and the others still run. Every row holds ours, a baseline measured in the
same run, their ratio and the goal, if the issue sets one.

    python -m benchmarks.run [--quick] [--only SECTION[,SECTION]] [--out-dir DIR] [--threads N]
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import re
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SECTIONS: dict[str, str] = {"training": "benchmarks.bench_train", "compile": "benchmarks.bench_compile",
                            "data": "benchmarks.bench_data", "embedding": "benchmarks.bench_embed",
                            "evaluation": "benchmarks.bench_eval", "study": "benchmarks.bench_study",
                            "gui": "benchmarks.bench_gui"}


def run_sections(names: list[str], quick: bool) -> dict[str, Any]:
    """Run the named sections in order; returns {"sections": {name: outcome}, "rows": [...]}."""
    start = time.perf_counter()

    def progress(section: str):
        return lambda message: print(f"[{time.perf_counter() - start:6.0f} s] {section}: {message}", flush=True)

    sections: dict[str, Any] = {}
    rows: list[dict] = []
    trainer_rate = None
    for name in names:
        t0 = time.perf_counter()
        progress(name)("start")
        try:
            module = importlib.import_module(SECTIONS[name])
            kwargs = {"trainer_views_per_s": trainer_rate} if name == "data" else {}
            result = module.run(quick=quick, progress=progress(name), **kwargs)
            sections[name] = {"seconds": time.perf_counter() - t0, "raw": result.get("raw", {})}
            rows += result["rows"]
            trainer_rate = result.get("trainer_views_per_s", trainer_rate)
        except Exception as err:  # one failing section must not lose the others
            sections[name] = {"seconds": time.perf_counter() - t0, "error": f"{type(err).__name__}: {err}",
                              "traceback": traceback.format_exc().splitlines()[-12:]}
            if hasattr(err, "stderr") and err.stderr:
                sections[name]["stderr"] = str(err.stderr).splitlines()[-20:]
            progress(name)(f"FAILED: {type(err).__name__}: {err}")
        progress(name)(f"done in {time.perf_counter() - t0:.0f} s")
    return {"sections": sections, "rows": rows, "seconds": time.perf_counter() - start}


def _num(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    a = abs(value)
    return f"{value:,.0f}" if a >= 100 else f"{value:.1f}" if a >= 10 else f"{value:.3g}"


def markdown(result: dict[str, Any]) -> str:
    """The machine, then the table (what, ours, baseline, ratio, goal, met?) and the sections that failed."""
    m = result["machine"]
    load = ", ".join(f"{x:.1f}" for x in m["loadavg_at_start"] or [])
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m.get("flags", {}).items())
    limits = ", ".join(f"{k}={v}" for k, v in m.get("isa_limits", {}).items())
    lines = [f"Measured {result['date']} on {m['host']}: {m['cpu']} (kind {m.get('kind', '?')}), {m['cores']} cores, "
             f"torch {m['torch']} ({m['torch_threads']} threads, kernels {m.get('cpu_capability', '?')}), "
             f"load average {load} at start; {result['seconds'] / 60:.1f} min{' (--quick)' if result['quick'] else ''}.",
             "", f"- CPU flags: {flags}." + (f" ISA capped for this run: {limits}." if limits else ""),
             f"- precision=auto resolves to **{m.get('precision_auto', '?')}** here: {m.get('precision_reason', '?')}.",
             "", "| what | ours | baseline | ratio | goal | met? |", "|---|---|---|---|---|---|"]
    for r in result["rows"]:
        met = "–" if r["met"] is None else "yes" if r["met"] else "**no**"
        lines.append(f"| {r['what']} | {_num(r['ours'])} {r['unit']} | {_num(r['baseline'])} {r['unit']} "
                     f"({r['baseline_is']}) | {r['ratio']:.3g} | {r['goal'] or '–'} | {met} |")
    failed = {k: v for k, v in result["sections"].items() if "error" in v}
    if failed:
        lines += ["", "Failed sections:"] + [f"- {k}: {v['error']}" for k, v in failed.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that every section runs")
    parser.add_argument("--only", help=f"comma-separated sections ({', '.join(SECTIONS)})")
    parser.add_argument("--out-dir", type=Path, help="default: benchmarks/results/<machine kind>/")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice, one per core)")
    args = parser.parse_args(argv)
    names = list(SECTIONS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = [s for s in names if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)} (valid: {', '.join(SECTIONS)})")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import torch

    from benchmarks.common import machine, result_kind

    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine()
    outcome = run_sections(names, args.quick)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    info["loadavg_at_end"] = list(load) if load else None
    result = {"date": dt.date.today().isoformat(), "quick": args.quick, "machine": info, **outcome,
              "note": "ratios are measured in the same run; absolute figures depend on the load of the machine"}
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", info["host"]) or "host"
    stem = f"{result['date']}-{host}{'-quick' if args.quick else ''}"
    args.out_dir = args.out_dir or ROOT / "benchmarks" / "results" / result_kind(info)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / f"{stem}.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    table = markdown(result)
    (args.out_dir / f"{stem}.md").write_text(table)
    print("\n" + table)
    print(f"wrote {args.out_dir / stem}.json and .md")
    return 1 if any("error" in s for s in outcome["sections"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
