"""Fixtures for engine tests: a tiny demo corpus and a tiny-run config."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import config


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 demo tracks of 12 s, as a folder source."""
    from engine.data.corpora.demo import make_demo

    out = tmp_path_factory.mktemp("tiny-demo")
    return make_demo(out, tracks=16, seed=0, seconds=12.0, workers=1, progress=False)


@pytest.fixture
def tiny_config(tiny_corpus: Path):
    """A factory of deterministic, seconds-long CPU run configs on the tiny corpus."""

    def make(**overrides) -> config.RunConfig:
        values = dict(corpus=f"folder:{tiny_corpus}", steps=6, batch_size=4, log_every=1, checkpoint_every=2,
                      num_workers=0, precision="fp32", device="cpu", n_prototypes=64)
        values.update(overrides)
        return config.build("demo", overrides=values)

    return make
