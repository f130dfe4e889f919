"""engine.rundir.layout: the paths of a run directory, and no file name of one spelled anywhere else."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from engine.rundir import layout
from engine.rundir.layout import RunDir

ROOT = Path(__file__).resolve().parents[3]
NAMES = {layout.CONFIG, layout.STATUS, layout.EVENTS, layout.CHECKPOINTS, layout.LAST_CHECKPOINT, layout.EMBEDDINGS,
         layout.EMBEDDINGS_PARTIAL, layout.EMBEDDINGS_LOCK, layout.ANALYSIS, layout.ANALYSIS_LOCK, layout.BASELINE,
         layout.OFFICIAL, layout.LOGS, layout.TENSORBOARD, "submitit"}
PATTERN = re.compile(r"^(step-|job-)|^\.?(embeddings|analysis)\.h5")  # step-NNNNNN.pt, job-<kind>-<N>.log, temp files
ALLOWED = {("engine/cli/export.py", "tensorboard"),  # an export format's name, not the folder
           ("engine/cli/engine_cmds.py", "checkpoints"),  # a printed label and a run_details key
           ("workbench/panels/collapse/view.py", "checkpoints"),  # a word of a plot's title
           ("engine/training/slurm_options.py", "job-name")}  # an sbatch option the launcher sets itself


def test_run_dir_paths(tmp_path: Path) -> None:
    run = RunDir(str(tmp_path / "r1"))
    root = tmp_path / "r1"
    assert run.path == root and run.name == "r1"
    assert (run.config, run.status, run.events) == (root / "config.toml", root / "status.json", root / "events.jsonl")
    assert run.checkpoints == root / "checkpoints" and run.last_checkpoint == root / "checkpoints" / "last.pt"
    assert run.step_checkpoint(42) == root / "checkpoints" / "step-000042.pt"
    assert run.step_checkpoint(1234567) == root / "checkpoints" / "step-1234567.pt"
    assert (run.embeddings, run.embeddings_partial, run.embeddings_lock) == (
        root / "embeddings.h5", root / ".embeddings.h5.partial", root / ".embeddings.lock")
    assert (run.analysis, run.analysis_lock) == (root / "analysis.h5", root / ".analysis.lock")
    assert (run.baseline, run.official, run.tensorboard) == (
        root / "baseline.json", root / "official.json", root / "tensorboard")
    assert run.job_log("embed", 3) == root / "logs" / "job-embed-3.log"
    assert run.job_result("probe", "7") == root / "logs" / "job-probe-7.result.json"
    assert run.submitit == root / "logs" / "submitit"


def test_listings_are_empty_without_folders_and_keep_only_matching_names(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    assert run.step_checkpoints() == {} and run.job_logs() == []
    run.checkpoints.mkdir()
    run.logs.mkdir()
    for name in ("step-000010.pt", "step-000002.pt", "step-12.pt", "last.pt", "step-000003.pt.tmp",
                 "step-copy-of-step-000005.pt"):  # the whole name must be step-NNNNNN.pt, not just its end
        (run.checkpoints / name).write_bytes(b"")
    for name in ("job-embed-2.log", "job-probe-1.log", "job-embed-2.result.json", "other.log"):
        (run.logs / name).write_text("")
    assert run.step_checkpoints() == {2: run.step_checkpoint(2), 10: run.step_checkpoint(10)}
    assert list(run.step_checkpoints()) == [2, 10]
    assert [p.name for p in run.job_logs()] == ["job-embed-2.log", "job-probe-1.log"]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings of a module, class or function."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def run_dir_literals(path: Path, rel: str) -> list[str]:
    """`rel:line: 'name'` for each string constant in `path` that spells a run-directory file name."""
    tree = ast.parse(path.read_text(), str(path))
    skip = _docstrings(tree)
    hits = []  # ast.walk is breadth-first: sort by line below
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            value = node.value
            if (value in NAMES or PATTERN.match(value)) and (rel, value) not in ALLOWED:
                hits.append(f"{rel}:{node.lineno}: {value!r}")
    return sorted(hits, key=lambda hit: int(hit.split(":")[1]))


def test_the_scan_finds_names_in_code_and_f_strings_but_not_in_docstrings(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    text = ('"""Reads status.json."""\n'
            'def f(run, step):\n'
            '    """Opens config.toml."""\n'
            '    return run / "config.toml", run / "checkpoints" / f"step-{step:06d}.pt"\n')
    source.write_text(text)
    assert run_dir_literals(source, "probe.py") == ["probe.py:4: 'config.toml'", "probe.py:4: 'checkpoints'",
                                                    "probe.py:4: 'step-'"]


def test_no_run_dir_file_name_outside_engine_rundir() -> None:
    files = sorted(p for folder in ("engine", "workbench") for p in (ROOT / folder).rglob("*.py")
                   if not p.is_relative_to(ROOT / "engine" / "rundir"))
    hits = [hit for path in files for hit in run_dir_literals(path, path.relative_to(ROOT).as_posix())]
    assert not hits, "spell run-directory file names with engine.rundir.layout:\n" + "\n".join(hits)
