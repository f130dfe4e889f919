"""Collapse diagnostics land in their documented regions on healthy, dimensionally and fully collapsed
embeddings; α-ReQ, alignment, uniformity, k-NN precision and prototype statistics match references."""
from __future__ import annotations

import math

import pytest
import torch

from engine.collapse import diagnostics as dg
from engine.collapse import clustering as dc
from engine.methods.clustering import ClusteringConfig, ClusteringLoss

N, D = 512, 128


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def cases() -> dict[str, torch.Tensor]:
    """(N, D) embeddings: isotropic Gaussian, rank 3 + tiny noise, one vector + tiny noise."""
    g = _gen(0)
    healthy = torch.randn(N, D, generator=g)
    rank3 = torch.randn(N, 3, generator=g) @ torch.randn(3, D, generator=g)
    dimensional = rank3 + 1e-3 * torch.randn(N, D, generator=g)
    full = torch.randn(1, D, generator=g) + 1e-4 * torch.randn(N, D, generator=g)
    return {"healthy": healthy, "dimensional": dimensional, "full": full}


# --------------------------------------------------------------------------------------------------
# regions of the three reference cases
# --------------------------------------------------------------------------------------------------
def test_std_regions(cases) -> None:
    healthy = 1 / math.sqrt(D)
    assert dg.std_of_l2_normalized(cases["healthy"]) == pytest.approx(healthy, rel=0.05)
    assert 0.7 * healthy < dg.std_of_l2_normalized(cases["dimensional"]) < 1.05 * healthy  # blind to it
    assert dg.std_of_l2_normalized(cases["full"]) < 0.2 * healthy


def test_rankme_regions(cases) -> None:
    assert dg.rankme(cases["healthy"]) > 0.9 * D
    assert dg.rankme(cases["dimensional"]) == pytest.approx(3.0, abs=0.5)
    assert dg.rankme(cases["full"]) < 1.1


def test_spectrum_is_the_covariance_eigenvalues(cases) -> None:
    for z in cases.values():
        expected = torch.linalg.eigvalsh(torch.cov(z.double().T)).flip(0)[: min(N, D)]
        got = dg.covariance_spectrum(z).double()
        assert got.shape == (min(N, D),)
        assert torch.allclose(got, expected, rtol=1e-3, atol=1e-6 * float(expected[0]))
    lam = dg.covariance_spectrum(cases["dimensional"])
    assert lam[3] / lam[0] < 1e-4  # the cliff after the used rank
    lam = dg.covariance_spectrum(cases["healthy"])
    assert lam[-1] / lam[0] > 0.05


def test_alpha_req_regions(cases) -> None:
    alphas = {name: dg.alpha_req(dg.covariance_spectrum(z)) for name, z in cases.items()}
    assert alphas["healthy"] < 0.8
    assert alphas["dimensional"] > 1.5
    assert alphas["full"] < 0.8  # only the white noise is left: read std for full collapse


def test_uniformity_and_alignment_regions(cases) -> None:
    assert dg.uniformity(cases["healthy"]) < -3.8
    assert dg.uniformity(cases["dimensional"]) == pytest.approx(math.log((1 - math.exp(-8)) / 8), abs=0.1)
    assert dg.uniformity(cases["full"]) > -0.01
    g = _gen(1)
    base = cases["healthy"]
    positives = base + 0.3 * torch.randn(N, D, generator=g)
    unrelated = torch.randn(N, D, generator=g)
    assert dg.alignment(base, positives) < 0.2
    assert dg.alignment(base, unrelated) == pytest.approx(2.0, abs=0.1)
    full = cases["full"]
    assert dg.alignment(full, full.flip(0)) < 1e-4


def test_centred_signal_regions(cases) -> None:
    offset = 5.0  # a shared mean far larger than the variation, as post-ReLU backbone embeddings have
    healthy = cases["healthy"] + offset
    assert dg.std_of_l2_normalized(healthy) < 0.2 / math.sqrt(D)  # raw directions all alike...
    assert dg.centred_std(healthy) == pytest.approx(1 / math.sqrt(D), rel=0.05)  # ...centred they spread
    assert dg.rankme(healthy) < 0.5 * D < 0.9 * D < dg.centred_rankme(healthy)  # the mean counts as one big direction
    assert dg.spread(cases["healthy"]) == pytest.approx(1.0, abs=0.01)
    assert dg.spread(healthy) == pytest.approx(1 / math.sqrt(1 + offset ** 2), rel=0.02)
    assert dg.centred_rankme(cases["dimensional"]) == pytest.approx(3.0, abs=0.5)
    assert dg.spread(cases["full"]) < 1e-3


