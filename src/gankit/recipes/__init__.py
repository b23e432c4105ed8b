"""One file per model family; each is a small recipe plugged into the one trainer.

`RECIPES` is the registry: a recipe's name (`cfg.recipe`) to its class. Each class declares, next
to its code, what gankit.config reads of it: `archs` (the `model.arch` values it builds),
`trains_on` ("images": `gankit train`; "tables": `gankit tabular fit`), `options` (the option
sections it reads beyond data, model, optim and train, as dataclasses), `model_options` (model
options only some recipes read: those it reads; others' are refused), `presets` (its `--preset`
entries) and `check(cfg)` (its rules, run after the generic validation). A new family is its
recipe file, its nets and one line here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import ConfigError
from .base import Recipe
from .cyclegan import CycleGANRecipe
from .diffusion import DiffusionRecipe
from .gan import GANRecipe
from .pix2pix import Pix2PixRecipe
from .tabular import CTGANRecipe, TableLayout, TVAERecipe
from .vae import VAERecipe

if TYPE_CHECKING:
    from ..config import Config

RECIPES: dict[str, type] = {
    "gan": GANRecipe,
    "vae": VAERecipe,
    "diffusion": DiffusionRecipe,
    "pix2pix": Pix2PixRecipe,
    "cyclegan": CycleGANRecipe,
    "ctgan": CTGANRecipe,
    "tvae": TVAERecipe,
}


def _recipe_class(cfg: Config, trains_on: str) -> type:
    if cfg.recipe not in RECIPES:
        raise ConfigError(f"unknown recipe '{cfg.recipe}' (choose from: {', '.join(RECIPES)})")
    recipe = RECIPES[cfg.recipe]
    if recipe.trains_on != trains_on:
        raise ConfigError(
            f"a {cfg.recipe} run is a table model: use `gankit tabular sample` "
            "(gankit.tabular.load)"
            if recipe.trains_on == "tables"
            else f"a {cfg.recipe} run models images, not tables: use `gankit sample`"
        )
    return recipe


def build_recipe(cfg: Config, sample_shape: tuple[int, ...], num_classes: int = 0) -> Recipe:
    """An image recipe from its config (a table recipe needs the table's layout: below)."""
    return _recipe_class(cfg, "images")(cfg, sample_shape, num_classes)


def build_table_recipe(cfg: Config, layout: TableLayout) -> Recipe:
    """A table recipe, its networks initialised from the config's seed without touching the
    global RNG."""
    recipe = _recipe_class(cfg, "tables")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        return recipe(cfg, layout)


__all__ = ["RECIPES", "Recipe", "build_recipe", "build_table_recipe"]
