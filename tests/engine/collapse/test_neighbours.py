"""The one cosine-neighbour ranking: ties by row, NaN last, never the query; batched equals one by one."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.collapse import diagnostics as dg
from engine.collapse.neighbours import knn_tag_hits, nearest, nearest_rows, unit_rows

# rows 1 and 3 duplicate row 0, row 2 is orthogonal, row 4 holds a NaN, row 5 is zero
X = np.array([[1, 0], [1, 0], [0, 1], [2, 0], [np.nan, 0], [0, 0], [1, 1]], np.float32)


def test_ties_by_row_and_nan_last() -> None:
    rows, sims = nearest(unit_rows(X), 0, k=6)
    assert rows.tolist() == [1, 3, 6, 2, 5, 4]
    np.testing.assert_allclose(sims[:5], [1, 1, np.sqrt(0.5), 0, 0], atol=1e-6)
    assert np.isnan(sims[5])


def test_a_nan_query_lists_the_other_rows_in_row_order_never_itself() -> None:
    rows, sims = nearest(unit_rows(X), 4, k=10)
    assert rows.tolist() == [0, 1, 2, 3, 5, 6] and np.isnan(sims).all()


@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_batched_queries_equal_single_queries(k: int) -> None:
    unit = unit_rows(np.concatenate([X, np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)]))
    rows, sims = nearest_rows(unit, np.arange(len(unit)), k)
    for q in range(len(unit)):
        one_rows, one_sims = nearest(unit, q, k)
        np.testing.assert_array_equal(rows[q], one_rows)
        np.testing.assert_allclose(sims[q], one_sims, atol=1e-6)  # one matmul or many: rounding differs


def test_diagnose_and_compare_count_the_same_knn_hits_among_ties() -> None:
    # every track is a duplicate of two others: which tied neighbours are taken decides the hits
    z = np.repeat(np.eye(3, dtype=np.float32), 3, axis=0)  # (9, 3)
    tags = np.array([[0, 1], [1, 0], [0, 1]] * 3)
    hits = knn_tag_hits(unit_rows(z), tags, np.arange(9), k=1)
    assert hits.tolist() == [0, 0, 1] * 3  # the first other row of each triple
    result = dg.knn_tag_precision(torch.from_numpy(z), torch.from_numpy(tags), k=1)
    assert result.precision == pytest.approx(hits.mean()) and result.queries == 9
    assert result.chance == pytest.approx((3 * 2 + 6 * 5) / 8 / 9)
