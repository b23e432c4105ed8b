"""One file per model family; each is a small recipe plugged into the one trainer."""

from __future__ import annotations

from ..config import Config
from ..errors import ConfigError
from .base import Recipe
from .diffusion import DiffusionRecipe
from .gan import GANRecipe
from .vae import VAERecipe

RECIPES = {"gan": GANRecipe, "vae": VAERecipe, "diffusion": DiffusionRecipe}


def build_recipe(cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0) -> Recipe:
    if cfg.recipe in ("ctgan", "tvae"):  # they need the table's column layout: recipes/tabular.py
        raise ConfigError(
            f"a {cfg.recipe} run is a table model: use `gankit tabular sample` (gankit.tabular.load)"
        )
    if cfg.recipe not in RECIPES:
        raise ConfigError(f"unknown recipe '{cfg.recipe}' (choose from: {', '.join(RECIPES)})")
    return RECIPES[cfg.recipe](cfg, sample_shape, num_classes)


__all__ = ["Recipe", "build_recipe", "RECIPES"]
