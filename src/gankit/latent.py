"""A trained image model's latent space: walks between two latents (`gankit interpolate`) and the
style-mixing grid of a style-based generator (`gankit mix`), each a function of a loaded model
(`gankit.Generator`) that the CLI only parses arguments for.

A walk is spherical in z (latents are Gaussian: the straight line between two of them passes
through norms no sample has) and linear in w, the space a style-based G's styles live in (Karras
et al. 2019). Both ends are the samples of the two latents drawn from the seed, as
`Generator.sample(2, seed=...)` draws them.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import torch

from .config import SEED_RANGE, check_integer
from .errors import ConfigError
from .nets.stylegan import StyleGenerator
from .progress import bar as progress_bar
from .recipes.base import generate_in_chunks
from .recipes.gan import no_w_space

if TYPE_CHECKING:
    from .api import Generator

SPACES = ("auto", "z", "w")
#: the paper's groups of styles by the resolution of their layers (Karras et al. 2019, fig. 3)
STYLE_GROUPS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, None)}
CHUNK = 64


def check_truncation(psi: object) -> float:
    """psi of the truncation trick: a finite number (1: none, 0: the average w for every z)."""
    if isinstance(psi, bool) or not isinstance(psi, numbers.Real) or not math.isfinite(psi):
        raise ConfigError(f"truncation must be a finite number (1: none), got {psi!r}")
    return float(psi)


def style_generator(model: Generator) -> StyleGenerator:
    """The model's style-based G, refused in one line for a model without a w space."""
    G = model.nets.get("G")
    if not isinstance(G, StyleGenerator):
        raise ConfigError(no_w_space(model.config))
    return G


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from `a` (t = 0) to `b` (t = 1) for each t: the direction turns at
    a constant rate along the great circle of the two directions while the norm moves linearly,
    len(t) x a.shape. Nearly parallel latents fall back to the straight line."""
    a_flat, b_flat = a.flatten().double(), b.flatten().double()
    norm_a, norm_b = a_flat.norm(), b_flat.norm()
    t = t.double()[:, None]
    cos = torch.dot(a_flat, b_flat) / (norm_a * norm_b)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega < 1e-6:
        path = torch.lerp(a_flat, b_flat, t)
    else:
        unit_a, unit_b = a_flat / norm_a, b_flat / norm_b
        direction = torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b
        path = direction / torch.sin(omega) * torch.lerp(norm_a, norm_b, t)
    path = path.to(a.dtype).reshape(len(t), *a.shape)
    path[0], path[-1] = a, b  # the ends exactly
    return path


def _labels(model: Generator, n: int, label: int | None) -> torch.Tensor | None:
    """A walk stays in one class of a conditional model (`label`, default 0)."""
    classes = getattr(model.recipe, "num_classes", 0)
    if label is None:
        return torch.zeros(n, dtype=torch.long) if classes else None
    if not classes:
        raise ConfigError("label needs a conditional model (model.conditional=true)")
    label = check_integer("label", label, 0, classes - 1)
    return torch.full((n,), label, dtype=torch.long)


@torch.no_grad()
def interpolate(
    model: Generator,
    frames: int = 16,
    seed: int = 0,
    space: str = "auto",
    truncation: float = 1.0,
    label: int | None = None,
    progress: bool | None = False,
) -> torch.Tensor:
    """`frames` images (frames x C x H x W in [-1, 1]) along the walk between the two latents of
    `seed`: spherical in z, or linear in w (`space`; auto: w for a style-based G, else z), each
    end the sample of its latent; `truncation` as in `Generator.sample`."""
    frames = check_integer("frames", frames, 2, 10_000)
    seed = check_integer("seed", seed, *SEED_RANGE)
    psi = check_truncation(truncation)
    if len(model.sample_shape) != 3:
        raise ConfigError("a latent walk needs an image model; this one samples 2D points")
    if space not in SPACES:
        raise ConfigError(f"unknown latent space '{space}' (choose from: {', '.join(SPACES)})")
    styled = isinstance(model.nets.get("G"), StyleGenerator)
    space = ("w" if styled else "z") if space == "auto" else space
    labels = _labels(model, frames, label)
    ends = model.recipe.latents(2, torch.Generator().manual_seed(seed)).to(model.device)
    t = torch.linspace(0, 1, frames)
    if space == "w":
        G = style_generator(model)
        w = G.truncate(G.mapping(ends), psi)
        ws = torch.lerp(w[0], w[1], t.to(w)[:, None])
        ws[0], ws[-1] = w[0], w[1]
        chunks = ws.split(CHUNK)
        with progress_bar(len(chunks), f"walking {frames} frames", "batch", progress) as bar:
            images = []
            for chunk in chunks:
                images.append(G.synthesis(G.styles(chunk)).clamp(-1, 1))
                bar.update(1)
        return torch.cat(images).float().cpu()
    latents = slerp(ends[0], ends[1], t.to(ends.device))
    options = {"truncation": psi} if psi != 1 else {}
    if options:
        style_generator(model)
    with progress_bar(-(-frames // CHUNK), f"walking {frames} frames", "batch", progress) as bar:
        images = generate_in_chunks(
            model.recipe, latents, labels, model.nets, CHUNK, bar.update, **options
        )
    return images.float().cpu()


def style_span(G: StyleGenerator, layers: str) -> tuple[int, int]:
    """The w indices [start, stop) that `layers` names: coarse (the 4-8 px layers), middle
    (16-32 px), fine (64 px and up), or `A:B` (indices in 0..num_ws)."""
    if layers in STYLE_GROUPS:
        low, high = STYLE_GROUPS[layers]
        # the layers at 2^k px read w's 2(k - 2) and 2(k - 2) + 1 (the paper's indexing)
        start = 2 * (low.bit_length() - 3)
        stop = G.num_ws if high is None else 2 * (high.bit_length() - 2)
        start, stop = min(start, G.num_ws), min(stop, G.num_ws)
        if start >= stop:
            raise ConfigError(
                f"this model (built at {G.size} px) has no {layers} styles: give --layers A:B "
                f"(w indices in 0..{G.num_ws})"
            )
        return start, stop
    parts = layers.split(":") if isinstance(layers, str) else []
    try:
        start, stop = (int(p) for p in parts)
    except ValueError:
        start = stop = -1
    if len(parts) != 2 or not 0 <= start <= stop <= G.num_ws:
        raise ConfigError(
            f"--layers is coarse, middle, fine or A:B with 0 <= A <= B <= {G.num_ws} "
            f"(this model's w's), got '{layers}'"
        )
    return start, stop


@torch.no_grad()
def mixing_grid(
    model: Generator,
    rows: int = 3,
    columns: int = 5,
    layers: str = "coarse",
    seed: int = 0,
    truncation: float = 1.0,
    progress: bool | None = False,
) -> tuple[torch.Tensor, int]:
    """The StyleGAN paper's style-mixing figure: a top row of `columns` images, a left column of
    `rows` images, and in cell (i, j) column j's image with the styles of `layers` taken from row
    i's w. Returns the (rows + 1) x (columns + 1) tiles in reading order (the corner blank white)
    and the tiles per grid row."""
    seed = check_integer("seed", seed, *SEED_RANGE)
    rows = check_integer("rows", rows, 1, 1000)
    columns = check_integer("columns", columns, 1, 1000)
    psi = check_truncation(truncation)
    G = style_generator(model)
    start, stop = style_span(G, layers)
    z = model.recipe.latents(rows + columns, torch.Generator().manual_seed(seed))
    ws = G.styles(G.truncate(G.mapping(z.to(model.device)), psi))
    top, left = ws[:columns], ws[columns:]
    with progress_bar(rows + 1, f"mixing {rows} x {columns}", "row", progress) as bar:
        head = G.synthesis(top).clamp(-1, 1)
        sides = G.synthesis(left).clamp(-1, 1)
        blank = torch.ones_like(head[:1])
        tiles = [blank, head]
        bar.update(1)
        for i in range(rows):
            mixed = top.clone()
            mixed[:, start:stop] = left[i, start:stop]
            tiles += [sides[i : i + 1], G.synthesis(mixed).clamp(-1, 1)]
            bar.update(1)
    return torch.cat(tiles).float().cpu(), columns + 1
