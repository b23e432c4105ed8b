"""Feature-space distances between a real and a generated sample set.

Pure functions: feature tensors (N x D, any float dtype, torch or numpy) in, Python floats out.
All arithmetic runs in float64 on the CPU-or-whatever device the inputs live on, because FID in
particular subtracts large, nearly equal numbers and float32 loses several digits there.

References:
- FID: Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule ...".
- KID: Binkowski et al. 2018, "Demystifying MMD GANs" (kernel and estimator as in torch-fidelity).
- IS: Salimans et al. 2016, "Improved Techniques for Training GANs".
- Precision/recall: Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric ...".
- Density/coverage: Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics ...".
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gankit.errors import ConfigError

ArrayLike = torch.Tensor | np.ndarray

# Rows of a pairwise-distance block are chosen so one float64 block stays near this many bytes
# (64 MiB): 10,000 x 10,000 then runs in ~12 blocks instead of one 800 MB matrix.
_BLOCK_BYTES = 64 * 2**20


def _as_feats(x: ArrayLike, name: str, min_rows: int = 1) -> torch.Tensor:
    """Validate a 2D finite feature matrix and return it as float64."""
    t = torch.as_tensor(x).detach()
    if t.dim() != 2:
        raise ConfigError(f"{name} must be a 2D (N x D) feature matrix, got shape {tuple(t.shape)}")
    if t.shape[0] < min_rows:
        raise ConfigError(f"{name} needs at least {min_rows} samples, got {t.shape[0]}")
    t = t.to(torch.float64)
    if not torch.isfinite(t).all():
        raise ConfigError(f"{name} contains NaN or Inf")
    return t


def _same_dim(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[1] != b.shape[1]:
        raise ConfigError(
            f"feature dimensions differ: real has {a.shape[1]}, fake has {b.shape[1]}"
        )


# --------------------------------------------------------------------------------------------
# FID
# --------------------------------------------------------------------------------------------


def feature_stats(feats: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased (N-1) covariance of features, the Gaussian FID fits to each set."""
    x = _as_feats(feats, "feats", min_rows=2)
    return x.mean(dim=0), torch.cov(x.T).reshape(x.shape[1], x.shape[1])


