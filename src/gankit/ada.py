"""ADA's augmentation pipeline (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data"): every image D sees, real and generated, goes through the same random
transformations, each applied to an image with probability p; the GAN recipe adapts p from how
sure D is of the real images (`recipes/gan.py`, `AdaptiveP`).

In order: x-flip, 90-degree rotations, integer translation (the "blit" group), isotropic scaling,
arbitrary rotation, anisotropic scaling, arbitrary rotation again (the "geometric" group: the
rotation has probability 1 - sqrt(1 - p) at each of its two places, so p at most in all), then
brightness, contrast, hue rotation and saturation (the "colour" group), then cutout. The
geometric transformations become one matrix per image and one bilinear resampling with mirrored
borders; the colour ones one 4x4 matrix per image. Everything is differentiable in the images, so
G's gradient passes through, and an image no transformation touched is returned as it was.

Parameters are the paper's: translation up to 1/8 of the side, log2 of the scales ~ N(0, 0.2^2),
rotation angle ~ U(-pi, pi), brightness offset ~ N(0, 0.2^2), log2 contrast ~ N(0, 0.5^2), hue
angle ~ U(-pi, pi), log2 saturation ~ N(0, 1), a cutout square of half the side. Images are NCHW
in [-1, 1] (colour in that space, as the paper's). Random numbers are drawn on the CPU from the
caller's generator, for the whole global batch under torchrun (`shard.rank_draw`), as
`augment.py` does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .shard import ONE_PROCESS, Shard, rank_draw

#: every transformation, in the order the pipeline applies them
OPS = (
    "xflip",
    "rotate90",
    "translate",
    "scale",
    "rotate",
    "aniso",
    "brightness",
    "contrast",
    "hue",
    "saturation",
    "cutout",
)
GEOMETRIC = OPS[:6]
COLOUR = OPS[6:10]

TRANSLATE_MAX = 0.125  # of the image's side
SCALE_STD = 0.2  # of log2 of the isotropic scale
ANISO_STD = 0.2  # of log2 of the anisotropic scale
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5  # of log2 of the contrast factor
SATURATION_STD = 1.0  # of log2 of the saturation factor
CUTOUT_SIZE = 0.5  # side of the cutout square, as a share of the image's side


class _Draws:
    """Per-image random numbers for one batch: each draw covers the global batch under torchrun
    and keeps this rank's rows."""

    def __init__(self, n: int, p: float, rng: torch.Generator, shard: Shard):
        self.n, self.p, self.rng, self.shard = n, p, rng, shard

    def uniform(self, *shape: int) -> torch.Tensor:
        return rank_draw(self.shard, self.n, lambda m: torch.rand(m, *shape, generator=self.rng))

    def normal(self, *shape: int) -> torch.Tensor:
        return rank_draw(self.shard, self.n, lambda m: torch.randn(m, *shape, generator=self.rng))

    def integers(self, high: int) -> torch.Tensor:
        return rank_draw(
            self.shard, self.n, lambda m: torch.randint(high, (m,), generator=self.rng)
        )

    def applied(self, p: float | None = None) -> torch.Tensor:
        """Which images this transformation touches: each with probability p."""
        return self.uniform() < (self.p if p is None else p)


def _eye(n: int, size: int) -> torch.Tensor:
    return torch.eye(size, dtype=torch.float64).expand(n, size, size).clone()


def _scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = _eye(len(sx), 3)
    m[:, 0, 0], m[:, 1, 1] = sx, sy
    return m


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    m = _eye(len(tx), 3)
    m[:, 0, 2], m[:, 1, 2] = tx, ty
    return m


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    """Rotation by theta (radians) in image coordinates (x right, y down): clockwise on screen
    for a positive angle."""
    m = _eye(len(theta), 3)
    c, s = torch.cos(theta), torch.sin(theta)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _where(mask: torch.Tensor, value: torch.Tensor, default: float) -> torch.Tensor:
    return torch.where(
        mask, value.to(torch.float64), torch.full_like(value, default, dtype=torch.float64)
    )


