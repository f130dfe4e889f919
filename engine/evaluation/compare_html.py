"""report.html of a comparison: one self-contained page of tables around the PNG figures."""
from __future__ import annotations

from html import escape
from typing import Any

METRIC_LABELS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC"}
STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f3f3f3; } td.name { text-align: left; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.4em; vertical-align: middle; }
img { max-width: 100%; }
"""


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _interval(iv: dict[str, Any]) -> str:
    return f"{_num(iv['mean'])} [{_num(iv['low'])}, {_num(iv['high'])}]"


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _run_cell(run: dict[str, Any]) -> str:
    return (f'<td class="name"><span class="swatch" style="background:{run["colour"]}"></span>'
            f'{escape(run["name"])}</td>')


def _heat(value: float | None, low: float, high: float) -> str:
    if value is None:
        return "<td>–</td>"
    share = 0.0 if high <= low else (value - low) / (high - low)
    green = int(255 - 120 * share)
    return f'<td style="background: rgb({green}, 255, {green})">{value:.3f}</td>'


def _summary(results: dict[str, Any]) -> str:
    boot, knn = results["bootstrap"]["metrics"], results["knn"]
    rows = []
    for run in results["runs"]:
        name = run["name"]
        collapse = results["collapse"][name]
        rows.append([_run_cell(run), escape(run["method"]), escape(run.get("probe_protocol", "ours")), _interval(boot["roc_auc"]["runs"][name]),
                     _interval(boot["pr_auc"]["runs"][name]), _num(results["full_data"][name]["micro"]["roc_auc"]),
                     _num(results["full_data"][name]["micro"]["pr_auc"]), _interval(knn["runs"][name]),
                     _num(collapse["rankme"], 1)])
    pooled = {results["full_data"][r["name"]].get("micro_pooling", "evaluable") for r in results["runs"]}
    micro = "micro, every tag column" if pooled == {"all"} else (
        "micro, evaluable tags" if pooled == {"evaluable"} else "micro (pooling differs per run)")
    return _table(["run", "method", "probe", "macro ROC-AUC [95 %]", "macro PR-AUC [95 %]", f"{micro}: ROC-AUC", "PR-AUC",
                   f"k-NN precision@{knn['k']} [95 %]", "RankMe"], rows)


def _pairs(pairs: list[dict[str, Any]]) -> str:
    rows = [[escape(p["a"]), escape(p["b"]), f"{100 * p['a_beats_b']:.1f} %",
             f"{_num(p['diff_mean'], 4)} [{_num(p['diff_low'], 4)}, {_num(p['diff_high'], 4)}]",
             "yes" if p["excludes_zero"] else "no"] for p in pairs]
    return _table(["A", "B", "A > B over tracks (share of resamples)", "A − B [95 %] over tracks",
                   "interval excludes 0"], rows)


def _limited(results: dict[str, Any]) -> str:
    fractions = sorted({f for by in results["limited_data"].values() for f in by}, key=float)
    rows = []
    for run in results["runs"]:
        by = results["limited_data"][run["name"]]
        rows.append([_run_cell(run)] + [
            f"{_num(by[f]['pr_auc']['mean'])} / {_num(by[f]['roc_auc']['mean'])} ({len(by[f]['pr_auc']['draws'])})"
            if f in by else "–" for f in fractions])
    return _table(["run"] + [f"{100 * float(f):g} %" for f in fractions], rows)


def _per_tag(results: dict[str, Any]) -> str:
    runs = [r["name"] for r in results["runs"]]
    tags = [t for t in results["tag_names"] if t not in results["skipped_tags"]]
    html = []
    for metric, label in METRIC_LABELS.items():
        values = [results["per_tag"][r][metric].get(t) for r in runs for t in tags]
        known = [v for v in values if v is not None]
        low, high = (min(known), max(known)) if known else (0.0, 1.0)
        rows = [[f'<td class="name">{escape(t)}</td>'] + [_heat(results["per_tag"][r][metric].get(t), low, high)
                                                           for r in runs] for t in tags]
        html.append(f"<h3>{label} per tag</h3>" + _table(["tag"] + [escape(r) for r in runs], rows))
    return "".join(html)


def _spread(entry: dict[str, Any]) -> str:
    if entry["n_seeds"] < 2:
        return f"{_num(entry['mean'])} (1 seed)"
    return f"{_num(entry['mean'])} ± {_num(entry['std'])} [{_num(entry['low'])}, {_num(entry['high'])}]"


def _seeds(results: dict[str, Any]) -> str:
    """Per method: mean and spread over seeds beside the track bootstrap; pairs over tracks, seeds, both."""
    seeds = results.get("seeds")
    if not seeds:
        return ""
    html = ["<h2>Across seeds</h2>",
            "<p>Runs of one method with different training seeds are grouped. <i>Over tracks</i>: paired bootstrap "
            "of the test tracks on each method's seed-mean score (seeds held fixed). <i>Over seeds</i>: every "
            "(seed of A, seed of B) pair on the full test set (tracks held fixed). <i>Over both</i>: every "
            "(resample, seed of A, seed of B) triple; a difference whose interval over both excludes 0 holds for "
            "other test tracks and other training runs alike.</p>"]
    for metric, label in METRIC_LABELS.items():
        entry = seeds[metric]
        rows = [[escape(m), escape(", ".join(e["runs"])), _spread(e), _interval(e["tracks"])]
                for m, e in entry["methods"].items()]
        html.append(f"<h3>Macro {label} per method</h3>" + _table(
            ["method", "runs", "mean ± sd [min, max] over seeds", "seed mean [95 %] over tracks"], rows))
        pair_rows = [[escape(p["a"]), escape(p["b"]), *(f"{100 * p[f'a_beats_b_over_{o}']:.1f} %"
                                                       for o in ("tracks", "seeds", "both")),
                      f"{_num(p['diff_over_both']['mean'], 4)} [{_num(p['diff_over_both']['low'], 4)}, "
                      f"{_num(p['diff_over_both']['high'], 4)}]", "yes" if p["holds_over_both"] else "no"]
                     for p in entry["pairs"]]
        html.append(_table(["A", "B", "A > B over tracks", "over seeds", "over both", "A − B [95 %] over both",
                            "holds over both"], pair_rows))
    return "".join(html)


def _protocols(results: dict[str, Any]) -> str:
    protocols = results.get("probe_protocols", ["ours"])
    if len(protocols) == 1:
        return f"<p>Probe protocol: <b>{escape(protocols[0])}</b> for every run.</p>"
    return (f"<p><b>Mixed probe protocols ({escape(', '.join(protocols))})</b>, put side by side on request: "
            "differences between these runs mix the probe with the embedding.</p>")


def _parameters(results: dict[str, Any]) -> str:
    """Each probe protocol's parameters (ProbeConfig.describe)."""
    params = results.get("probe_parameters", {})
    if not params:
        return ""
    keys = list(next(iter(params.values())))
    return _table(["parameter", *params], [[f'<td class="name">{escape(k)}</td>',
                                            *[escape(str(p.get(k, ""))) for p in params.values()]] for k in keys])


