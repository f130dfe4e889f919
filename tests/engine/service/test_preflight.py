"""A pre-training job that can only fail is refused when it is submitted: one line at once, no run folder."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.cli import main
from engine.service.queue import visible_gpus


@pytest.mark.parametrize(("corpus", "words"), [("folder:/nonexistent", "not found: /nonexistent"),
                                               ("folder:/etc", "no audio track")])
def test_train_refuses_a_corpus_without_tracks_at_once(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       corpus: str, words: str) -> None:
    started = time.monotonic()
    assert main(["train", "--corpus", corpus, "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err
    assert time.monotonic() - started < 10 and not (tmp_path / "r").exists()


@pytest.mark.skipif(bool(visible_gpus()), reason="this machine has a GPU")
def test_train_refuses_cuda_without_a_gpu(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "--set", "device=cuda", "--run-dir", str(tmp_path / "r")]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "r").exists()