def sqrtm_psd(a: ArrayLike) -> torch.Tensor:
    """Symmetric square root of a PSD matrix by eigendecomposition.

    Eigenvalues that round-off pushed slightly below zero are clamped to 0, so no eps*I
    regularisation is needed (unlike scipy.linalg.sqrtm on a non-symmetric product).
    """
    m = torch.as_tensor(a).to(torch.float64)
    m = (m + m.T) / 2
    vals, vecs = torch.linalg.eigh(m)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def trace_sqrt_product(sigma1: ArrayLike, sigma2: ArrayLike) -> float:
    """tr(sqrt(sigma1 @ sigma2)) for PSD sigma1, sigma2, computed exactly.

    sigma1 @ sigma2 is similar to the symmetric PSD matrix s @ sigma2 @ s with s = sqrt(sigma1),
    so both have the same (real, non-negative) eigenvalues; the trace of the square root is
    the sum of their square roots. This avoids the complex-valued, sometimes unstable
    general sqrtm that the reference FID code needs an eps*I fallback for.
    """
    s1 = torch.as_tensor(sigma1).to(torch.float64)
    s2 = torch.as_tensor(sigma2).to(torch.float64)
    root1 = sqrtm_psd(s1)
    m = root1 @ ((s2 + s2.T) / 2) @ root1
    vals = torch.linalg.eigvalsh((m + m.T) / 2)
    return float(vals.clamp(min=0).sqrt().sum())


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2):
    ||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr(sqrt(sigma1 sigma2)).
    """
    m1, m2 = (torch.as_tensor(m).to(torch.float64).reshape(-1) for m in (mu1, mu2))
    s1, s2 = (torch.as_tensor(s).to(torch.float64) for s in (sigma1, sigma2))
    d = m1.numel()
    if m2.numel() != d or s1.shape != (d, d) or s2.shape != (d, d):
        raise ConfigError(
            f"mismatched shapes: mu1 {tuple(m1.shape)}, mu2 {tuple(m2.shape)}, "
            f"sigma1 {tuple(s1.shape)}, sigma2 {tuple(s2.shape)}"
        )
    diff = m1 - m2
    value = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt_product(s1, s2)
    # Round-off can leave a tiny negative number for identical statistics; FID is >= 0.
    return max(float(value), 0.0)


def fid(real_feats: ArrayLike, fake_feats: ArrayLike) -> float:
    """Frechet Inception Distance between two feature sets (any feature extractor)."""
    real = _as_feats(real_feats, "real_feats", min_rows=2)
    fake = _as_feats(fake_feats, "fake_feats", min_rows=2)
    _same_dim(real, fake)
    return frechet_distance(*feature_stats(real), *feature_stats(fake))


# --------------------------------------------------------------------------------------------
# KID
# --------------------------------------------------------------------------------------------


def _poly_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cubic polynomial kernel k(x, y) = (x.y / d + 1)^3 of Binkowski et al."""
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 estimate between equal-size sets (diagonal terms of K_xx, K_yy dropped)."""
    m = x.shape[0]
    k_xx, k_yy, k_xy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    off_diag = k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()
    within = off_diag / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


def kid(
    real_feats: ArrayLike,
    fake_feats: ArrayLike,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: mean unbiased MMD^2 over random subsets, and its standard error.

    Subsets are drawn without replacement, independently for real and fake (as torch-fidelity),
    from a private torch.Generator so the result depends only on `seed`. subset_size is clipped
    to the smaller set. The second value is std(ddof=1) / sqrt(subsets) (0.0 for one subset);
    torch-fidelity's `kernel_inception_distance_std` is instead the plain std over subsets.
    Unlike FID, KID is unbiased, so it can be slightly negative for matching distributions.
    """
    real = _as_feats(real_feats, "real_feats", min_rows=2)
    fake = _as_feats(fake_feats, "fake_feats", min_rows=2)
    _same_dim(real, fake)
    if subsets < 1 or subset_size < 2:
        raise ConfigError(
            f"kid needs subsets >= 1 and subset_size >= 2, got {subsets}, {subset_size}"
        )
    m = min(subset_size, real.shape[0], fake.shape[0])
    gen = torch.Generator().manual_seed(seed)
    values = torch.tensor(
        [
            mmd2_unbiased(
                real[torch.randperm(real.shape[0], generator=gen)[:m].to(real.device)],
                fake[torch.randperm(fake.shape[0], generator=gen)[:m].to(fake.device)],
            )
            for _ in range(subsets)
        ],
        dtype=torch.float64,
    )
    stderr = float(values.std(unbiased=True) / math.sqrt(subsets)) if subsets > 1 else 0.0
    return float(values.mean()), stderr


# --------------------------------------------------------------------------------------------
# Inception score
# --------------------------------------------------------------------------------------------