def _against_paper(results: dict[str, Any]) -> str:
    """The runs beside the paper's figures and the protocol differences (engine.evaluation.reproduction)."""
    reports = results.get("against_paper")
    if not reports:
        return ""
    html = ["<h2>Against the paper</h2>"]
    for rep in reports:
        rows = []
        for s in rep["scores"]:
            paper = s["paper"]
            rows.append([METRIC_LABELS.get(s["metric"], s["metric"]),
                         f"{_num(s['value'])} [{_num(s['low'])}, {_num(s['high'])}]",
                         _num(s["seed_std"]) + f" (n={s['n_seeds']})",
                         "no published figure" if paper is None else f"{paper['value']:.3f} ± {paper['uncertainty']:.3f}",
                         "–" if s["difference"] is None else f"{s['difference']:+.3f}"])
        html += [f"<h3>{escape(rep['run'])} ({escape(rep['method'])}) on {escape(rep['dataset_name'])}</h3>",
                 _table(["macro", "this run [95 % test resamples]", "seed std", "paper (read off)", "difference"], rows),
                 _table(["aspect", "paper", "this run", ""],
                        [[f'<td class="name">{escape(d["aspect"])}</td>', f'<td class="name">{escape(d["paper"])}</td>',
                          f'<td class="name">{escape(d["run"])}</td>',
                          {True: "differs", False: "same", None: "unknown"}[d["differs"]]] for d in rep["differences"]]),
                 *[f"<p>{escape(n)}</p>" for n in rep["notes"]]]
    sources = sorted({s["paper"]["source"] for rep in reports for s in rep["scores"] if s["paper"]})
    html += [f"<p>Source: {escape(s)}.</p>" for s in sources]
    return "".join(html)


def render(results: dict[str, Any], figures: list[str]) -> str:
    """The whole page; `figures` are PNG file names next to it."""
    task = escape(results["task"])
    boot = results["bootstrap"]
    skipped = ", ".join(escape(t) for t in results["skipped_tags"]) or "none"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>mvssl compare: {task}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Comparison on task <code>{task}</code></h1>",
        f"<p>{results['n_test']} test tracks, {len(results['tag_names'])} tags (skipped, no positive or no negative "
        f"in the test set: {skipped}). Intervals: 95 % percentile intervals over {boot['n_resamples']} paired "
        f"bootstrap resamples of the test tracks (seed {boot['seed']}), the same resamples for every run.</p>",
        _protocols(results), _parameters(results),
        "<h2>Summary (full training data)</h2>", _summary(results),
        _against_paper(results),
        "<h2>Bootstrap (poster Fig. 1)</h2>",
        '<img src="bootstrap.png" alt="bootstrap dots">' if "bootstrap.png" in figures else "",
    ]
    for metric, label in METRIC_LABELS.items():
        parts += [f"<h3>Paired differences: macro {label}</h3>", _pairs(boot["metrics"][metric]["pairs"])]
    parts += [
        _seeds(results),
        "<h2>Limited data (poster Fig. 2)</h2>",
        '<img src="limited_data.png" alt="limited data">' if "limited_data.png" in figures else "",
        "<p>Mean macro PR-AUC / ROC-AUC over the draws (number of draws).</p>", _limited(results),
        f"<h2>k-NN tag precision@{results['knn']['k']}</h2>",
        f"<p>{results['knn']['queries']} tracks with at least one tag (any split) are the queries; neighbours are the "
        f"other tracks of each store by cosine similarity; a neighbour is a hit when it shares a tag of the task "
        f"with the query. The bootstrap resamples the queries.</p>",
        '<img src="knn.png" alt="k-NN precision">' if "knn.png" in figures else "",
        _pairs(results["knn"]["pairs"]),
        "<h2>Collapse</h2>",
        "<p>Covariance spectrum and RankMe of each store's track embeddings.</p>",
        '<img src="collapse.png" alt="spectra">' if "collapse.png" in figures else "",
        "<h2>Per-tag scores (full training data)</h2>", _per_tag(results),
        "</body></html>",
    ]
    return "\n".join(parts)