def geometric_inverse(draws: _Draws, height: int, width: int, ops: tuple[str, ...]) -> torch.Tensor:
    """[N, 3, 3] float64: for each image, the map from an output pixel's position to the input
    position it reads (pixels, origin at the image's centre), the inverse of the transformations
    composed in the pipeline's order."""
    n = draws.n
    inverse = _eye(n, 3)

    def then(forward_inverse: torch.Tensor) -> None:
        nonlocal inverse
        inverse = inverse @ forward_inverse  # (T o F)^-1 = F^-1 o T^-1

    if "xflip" in ops:
        flip = draws.integers(2) * draws.applied()
        then(_scale2d(1.0 - 2.0 * flip.double(), torch.ones(n, dtype=torch.float64)))
    if "rotate90" in ops:
        quarter = draws.integers(4) * draws.applied()
        # torch.rot90(x, k, (2, 3)) reads output (x, y) from input (-y, x) rotated k times
        then(_rotate2d(math.pi / 2 * quarter.double()).round())
    if "translate" in ops:
        t = (draws.uniform(2) * 2 - 1) * TRANSLATE_MAX
        t = torch.where(draws.applied()[:, None], t, torch.zeros_like(t))
        then(
            _translate2d(-(t[:, 0] * width).round().double(), -(t[:, 1] * height).round().double())
        )
    if "scale" in ops:
        s = _where(draws.applied(), 2.0 ** (draws.normal() * SCALE_STD), 1.0)
        then(_scale2d(1.0 / s, 1.0 / s))
    p_rotate = 1.0 - math.sqrt(max(1.0 - draws.p, 0.0))  # two chances: p overall
    if "rotate" in ops:
        theta = _where(draws.applied(p_rotate), (draws.uniform() * 2 - 1) * math.pi, 0.0)
        then(_rotate2d(-theta))
    if "aniso" in ops:
        s = _where(draws.applied(), 2.0 ** (draws.normal() * ANISO_STD), 1.0)
        then(_scale2d(1.0 / s, s))
    if "rotate" in ops:
        theta = _where(draws.applied(p_rotate), (draws.uniform() * 2 - 1) * math.pi, 0.0)
        then(_rotate2d(-theta))
    return inverse


def warp(x: torch.Tensor, inverse: torch.Tensor) -> torch.Tensor:
    """Resample each image through its inverse map (`geometric_inverse`): bilinear, borders
    mirrored (no black corners for D to notice). Images whose map is the identity stay exact."""
    n, _, h, w = x.shape
    to_unit = torch.diag(torch.tensor([2.0 / w, 2.0 / h, 1.0], dtype=torch.float64))
    to_pixels = torch.diag(torch.tensor([w / 2.0, h / 2.0, 1.0], dtype=torch.float64))
    theta = (to_unit @ inverse @ to_pixels)[:, :2].to(x.device, x.dtype, non_blocking=True)
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=False)
    moved = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    untouched = (inverse == torch.eye(3, dtype=torch.float64)).flatten(1).all(1)
    return torch.where(untouched.to(x.device).view(n, 1, 1, 1), x, moved)


#: the luma axis of RGB, around which hue rotates and saturation scales
_LUMA = torch.tensor([1.0, 1.0, 1.0], dtype=torch.float64) / math.sqrt(3.0)