def test_classify_embedding_on_the_three_cases(cases) -> None:
    for name, z in cases.items():
        peak = dg.spread(cases["healthy"])  # the run's highest spread so far: before it collapsed
        state = dg.classify_embedding(dg.spread(z), dg.centred_rankme(z), dim=D, n=N, peak_spread=peak)
        assert state == name


def test_classify_embedding_thresholds() -> None:
    assert dg.classify_embedding(spread=0.2, centred_rankme=26.0, dim=1024, n=512) == "healthy"
    assert dg.classify_embedding(spread=0.2, centred_rankme=25.0, dim=1024, n=512) == "dimensional"  # < 0.05 * 511
    assert dg.classify_embedding(spread=0.2, centred_rankme=1.9, dim=1024, n=8) == "dimensional"  # < 2
    assert dg.classify_embedding(spread=0.2, centred_rankme=2.1, dim=1024, n=8) == "healthy"
    # full collapse needs the spread low and far below the run's highest: an early snapshot is not collapsed
    assert dg.classify_embedding(spread=0.005, centred_rankme=500.0, dim=1024, n=512) == "healthy"
    assert dg.classify_embedding(spread=0.005, centred_rankme=500.0, dim=1024, n=512, peak_spread=0.04) == "healthy"
    assert dg.classify_embedding(spread=0.005, centred_rankme=500.0, dim=1024, n=512, peak_spread=0.06) == "full"
    with pytest.raises(ValueError, match="dim"):
        dg.classify_embedding(0.1, 1.0, dim=0, n=5)


# --------------------------------------------------------------------------------------------------
# α-ReQ recovers known power laws
# --------------------------------------------------------------------------------------------------
def test_alpha_req_recovers_an_exact_power_law() -> None:
    ranks = torch.arange(1, 301, dtype=torch.float64)
    assert dg.alpha_req(3.0 * ranks ** -1.3) == pytest.approx(1.3, abs=1e-9)
    broken = torch.where(ranks <= 10, ranks ** -0.2, 10 ** 1.8 * ranks ** -2.0)  # slope changes at 10
    assert dg.alpha_req(broken, fit_range=(10, 300)) == pytest.approx(2.0, abs=1e-9)
    assert dg.alpha_req(torch.cat([ranks ** -1.0, torch.zeros(20, dtype=torch.float64)])) == pytest.approx(1.0)


def test_alpha_req_recovers_the_slope_of_sampled_embeddings() -> None:
    alpha, dim = 1.5, 32
    scales = torch.arange(1, dim + 1, dtype=torch.float32) ** (-alpha / 2)  # std_i so that var_i ∝ i^-α
    rotation = torch.linalg.qr(torch.randn(dim, dim, generator=_gen(3)))[0]
    z = torch.randn(20000, dim, generator=_gen(2)) * scales @ rotation
    assert dg.alpha_req(dg.covariance_spectrum(z)) == pytest.approx(alpha, abs=0.05)


def test_alpha_req_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="fit_range"):
        dg.alpha_req(torch.ones(5), fit_range=(3, 9))
    with pytest.raises(ValueError, match="2 positive"):
        dg.alpha_req(torch.tensor([1.0, 0.0, 0.0]))


# --------------------------------------------------------------------------------------------------
# alignment and uniformity against plain loops (Wang & Isola 2020)
# --------------------------------------------------------------------------------------------------
def _unit(v: list[float]) -> list[float]:
    norm = math.sqrt(sum(a * a for a in v))
    return [a / norm for a in v]


def _sq_dist(a: list[float], b: list[float]) -> float:
    return sum((p - q) ** 2 for p, q in zip(a, b))


