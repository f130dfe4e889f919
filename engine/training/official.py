"""Released checkpoints of the official code as run directories (`mvssl import --official`).

The official release holds `{byol,clustering,barlow_twins,contrastive,feature_stats}.pt`, each a
dict whose `model` entry is the state_dict of the official training wrapper: the backbone under
`student.module.backbone.` (BYOL, clustering) or `module.backbone.` (the others), its front end as
`spec.spec.*` and its ResNet as `embedding.*`; the heads, BYOL's predictor (`projector`) and the
EMA teacher beside it. Keys are mapped by name to ours and checked by shape; the front end is set to
the one the weights were trained with (the official filterbank is f_max = 11,025 Hz), so the
imported run embeds what the released model computes.
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import torch

from engine import config as config_mod
from engine.model.checkpoints import load_checkpoint
from engine.rundir.files import atomic_write_bytes, write_status
from engine.rundir.summary import make_run_dir
from engine.rundir.layout import RunDir

# official file stem -> our method ("feature_stats" is the official name of VICReg)
RELEASED: dict[str, str] = {"byol": "byol", "clustering": "clustering", "barlow_twins": "barlow_twins",
                            "contrastive": "contrastive", "feature_stats": "vicreg"}
STUDENT_PREFIXES = ("student.module.", "student.", "module.", "")  # DDP and BYOL/DINO wrappers, outermost first
RENAMES = (("backbone.spec.spec.", "backbone.frontend.mel."), ("backbone.embedding.", "backbone.resnet."),
           ("projector.", "predictor."))


def method_of_file(path: Path) -> str | None:
    """Our method for a released file name (`feature_stats.pt` -> vicreg), None when it names none."""
    found = [m for stem, m in RELEASED.items() if stem in Path(path).stem]
    return found[0] if len(found) == 1 else None


def _rename(key: str) -> str:
    for old, new in RENAMES:
        if key.startswith(old):
            return new + key[len(old):]
    return key


def map_keys(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Official keys -> our SSLModel keys: the student without its wrappers, `teacher.` kept.
    A bare official `Backbone` state_dict (`embedding.*`, `spec.*`, as the release's sample code
    leaves it) is the student backbone."""
    if "embedding.conv1.weight" in official:
        official = {f"backbone.{k}": v for k, v in official.items()}
    prefix = next(p for p in STUDENT_PREFIXES if f"{p}backbone.embedding.conv1.weight" in official
                  or p == "")
    if f"{prefix}backbone.embedding.conv1.weight" not in official:
        raise ValueError("no official backbone in the checkpoint (expected keys like "
                         "'module.backbone.embedding.conv1.weight')")
    out = {}
    for key, value in official.items():
        if key.startswith("teacher."):
            rest = key[len("teacher."):].removeprefix("module.")
            out["teacher." + _rename(rest)] = value
        elif key.startswith(prefix):
            out[_rename(key[len(prefix):])] = value
    return out