def colour_matrix(draws: _Draws, ops: tuple[str, ...]) -> torch.Tensor:
    """[N, 4, 4] float64: each image's colour transformation in homogeneous RGB ([-1, 1])."""
    n = draws.n
    m = _eye(n, 4)
    if "brightness" in ops:
        b = _where(draws.applied(), draws.normal() * BRIGHTNESS_STD, 0.0)
        step = _eye(n, 4)
        step[:, :3, 3] = b[:, None]
        m = step @ m
    if "contrast" in ops:
        c = _where(draws.applied(), 2.0 ** (draws.normal() * CONTRAST_STD), 1.0)
        step = _eye(n, 4)
        step[:, :3, :3] *= c[:, None, None]
        m = step @ m
    outer = torch.outer(_LUMA, _LUMA)
    if "hue" in ops:
        theta = _where(draws.applied(), (draws.uniform() * 2 - 1) * math.pi, 0.0)
        # Rodrigues' formula around the luma axis
        k = torch.tensor(
            [[0.0, -_LUMA[2], _LUMA[1]], [_LUMA[2], 0.0, -_LUMA[0]], [-_LUMA[1], _LUMA[0], 0.0]],
            dtype=torch.float64,
        )
        c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
        step = _eye(n, 4)
        step[:, :3, :3] = c * torch.eye(3, dtype=torch.float64) + s * k + (1 - c) * outer
        m = step @ m
    if "saturation" in ops:
        s = _where(draws.applied(), 2.0 ** (draws.normal() * SATURATION_STD), 1.0)
        step = _eye(n, 4)
        step[:, :3, :3] = outer + (torch.eye(3, dtype=torch.float64) - outer) * s[:, None, None]
        m = step @ m
    return m


def recolour(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Apply each image's colour matrix. A grey image takes the matrix's effect on grey (the mean
    of its rows), so hue and saturation leave it as it is."""
    n, channels = x.shape[:2]
    if channels == 3:
        linear, offset = matrix[:, :3, :3], matrix[:, :3, 3]
    elif channels == 1:
        rows = matrix[:, :3, :].mean(1, keepdim=True)
        linear, offset = rows[:, :, :3].sum(2, keepdim=True), rows[:, :, 3]
    else:
        raise ValueError(f"ADA's colour transformations need 1 or 3 channels, got {channels}")
    linear = linear.to(x.device, x.dtype, non_blocking=True)
    offset = offset.to(x.device, x.dtype, non_blocking=True)
    out = torch.einsum("nij,njhw->nihw", linear, x) + offset[:, :, None, None]
    untouched = (matrix == torch.eye(4, dtype=torch.float64)).flatten(1).all(1)
    return torch.where(untouched.to(x.device).view(n, 1, 1, 1), x, out)


def cutout(x: torch.Tensor, draws: _Draws) -> torch.Tensor:
    """Zero a square of half the side at a uniform centre (it may hang over the border), in the
    images it is applied to."""
    n, _, h, w = x.shape
    centre = draws.uniform(2).to(x.device, x.dtype, non_blocking=True)
    applied = draws.applied().to(x.device, non_blocking=True)
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) / h
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) / w
    inside_y = (ys[None, :] - centre[:, 1:2]).abs() < CUTOUT_SIZE / 2
    inside_x = (xs[None, :] - centre[:, 0:1]).abs() < CUTOUT_SIZE / 2
    hole = inside_y[:, :, None] & inside_x[:, None, :] & applied[:, None, None]
    return x * (~hole).unsqueeze(1).to(x.dtype)


def ada_augment(
    x: torch.Tensor,
    p: float,
    rng: torch.Generator,
    shard: Shard = ONE_PROCESS,
    ops: tuple[str, ...] = OPS,
) -> torch.Tensor:
    """NCHW images through the pipeline, each transformation applied to an image with probability
    `p` (`ops`: the transformations used, in the pipeline's order whatever order they are named).
    The draws are made whatever p is, so a run consumes its random stream alike as p moves."""
    if x.dim() != 4:
        raise ValueError(f"ADA needs NCHW images, got a tensor of shape {tuple(x.shape)}")
    unknown = set(ops) - set(OPS)
    if unknown:
        raise ValueError(
            f"unknown ADA transformation {sorted(unknown)[0]} (known: {', '.join(OPS)})"
        )
    draws = _Draws(len(x), float(p), rng, shard)
    if any(op in ops for op in GEOMETRIC):
        x = warp(x, geometric_inverse(draws, x.shape[2], x.shape[3], ops))
    if any(op in ops for op in COLOUR):
        x = recolour(x, colour_matrix(draws, ops))
    if "cutout" in ops:
        x = cutout(x, draws)
    return x