def test_alignment_and_uniformity_match_plain_loops() -> None:
    g = _gen(4)
    x, y = torch.randn(12, 5, generator=g, dtype=torch.float64), torch.randn(12, 5, generator=g, dtype=torch.float64)
    xs, ys = [_unit(r) for r in x.tolist()], [_unit(r) for r in y.tolist()]
    assert dg.alignment(x, y) == pytest.approx(sum(_sq_dist(a, b) for a, b in zip(xs, ys)) / 12, rel=1e-6)
    assert dg.alignment(x, y, alpha=1.0) == pytest.approx(
        sum(math.sqrt(_sq_dist(a, b)) for a, b in zip(xs, ys)) / 12, rel=1e-6)
    for t in (2.0, 0.5):
        potentials = [math.exp(-t * _sq_dist(xs[i], xs[j])) for i in range(12) for j in range(i + 1, 12)]
        assert dg.uniformity(x, t=t) == pytest.approx(math.log(sum(potentials) / len(potentials)), rel=1e-6)


def test_alignment_and_uniformity_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="alignment"):
        dg.alignment(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="uniformity"):
        dg.uniformity(torch.randn(1, 3))


# --------------------------------------------------------------------------------------------------
# k-NN tag precision@k
# --------------------------------------------------------------------------------------------------
def _plain_knn(z: torch.Tensor, tags: list[set[int]], k: int) -> tuple[float, float]:
    """For each tagged track: share of its k most cosine-similar other tracks sharing a tag; and of all others."""
    zs = [_unit(r) for r in z.tolist()]
    hits, chances = [], []
    for i, mine in enumerate(tags):
        if not mine:
            continue
        others = [j for j in range(len(zs)) if j != i]
        others.sort(key=lambda j: -sum(a * b for a, b in zip(zs[i], zs[j])))
        hits.append(sum(bool(mine & tags[j]) for j in others[:k]) / k)
        chances.append(sum(bool(mine & tags[j]) for j in others) / len(others))
    return sum(hits) / len(hits), sum(chances) / len(chances)


def test_knn_matches_a_plain_loop() -> None:
    g = _gen(5)
    z = torch.randn(30, 6, generator=g, dtype=torch.float64)
    tag_sets = [set(torch.randperm(5, generator=g)[: i % 3].tolist()) for i in range(30)]  # 0, 1 or 2 tags
    tags = torch.zeros(30, 5, dtype=torch.uint8)
    for i, s in enumerate(tag_sets):
        tags[i, list(s)] = 1
    expected = _plain_knn(z, tag_sets, k=4)
    for chunk in (1024, 7):
        got = dg.knn_tag_precision(z, tags, k=4, chunk=chunk)
        assert got.precision == pytest.approx(expected[0])
        assert got.chance == pytest.approx(expected[1])
        assert got.queries == sum(1 for s in tag_sets if s)


def test_knn_regions(cases) -> None:
    g = _gen(6)
    classes = torch.arange(256) % 8
    tags = torch.nn.functional.one_hot(classes, 8).to(torch.uint8)
    clustered = 3 * torch.randn(8, D, generator=g)[classes] + torch.randn(256, D, generator=g)
    healthy = dg.knn_tag_precision(clustered, tags)
    assert healthy.chance == pytest.approx(31 / 255)
    assert healthy.precision > 0.95
    collapsed = dg.knn_tag_precision(cases["full"][:256], tags)
    assert abs(collapsed.precision - collapsed.chance) < 0.05


def test_knn_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="k = 10"):
        dg.knn_tag_precision(torch.randn(10, 3), torch.ones(10, 2))
    with pytest.raises(ValueError, match="no track has a tag"):
        dg.knn_tag_precision(torch.randn(20, 3), torch.zeros(20, 2))


# --------------------------------------------------------------------------------------------------
# clustering: prototype statistics and the two collapse kinds
# --------------------------------------------------------------------------------------------------
def test_prototype_stats_match_the_clustering_loss() -> None:
    g = _gen(7)
    k = 16
    student, teacher = torch.randn(3, 10, k, generator=g), torch.randn(3, 10, k, generator=g)
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=k, student_temp=0.1))
    loss.center.copy_(torch.linspace(-1, 1, k))
    parts = loss.forward_components(student, teacher, teacher_temp=0.07)
    stats = dc.prototype_stats(teacher, 0.07, center=loss.center, student_logits=student, student_temp=0.1)
    assert stats.teacher_entropy == pytest.approx(float(parts.teacher_entropy), rel=1e-5)
    assert stats.kl == pytest.approx(float(parts.kl), rel=1e-4, abs=1e-6)
    assert stats.effective_prototypes == pytest.approx(float(parts.effective_prototypes), rel=1e-5)
    assert torch.equal(stats.usage, parts.usage)
    assert stats.distinct_prototypes == int((parts.usage > 0).sum())
    assert stats.samples == 30 and stats.max_entropy == pytest.approx(math.log(k))
    assert math.isnan(dc.prototype_stats(teacher, 0.07).kl)