def _official_state(path: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(path)
    state = ckpt.get("model", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path}: not an official checkpoint (no 'model' state_dict of tensors)")
    return state


def _front_end(weights: dict[str, torch.Tensor]) -> float | None:
    """The f_max the checkpoint's filterbank was built with (None = sr/2); official without one."""
    from engine.model.frontend import FrontendConfig, filterbank_f_max

    fb = weights.get("backbone.frontend.mel.mel_scale.fb")
    if fb is None:
        return config_mod.OFFICIAL_F_MAX
    found = filterbank_f_max(fb)
    if found.startswith("unknown"):
        raise ValueError(f"the checkpoint's mel filterbank {tuple(fb.shape)} matches no known front end: {found}")
    return None if float(found.split()[0]) == FrontendConfig().sample_rate / 2 else float(found.split()[0])


def _part(key: str) -> str:
    """The module a key belongs to: backbone, head, predictor, teacher.backbone, teacher.head."""
    parts = key.split(".")
    return ".".join(parts[:2]) if parts[0] == "teacher" else parts[0]


def build_state(cfg: config_mod.RunConfig, weights: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict]:
    """Our full model state with the checkpoint's weights where it has them; a report of what came from where.

    The backbone must be complete and every mapped key must have our shape. Parts the checkpoint
    lacks keep their seeded initial values (the teacher starts as a copy of the student backbone).
    """
    from engine.model.ssl_model import SSLModel

    torch.manual_seed(cfg.seed)
    model = SSLModel(cfg)
    ours = model.state_dict()
    wrong = [f"{k}: checkpoint {tuple(v.shape)}, ours {tuple(ours[k].shape)}"
             for k, v in weights.items() if k in ours and v.shape != ours[k].shape]
    if wrong:
        raise ValueError(f"shape mismatch for {len(wrong)} key(s), e.g. {wrong[0]}")
    missing = [k for k in ours if k.startswith("backbone.") and k not in weights]
    if missing:
        raise ValueError(f"the checkpoint lacks {len(missing)} backbone key(s), e.g. '{missing[0]}'")
    taken = {k: v.to(ours[k].dtype) for k, v in weights.items() if k in ours}
    parts = sorted({_part(k) for k in taken})
    copied = model.teacher is not None and "teacher.backbone" not in parts
    if copied:
        taken.update({"teacher." + k: v for k, v in taken.items() if k.startswith("backbone.")})
    ours.update(taken)
    model.load_state_dict(ours)  # the front end refuses a filterbank of another f_max
    seeded = sorted({_part(k) for k in ours if k not in taken and not k.startswith("loss_fn.")})
    report = {"imported": parts, "seeded": [p for p in seeded if p not in parts],
              "teacher_backbone_from_student": copied,
              "ignored_keys": sorted(k for k in weights if k not in ours)[:20]}
    return model.state_dict(), report


def import_official(checkpoint: Path, out: Path, method: str | None = None, corpus: str = "demo") -> Path:
    """Turn an official checkpoint file into a finished run directory `out`; returns its checkpoint path."""
    checkpoint, out = Path(checkpoint), Path(out)
    if RunDir(out).config.exists():
        raise ValueError(f"{out}: already a run directory; pick a new --out")
    method = method or method_of_file(checkpoint)
    if method is None:
        raise ValueError(f"{checkpoint.name}: cannot tell the method from the file name "
                         f"(released: {', '.join(f'{s}.pt' for s in RELEASED)}); pass --method")
    from engine.data.corpora.sources import parse_source

    parse_source(corpus)  # a bad SOURCE stops before anything is written
    weights = map_keys(_official_state(checkpoint))
    f_max = _front_end(weights)
    cfg = config_mod.build("paper", overrides={"method": method, "corpus": corpus, "official": True})
    cfg = cfg.model_copy(update={"f_max": f_max})
    state, report = build_state(cfg, weights)
    make_run_dir(out)
    buffer = io.BytesIO()
    torch.save({"model": state, "step": 0, "epoch": 0}, buffer)
    step_path = RunDir(out).step_checkpoint(0)
    atomic_write_bytes(step_path, buffer.getvalue())
    config_mod.save(cfg, RunDir(out).config)
    provenance = {"source": str(checkpoint.resolve()), "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
                  "method": method, "f_max": f_max, "imported_at": time.time(), **report}
    atomic_write_bytes(RunDir(out).official, json.dumps(provenance, indent=1).encode())
    write_status(out, "done", method=method, step=0, total_steps=0, finished_at=time.time(),
                 message=f"imported from official checkpoint {checkpoint.name} (f_max {f_max or 'sr/2'})")
    return step_path


def read_provenance(run_dir: Path) -> dict[str, Any] | None:
    """What `import_official` recorded for an imported run, None for a run trained here."""
    try:
        return json.loads(RunDir(run_dir).official.read_text())
    except (OSError, ValueError):
        return None
