"""Feature-space metrics against closed forms, scipy and hand-computed cases."""

import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.errors import ConfigError
from gankit.metrics.distribution import (
    density_coverage,
    feature_stats,
    fid,
    frechet_distance,
    inception_score,
    kid,
    knn_radii,
    precision_recall,
    sqrtm_psd,
    trace_sqrt_product,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_psd(d: int, rank: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((d, rank))
    return a @ a.T


def _clusters(centers: torch.Tensor, per: int, scale: float, seed: int) -> torch.Tensor:
    shape = (len(centers) * per, centers.shape[1])
    noise = torch.randn(shape, generator=_gen(seed), dtype=torch.float64)
    return centers.repeat_interleave(per, dim=0) + scale * noise


# ---------------------------------------------------------------- FID


def test_fid_identical_sets_is_zero():
    x = torch.randn(500, 16, generator=_gen(0)) * 3 + 5
    _, sigma = feature_stats(x)
    assert fid(x, x) < 1e-6 * float(torch.trace(sigma))


def test_fid_shift_only_equals_squared_mean_difference():
    x = torch.randn(400, 8, generator=_gen(1), dtype=torch.float64)
    shift = torch.arange(8, dtype=torch.float64) / 4
    assert fid(x, x + shift) == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_distance_matches_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    got = frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_matches_scipy_reference_on_full_covariances():
    s1, s2 = _random_psd(20, 30, 1), _random_psd(20, 30, 2)
    mu1, mu2 = np.zeros(20), np.ones(20)
    ref = 20 + np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)


@pytest.mark.parametrize("seed,rank", [(3, 40), (4, 12), (5, 5)])
def test_trace_sqrt_product_matches_scipy_sqrtm(seed, rank):
    # rank < d makes both matrices singular: the case where the eps*I fallback is usually needed.
    s1, s2 = _random_psd(24, rank, seed), _random_psd(24, rank, seed + 100)
    ref = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert trace_sqrt_product(s1, s2) == pytest.approx(ref, rel=1e-6, abs=1e-8)


def test_sqrtm_psd_matches_scipy_and_squares_back():
    a = _random_psd(10, 10, 7)
    root = sqrtm_psd(a).numpy()
    np.testing.assert_allclose(root, scipy.linalg.sqrtm(a).real, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(root @ root, a, rtol=1e-10, atol=1e-10)


def test_fid_rejects_bad_inputs():
    with pytest.raises(ConfigError):
        fid(torch.zeros(10, 3), torch.zeros(10, 4))
    with pytest.raises(ConfigError):
        fid(torch.zeros(1, 3), torch.zeros(10, 3))
    with pytest.raises(ConfigError):
        fid(torch.full((5, 2), float("nan")), torch.zeros(5, 2))


# ---------------------------------------------------------------- KID


def _direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b/d + 1)^3, written out with explicit loops."""
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_tiny_case_matches_direct_formula():
    x = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [2.0, -1.0]])
    y = np.array([[0.5, 0.5], [3.0, 1.0], [-1.0, 0.0], [0.0, 2.0]])
    mean, err = kid(x, y, subsets=5, subset_size=4)  # each subset is the whole set
    assert mean == pytest.approx(_direct_mmd2(x, y), rel=1e-12)
    assert err == pytest.approx(0.0, abs=1e-12)


def test_kid_near_zero_for_same_distribution_and_positive_for_shift():
    real = torch.randn(600, 16, generator=_gen(10))
    same = torch.randn(600, 16, generator=_gen(11))
    shifted = same + 0.5
    m_same, e_same = kid(real, same, subsets=20, subset_size=300)
    m_shift, e_shift = kid(real, shifted, subsets=20, subset_size=300)
    assert abs(m_same) < 4 * e_same + 1e-3
    assert m_shift > 0.05 and m_shift > 20 * e_shift


def test_kid_is_deterministic_given_seed_and_clips_subset_size():
    real = torch.randn(50, 4, generator=_gen(12))
    fake = torch.randn(30, 4, generator=_gen(13))
    run = lambda size, seed: kid(real, fake, subsets=7, subset_size=size, seed=seed)  # noqa: E731
    assert run(1000, 3) == run(30, 3)  # 1000 is clipped to the smaller set (30)
    assert run(1000, 3) == run(1000, 3)
    assert run(20, 3) != run(20, 4)


# ---------------------------------------------------------------- Inception score


def test_inception_score_is_n_classes_for_confident_uniform_predictions():
    labels = torch.arange(1000) % 10  # every split of 100 holds each class 10 times
    logits = 50.0 * torch.nn.functional.one_hot(labels, 10).double()
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_is_one_for_identical_predictions():
    logits = torch.randn(1, 10, generator=_gen(14)).repeat(200, 1)
    mean, std = inception_score(logits, splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_inception_score_matches_direct_formula_on_random_logits():
    logits = torch.randn(90, 5, generator=_gen(15), dtype=torch.float64)
    p = torch.softmax(logits, dim=1).numpy()
    scores = []
    for part in np.split(p, 3):
        py = part.mean(axis=0)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(py)), axis=1))))
    mean, std = inception_score(logits, splits=3)
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)


# ------------------------------------------------------- precision/recall, density/coverage


def test_knn_radii_excludes_self():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    assert knn_radii(x.double(), 1).tolist() == [1.0, 1.0, 2.0, 4.0]
    assert knn_radii(x.double(), 2).tolist() == [3.0, 2.0, 3.0, 6.0]


def test_precision_recall_with_the_real_radii_given_is_the_same():
    gen = torch.Generator().manual_seed(4)
    real, fake = torch.randn(300, 6, generator=gen), torch.randn(200, 6, generator=gen) + 0.5
    radii = knn_radii(real, 3)
    assert precision_recall(real, fake, 3, real_radii=radii) == precision_recall(real, fake, 3)
    with pytest.raises(ConfigError, match="holds"):
        precision_recall(real, fake, 3, real_radii=radii[:10])


def test_density_coverage_and_compare_features_with_the_real_radii_given_are_the_same():
    from gankit.metrics.evaluate import compare_features, real_knn_radii

    gen = torch.Generator().manual_seed(5)
    real, fake = torch.randn(300, 6, generator=gen), torch.randn(200, 6, generator=gen) + 0.5
    assert density_coverage(real, fake, 5, real_radii=knn_radii(real, 5)) == density_coverage(
        real, fake, 5
    )
    radii = real_knn_radii(real, ["fid", "pr", "dc"])
    assert sorted(radii) == [3, 5]
    given = compare_features(real, fake, None, ["fid", "pr", "dc"], real_radii=radii)
    assert given == compare_features(real, fake, None, ["fid", "pr", "dc"])
    assert 0 < given["coverage"] < 1 and 0 < given["recall"] < 1
    with pytest.raises(ConfigError, match="holds"):
        density_coverage(real, fake, 5, real_radii=radii[5][:10])


def test_precision_recall_identical_and_far_apart():
    x = torch.randn(300, 8, generator=_gen(20))
    assert precision_recall(x, x, k=3) == (1.0, 1.0)
    p, r = precision_recall(x, x + 100.0, k=3)
    assert p == 0.0 and r == 0.0


def test_recall_and_coverage_drop_when_half_the_clusters_are_missing():
    corners = [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    centers = 20.0 * torch.tensor(corners, dtype=torch.float64)
    real = _clusters(centers, 150, 1.0, seed=21)
    full = _clusters(centers, 150, 1.0, seed=22)
    half = _clusters(centers[:2], 300, 1.0, seed=22)  # two of four clusters, same sample count
    p_full, r_full = precision_recall(real, full, k=3)
    p_half, r_half = precision_recall(real, half, k=3)
    assert p_full > 0.9 and r_full > 0.9
    assert p_half > 0.9  # what is generated is still realistic ...
    assert r_half == pytest.approx(r_full / 2, abs=0.05)  # ... but half the data is missed
    d_full, c_full = density_coverage(real, full, k=5)
    d_half, c_half = density_coverage(real, half, k=5)
    assert c_full > 0.9 and c_half == pytest.approx(c_full / 2, abs=0.05)
    assert d_half > 0.8 and d_full > 0.8


def test_density_coverage_same_distribution_and_far_apart():
    real = torch.randn(800, 4, generator=_gen(23))
    fake = torch.randn(800, 4, generator=_gen(24))
    density, coverage = density_coverage(real, fake, k=5)
    assert 0.8 < density < 1.2
    assert coverage > 0.9
    assert density_coverage(real, fake + 100.0, k=5) == (0.0, 0.0)


def test_chunked_distances_agree_with_unchunked(monkeypatch):
    import gankit.metrics.distribution as dist

    real = torch.randn(200, 5, generator=_gen(25))
    fake = torch.randn(150, 5, generator=_gen(26)) * 1.3
    whole = (precision_recall(real, fake), density_coverage(real, fake))
    monkeypatch.setattr(dist, "_BLOCK_BYTES", 8 * 200 * 7)  # blocks of 7 rows
    assert (precision_recall(real, fake), density_coverage(real, fake)) == whole


def test_manifold_metrics_reject_bad_k_and_dims():
    x = torch.randn(5, 2)
    with pytest.raises(ConfigError):
        precision_recall(x, x, k=5)
    with pytest.raises(ConfigError):
        density_coverage(x, torch.randn(5, 3), k=2)
    with pytest.raises(ConfigError):
        precision_recall(torch.randn(5), x)
