"""The map lists the same neighbours as `mvssl neighbours`, NaN rows and ties included."""
from __future__ import annotations

import numpy as np

from engine.evaluation.projection import NeighbourIndex
from workbench.panels.map import model as mm


def test_map_and_engine_list_the_same_neighbours_with_nan_rows_and_ties() -> None:
    x = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    x = np.concatenate([x, x[:5], 2 * x[:5], np.full((2, 4), np.nan, np.float32), np.zeros((1, 4), np.float32)])
    index = NeighbourIndex(x)
    for row in range(len(x)):
        engine_rows, engine_sims = index.query(row, 8)
        map_rows, map_sims = mm.neighbours(index.unit, row, 8)
        assert map_rows.tolist() == engine_rows.tolist() and row not in map_rows
        np.testing.assert_array_equal(map_sims, engine_sims)
    rows, sims = mm.neighbours(index.unit, 0, 42)
    assert rows[:2].tolist() == [30, 35] and rows[-2:].tolist() == [40, 41]  # its copies first, NaN rows last
    assert np.isnan(sims[-2:]).all() and not np.isnan(sims[:-2]).any()
