"""`mvssl diagnose`: collapse diagnostics of every checkpoint of a run, as a table or JSON."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any, Callable

Column = tuple[str, Callable[[int, dict[str, Any]], Any], str]  # header, value of (step, scalars), format


def _key(name: str) -> Callable[[int, dict[str, Any]], Any]:
    return lambda step, scalars: scalars.get(name)


_COLUMNS: list[Column] = [
    ("step", lambda step, s: step, "{}"), ("RankMe", _key("rankme"), "{:.1f}"), ("α-ReQ", _key("alpha_req"), "{:.2f}"),
    ("std·√D", lambda step, s: s["std"] / s["healthy_std"] if "std" in s else None, "{:.2f}"),
    ("align", _key("alignment"), "{:.3f}"), ("unif", _key("uniformity"), "{:.2f}"),
    ("spread", _key("spread"), "{:.3f}"), ("cRankMe", _key("centred_rankme"), "{:.1f}"),
    ("proj spread", _key("head_spread"), "{:.3f}"), ("proj cRankMe", _key("head_centred_rankme"), "{:.1f}"),
    ("embedding", _key("embedding_state"), "{}"),
]
_CLUSTERING: list[Column] = [  # clustering runs only
    ("H nats", _key("teacher_entropy"), "{:.2f}"), ("KL", _key("kl"), "{:.3f}"),
    ("eff", _key("effective_prototypes"), "{:.1f}"), ("distinct", _key("distinct_prototypes"), "{}"),
    ("dup pairs", _key("near_duplicate_pairs"), "{}"), ("clustering", _key("clustering_state"), "{}"),
]


def _cell(step: int, scalars: dict[str, Any], column: Column) -> str:
    _, value_of, fmt = column
    value = value_of(step, scalars)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)


def format_table(result: dict[str, Any]) -> str:
    """A fixed-width table of the diagnostics of each step, then the k-NN line when there is one."""
    steps: dict[int, dict[str, Any]] = result["steps"]
    columns = _COLUMNS + (_CLUSTERING if any("teacher_entropy" in s for s in steps.values()) else [])
    rows = [[header for header, _, _ in columns]]
    rows += [[_cell(step, s, column) for column in columns] for step, s in steps.items()]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = [f"{result['run_dir']}: {result['method']}, {result['views']} views of {result['tracks']} tracks"]
    lines += ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    knn = steps.get(result["knn_step"], {}) if result.get("knn_step") is not None else {}
    if "knn_precision_at_10" in knn:
        raw = knn.get("knn_raw_precision_at_10")
        lines.append(f"k-NN tag precision@10 at step {result['knn_step']} over {knn['knn_tracks']} tracks: "
                     f"{knn['knn_precision_at_10']:.3f} centred" + (f", {raw:.3f} raw cosine" if raw is not None else "")
                     + f" (chance {knn['knn_chance']:.3f})")
    verdict = result.get("verdict")
    if verdict:
        lines.append(f"verdict at step {verdict['step']}: {verdict['kind']}"
                     + (f" in the {verdict['space']} ({verdict['evidence']}; since step {verdict['since_step']})"
                        if verdict["space"] else "") + f". {verdict['advice']}")
    if result.get("forecast"):
        lines.append(f"forecast: {result['forecast']['message']}")
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """NaN is not JSON: write it as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return value


def _cmd_diagnose(args: argparse.Namespace) -> int:
    from engine.collapse.diagnose import diagnose

    result = diagnose(Path(args.run_dir), progress=not args.json, max_tracks=args.tracks)
    print(json.dumps(_json_safe(result), indent=2) if args.json else format_table(result))
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `diagnose` to the `mvssl` sub-commands."""
    parser = subparsers.add_parser("diagnose", help="collapse diagnostics of every checkpoint of a run")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--tracks", type=_positive, default=256,
                        help="tracks whose view pairs are embedded (default 256)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=_cmd_diagnose)
