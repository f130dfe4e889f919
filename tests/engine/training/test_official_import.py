"""`mvssl import --official`: a checkpoint in the official key layout (written here from
../shared/data/official-backbone-keys.tsv, no download) becomes a run that embeds what the
released model computes, and goes through embed -> probe -> compare."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import config
from engine.model.backbone import Backbone, BackboneConfig
from engine.cli import main
from engine.model.frontend import OFFICIAL_F_MAX, FrontendConfig

PREFIXES = {"byol": "student.module.backbone.", "clustering": "student.module.backbone.",
            "barlow_twins": "module.backbone.", "contrastive": "module.backbone.", "feature_stats": "module.backbone."}


def official_layout(shared_dir: Path) -> list[tuple[str, tuple[int, ...], str]]:
    rows = []
    for line in (shared_dir / "data" / "official-backbone-keys.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape, dtype = line.split("\t")
            rows.append((key, tuple(int(n) for n in shape.strip("()").split(",") if n.strip()), dtype))
    return rows


def official_backbone(seed: int = 7) -> Backbone:
    """The model whose weights the test checkpoint carries, on the official front end."""
    torch.manual_seed(seed)
    model = Backbone(BackboneConfig(frontend=FrontendConfig(f_max=OFFICIAL_F_MAX))).eval()
    for module in model.modules():  # BatchNorm statistics away from their initial values
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model


def write_official_checkpoint(shared_dir: Path, path: Path, model: Backbone) -> dict[str, torch.Tensor]:
    """Every key of the official layout with its listed shape and dtype, from `model`, as the release stores it."""
    ours = model.state_dict()
    state = {}
    for key, shape, dtype in official_layout(shared_dir):
        name = key.replace("spec.spec.", "frontend.mel.", 1) if key.startswith("spec.") else \
            key.replace("embedding.", "resnet.", 1)
        assert tuple(ours[name].shape) == shape and str(ours[name].dtype) == f"torch.{dtype}", key
        state[PREFIXES[path.stem] + key] = ours[name].clone()
    assert len(state) == len(ours)  # the layout lists every tensor of our backbone
    torch.save({"model": state, "epoch": 99}, path)
    return state


def test_layout_file_is_the_release_layout(shared_dir: Path) -> None:
    keys = [k for k, _, _ in official_layout(shared_dir)]
    assert len(keys) == len(Backbone().state_dict()) == 341 and keys[:2] == ["spec.spec.spectrogram.window", "spec.spec.mel_scale.fb"]


@pytest.mark.parametrize("name,method", [("feature_stats", "vicreg"), ("byol", "byol")])
def test_import_gives_the_released_models_embeddings(shared_dir: Path, tmp_path: Path, name: str, method: str) -> None:
    source = official_backbone()
    write_official_checkpoint(shared_dir, tmp_path / f"{name}.pt", source)
    run = tmp_path / "run"
    assert main(["import", "--official", str(tmp_path / f"{name}.pt"), "--out", str(run)]) == 0
    cfg = config.load(run / "config.toml")
    assert cfg.method == method and cfg.f_max == OFFICIAL_F_MAX and cfg.official
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    provenance = json.loads((run / "official.json").read_text())
    assert provenance["imported"] == ["backbone"] and provenance["f_max"] == OFFICIAL_F_MAX

    from engine.evaluation.encoders import load_encoder

    encode, dim, attrs = load_encoder(run)
    wave = torch.randn(3, 64_000)
    with torch.no_grad():
        assert torch.allclose(encode(wave), source(wave), atol=1e-5)
    assert dim == 1024 and attrs["method"] == method


def test_a_teacher_and_heads_in_the_checkpoint_are_imported_too(shared_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "clustering.pt"
    state = write_official_checkpoint(shared_dir, path, official_backbone())
    torch.manual_seed(1)
    widths = [(1024, 1024), (1024, 1024), (1024, 256), (256, 4096)]  # the official Head: ops 0, 3, 6, 9 are Linear
    head = {f"student.module.head.ops.{3 * i}.weight": torch.randn(o, n) for i, (n, o) in enumerate(widths)}
    teacher = {k.replace("student.module.", "teacher."): v + 1 for k, v in state.items()
               if k.endswith("conv1.weight")}
    torch.save({"model": {**state, **head, **teacher}}, path)
    run = tmp_path / "run"
    assert main(["import", "--official", str(path), "--out", str(run)]) == 0
    weights = torch.load(run / "checkpoints" / "step-000000.pt", weights_only=True)["model"]
    assert torch.equal(weights["head.ops.9.weight"], head["student.module.head.ops.9.weight"])
    assert torch.equal(weights["teacher.backbone.resnet.conv1.weight"],
                       teacher["teacher.backbone.embedding.conv1.weight"])
    provenance = json.loads((run / "official.json").read_text())
    assert provenance["imported"] == ["backbone", "head", "teacher.backbone"]
    assert provenance["seeded"] == ["teacher.head"]


def test_shape_mismatch_and_missing_keys_are_named(shared_dir: Path, tmp_path: Path) -> None:
    from engine.training.official import import_official

    path = tmp_path / "contrastive.pt"
    state = write_official_checkpoint(shared_dir, path, official_backbone())
    bad = dict(state)
    bad["module.backbone.embedding.conv1.weight"] = torch.zeros(8, 1, 5, 5)
    torch.save({"model": bad}, path)
    with pytest.raises(ValueError, match=r"resnet.conv1.weight: checkpoint \(8, 1, 5, 5\)"):
        import_official(path, tmp_path / "a")
    del bad["module.backbone.embedding.conv1.weight"]
    bad["module.backbone.embedding.conv2.weight"] = torch.zeros(8, 8, 3, 3)
    del bad["module.backbone.embedding.layer4.2.bn3.bias"]
    torch.save({"model": bad}, path)
    with pytest.raises(ValueError, match="no official backbone|lacks"):
        import_official(path, tmp_path / "b")


def test_unknown_file_name_needs_method_and_an_existing_run_is_kept(shared_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    write_official_checkpoint(shared_dir, tmp_path / "contrastive.pt", official_backbone())
    (tmp_path / "contrastive.pt").rename(path)
    assert main(["import", "--official", str(path), "--out", str(tmp_path / "r")]) == 2
    assert main(["import", "--official", str(path), "--out", str(tmp_path / "r"), "--method", "contrastive"]) == 0
    assert main(["import", "--official", str(path), "--out", str(tmp_path / "r"), "--method", "contrastive"]) == 2


def test_a_bare_backbone_state_dict_imports_and_a_bad_corpus_writes_nothing(shared_dir: Path, tmp_path: Path) -> None:
    from engine.training.official import import_official

    source = official_backbone()
    path = tmp_path / "barlow_twins.pt"
    state = write_official_checkpoint(shared_dir, path, source)
    torch.save({k.removeprefix("module.backbone."): v for k, v in state.items()}, path)  # what sample.py loads
    with pytest.raises(ValueError):
        import_official(path, tmp_path / "bad", corpus="nowhere:x")
    assert not (tmp_path / "bad").exists()
    import_official(path, tmp_path / "run")
    weights = torch.load(tmp_path / "run" / "checkpoints" / "step-000000.pt", weights_only=True)["model"]
    assert torch.equal(weights["backbone.resnet.conv1.weight"], source.resnet.conv1.weight)


def test_a_checkpoint_with_our_front_end_keeps_it(shared_dir: Path, tmp_path: Path) -> None:
    from engine.training.official import import_official

    path = tmp_path / "contrastive.pt"
    state = write_official_checkpoint(shared_dir, path, official_backbone())
    state["module.backbone.spec.spec.mel_scale.fb"] = Backbone().frontend.mel.mel_scale.fb.clone()
    torch.save({"model": state}, path)
    import_official(path, tmp_path / "run")
    assert config.load(tmp_path / "run" / "config.toml").f_max is None


@pytest.mark.slow
def test_imported_run_goes_through_embed_probe_compare(shared_dir: Path, tmp_path: Path, tiny_config) -> None:
    from engine.data.corpora.demo import make_demo
    from engine.evaluation.embed import embed
    from engine.evaluation.probe import run_probe
    from engine.evaluation.compare import write_report
    from engine.config import prepare_run
    from engine.training.loop import train

    corpus = f"folder:{make_demo(tmp_path / 'corpus', tracks=60, seed=1, seconds=8.0, workers=1, progress=False)}"
    write_official_checkpoint(shared_dir, tmp_path / "contrastive.pt", official_backbone())
    imported = tmp_path / "official-contrastive"
    assert main(["import", "--official", str(tmp_path / "contrastive.pt"), "--out", str(imported),
                 "--corpus", corpus]) == 0
    ours = tmp_path / "ours-random"
    prepare_run(tiny_config(method="random", corpus=corpus), ours)
    assert train(ours, progress=False) == "done"
    for run in (imported, ours):
        embed(run, segments_per_track=2, progress=False, bf16=False)
        run_probe(run, "genre", fractions=(100.0,), draws=1)
    from engine.collapse.diagnose import diagnose
    from engine.evaluation.projection import project

    assert diagnose(imported, progress=False, max_tracks=8)["steps"][0]["views"] == 16
    assert project(imported, methods=("pca",))["pca"].shape == (60, 2)  # the map of the GUI
    page = write_report([imported, ours], "genre", tmp_path / "report", n_resamples=50)
    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert page.exists() and [r["method"] for r in results["runs"]] == ["contrastive", "random"]
    assert np.isfinite(results["full_data"]["official-contrastive"]["macro"]["roc_auc"])
