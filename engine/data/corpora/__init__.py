"""Corpus adapters: every source yields the same Track records (id, path, split, tags, duration)."""
from engine.data.corpora.base import SPLITS, Corpus, Problem, Split, Track
from engine.data.corpora.sources import FORMS, load_source

__all__ = ["FORMS", "SPLITS", "Corpus", "Problem", "Split", "Track", "load_source"]