K = 4096


def _teacher_logits(kind: str) -> torch.Tensor:
    """(2, 256, K) teacher logits: many prototypes in use, one prototype for all, or near uniform."""
    g = _gen(8)
    noise = torch.randn(2, 256, K, generator=g)
    if kind == "uniform":
        return 1e-3 * noise
    if kind == "dominant":
        return 0.1 * noise + 1.0 * torch.nn.functional.one_hot(torch.tensor(7), K)
    assigned = torch.randint(0, K, (256,), generator=g)  # each track its prototype, shared by both views
    return 0.1 * noise + 0.5 * torch.nn.functional.one_hot(assigned, K)


@pytest.mark.parametrize("kind", ["healthy", "dominant", "uniform"])
def test_classify_clustering_on_synthetic_teacher_outputs(kind: str) -> None:
    logits = _teacher_logits(kind)
    stats = dc.prototype_stats(logits, teacher_temp=0.04, student_logits=logits)
    state = dg.classify_clustering(stats.teacher_entropy, stats.effective_prototypes, K, stats.samples)
    assert state == kind
    ln_k = math.log(K)
    if kind == "dominant":
        assert stats.teacher_entropy < 0.1 and stats.effective_prototypes < 1.1 and stats.distinct_prototypes == 1
        assert int(stats.usage[7]) == 512
    elif kind == "uniform":
        assert stats.teacher_entropy > 0.99 * ln_k and stats.effective_prototypes > 0.99 * K
    else:
        assert stats.teacher_entropy < 0.5 * ln_k and stats.effective_prototypes > 200
        assert stats.distinct_prototypes > 200


def test_classify_clustering_thresholds() -> None:
    ln_k = math.log(K)
    assert dg.classify_clustering(0.9 * ln_k, 1000.0, K, 512) == "uniform"
    assert dg.classify_clustering(0.89 * ln_k, 1000.0, K, 512) == "healthy"
    assert dg.classify_clustering(0.5, 4.0, K, 512) == "dominant"  # at most 4 prototypes in use
    assert dg.classify_clustering(0.5, 4.1, K, 512) == "healthy"
    assert dg.classify_clustering(0.5, 1.6, K, 20) == "healthy"  # few samples: the limit falls to 1.5
    # one prototype is the argmax of almost every sample while the teacher is sharp
    assert dg.classify_clustering(1.4, 4.2, K, 64, top_share=1.0) == "dominant"
    assert dg.classify_clustering(1.4, 3.0, K, 64, top_share=0.5) == "dominant"  # effective <= 3.2
    assert dg.classify_clustering(1.4, 30.0, K, 64, top_share=0.5) == "healthy"
    assert dg.classify_clustering(0.6 * ln_k, 30.0, K, 64, top_share=1.0) == "healthy"  # near-uniform, not sharp
    assert dg.classify_clustering(1.4, 30.0, K, 8, top_share=1.0) == "healthy"  # too few samples to judge


def test_near_duplicate_prototypes() -> None:
    g = _gen(9)
    assert dc.near_duplicate_prototypes(torch.randn(K, 256, generator=g)) == 0
    same = torch.randn(1, 256, generator=g) + 1e-3 * torch.randn(100, 256, generator=g)
    assert dc.near_duplicate_prototypes(same) == 100 * 99 // 2
    groups = torch.randn(6, 8, generator=g)[torch.arange(30) % 6] + 0.05 * torch.randn(30, 8, generator=g)
    w = torch.cat([groups, torch.randn(10, 8, generator=g)])
    unit = [_unit(r) for r in w.tolist()]
    expected = sum(1 for i in range(40) for j in range(i + 1, 40)
                   if sum(a * b for a, b in zip(unit[i], unit[j])) > 0.9)
    assert expected >= 6 * 10  # each group of 5 is 10 near-duplicate pairs
    for chunk in (1024, 7):
        assert dc.near_duplicate_prototypes(w, chunk=chunk) == expected
