"""engine.api.load_run: the notebook example of docs/elsewhere.md runs as written, and the API's pieces agree with
the store."""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.rundir import embeddings_store
from engine.api import load_run

PAGE = Path(__file__).resolve().parents[3] / "docs" / "elsewhere.md"


def notebook_example() -> str:
    text = PAGE.read_text()
    match = re.search(r"<!-- notebook example -->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/elsewhere.md: no notebook example"
    code = match.group(1)
    assert len(code.strip().splitlines()) <= 10
    return code


def test_docs_notebook_example_embeds_a_wav_and_finds_its_track_first(export_runs, tmp_path) -> None:
    run_dir = export_runs["contrastive"]
    with embeddings_store.open_embeddings(run_dir) as emb:
        track_id, path, tags = emb.tracks.ids[3], emb.tracks.paths[3], emb.tracks.tags[3]
        names = emb.tracks.tag_names
    wave, sr = sf.read(path, dtype="float32")
    song = tmp_path / "song.wav"
    sf.write(song, wave, sr, subtype="FLOAT")
    code = notebook_example().replace('"runs/contrastive"', repr(str(run_dir))).replace('"song.wav"', repr(str(song)))
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/elsewhere.md notebook example", "exec"), scope)
    lines = out.getvalue().splitlines()
    assert lines[0] == "contrastive 4 (16, 1024) (16, 22)"
    assert len(lines) == 6
    expected_tags = " ".join(n for n, on in zip(names, tags) if on)
    assert lines[1] == f"1.000  {track_id}  {expected_tags}"
    assert scope["batch"].shape == (2, 1024)


@pytest.mark.parametrize("method", ["random", "logmel"])
def test_embed_audio_matches_the_store_and_nearest_excludes_the_query(method, export_runs) -> None:
    run = load_run(export_runs[method])
    assert not run.model.training
    assert run.method == method and (run.config is None) == (method == "logmel")
    assert len(run.ids) == len(run.embeddings) == len(run.tags) == 16
    row = 7
    wave, sr = sf.read(run.paths[row], dtype="float32")
    got = run.embed_audio(wave, sr)
    np.testing.assert_allclose(got, run.embeddings[row], rtol=1e-5, atol=2e-6)
    hits = run.nearest(run.embeddings[row], k=3, exclude=row)
    assert len(hits) == 3 and row not in [h.row for h in hits]
    assert hits[0].similarity >= hits[1].similarity >= hits[2].similarity
    assert hits[0].tags == run.tags_of(hits[0].row)


def test_stereo_44k_input_is_mixed_down_and_resampled_like_the_engine(export_runs) -> None:
    from engine.data.audio import resample

    run = load_run(export_runs["random"])
    mono = np.random.default_rng(0).uniform(-0.3, 0.3, 44100 * 5).astype(np.float32)
    got = run.embed_audio(np.stack([mono, mono], axis=1), 44100)
    segment = torch.from_numpy(resample(mono, 44100, 16000)[:64000])[None]
    with torch.no_grad():
        want = run.model(segment)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)


def test_not_a_run_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a run directory"):
        load_run(tmp_path)