def inception_score(logits: ArrayLike, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) on classifier logits, mean and std (ddof=0) over splits.

    Splits are contiguous slices [i*N//splits, (i+1)*N//splits), as in the original code.
    xlogy keeps classes that no sample predicts (p = 0) from producing 0 * log 0 = NaN.
    """
    x = _as_feats(logits, "logits")
    if splits < 1 or x.shape[0] < splits:
        raise ConfigError(
            f"inception_score needs 1 <= splits <= N, got splits={splits}, N={x.shape[0]}"
        )
    p = torch.softmax(x, dim=1)
    n = x.shape[0]
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        p_y = part.mean(dim=0, keepdim=True)
        kl = (torch.xlogy(part, part) - torch.xlogy(part, p_y)).sum(dim=1).mean()
        scores.append(torch.exp(kl))
    s = torch.stack(scores)
    return float(s.mean()), float(s.std(unbiased=False))


# --------------------------------------------------------------------------------------------
# k-NN manifold metrics (precision/recall, density/coverage)
# --------------------------------------------------------------------------------------------


def _row_slices(n_rows: int, n_cols: int) -> list[slice]:
    """Row blocks sized so one float64 (block x n_cols) distance matrix stays near _BLOCK_BYTES."""
    step = max(1, _BLOCK_BYTES // (8 * max(n_cols, 1)))
    return [slice(s, s + step) for s in range(0, n_rows, step)]


def knn_radii(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each sample to its k-th nearest neighbour in the same set, self excluded.

    The self-distance (0) is the smallest in each row, so the k-th neighbour is the (k+1)-th
    smallest distance. Computed in row blocks to bound memory.
    """
    n = feats.shape[0]
    if not 1 <= k < n:
        raise ConfigError(f"k must satisfy 1 <= k < number of samples ({n}), got k={k}")
    return torch.cat(
        [
            torch.cdist(feats[rows], feats).topk(k + 1, dim=1, largest=False).values[:, k]
            for rows in _row_slices(n, n)
        ]
    )


def _ball_counts(
    queries: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor, strict: bool
) -> torch.Tensor:
    """For each query, how many balls B(centers[j], radii[j]) contain it (int64, length Q)."""
    counts = []
    for rows in _row_slices(queries.shape[0], centers.shape[0]):
        d = torch.cdist(queries[rows], centers)
        inside = d < radii[None, :] if strict else d <= radii[None, :]
        counts.append(inside.sum(dim=1))
    return torch.cat(counts)


def _checked_radii(real: torch.Tensor, k: int, radii: torch.Tensor | None) -> torch.Tensor:
    if radii is None:
        return knn_radii(real, k)
    if radii.shape != (len(real),):
        raise ConfigError(f"real_radii holds {tuple(radii.shape)} radii for {len(real)} rows")
    return radii


def precision_recall(
    real_feats: ArrayLike,
    fake_feats: ArrayLike,
    k: int = 3,
    real_radii: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019).

    Each set's manifold is the union of balls around its samples with radius = distance to the
    k-th nearest neighbour (self excluded). Precision: share of fake samples inside the real
    manifold (fidelity). Recall: share of real samples inside the fake manifold (diversity).
    Boundary points count as inside (<=), as in the authors' code. `real_radii`
    (`knn_radii(real, k)`) saves recomputing the real set's radii when it is scored many times.
    """
    real = _as_feats(real_feats, "real_feats", min_rows=k + 1)
    fake = _as_feats(fake_feats, "fake_feats", min_rows=k + 1)
    _same_dim(real, fake)
    real_radii = _checked_radii(real, k, real_radii)
    precision = (_ball_counts(fake, real, real_radii, strict=False) > 0).double().mean()
    recall = (_ball_counts(real, fake, knn_radii(fake, k), strict=False) > 0).double().mean()
    return float(precision), float(recall)


def density_coverage(
    real_feats: ArrayLike,
    fake_feats: ArrayLike,
    k: int = 5,
    real_radii: torch.Tensor | None = None,
) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020), robust to outliers unlike precision/recall.

    Only real k-NN balls are used. Density: mean number of real balls containing a fake
    sample, divided by k (about 1 when the distributions match, can exceed 1). Coverage:
    share of real balls that contain at least one fake sample. Strict (<) as in `prdc`.
    `real_radii` as in `precision_recall`.
    """
    real = _as_feats(real_feats, "real_feats", min_rows=k + 1)
    fake = _as_feats(fake_feats, "fake_feats", min_rows=1)
    _same_dim(real, fake)
    radii = _checked_radii(real, k, real_radii)
    density = _ball_counts(fake, real, radii, strict=True).double().sum() / (k * fake.shape[0])
    # A real ball is covered if its nearest fake sample lies inside it.
    nearest_fake = torch.cat(
        [
            torch.cdist(real[rows], fake).min(dim=1).values
            for rows in _row_slices(real.shape[0], fake.shape[0])
        ]
    )
    coverage = (nearest_fake < radii).double().mean()
    return float(density), float(coverage)
