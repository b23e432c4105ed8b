"""Synthetic tables: `fit` a CTGAN-class model (or TVAE) on a CSV file or DataFrame through the one
trainer, `load` it back, `sample` rows, conditionally on a category by construction.

    model = gankit.tabular.fit("loans.csv", "runs/loans", target="Class", minutes=4)
    fraud = model.sample(1000, where={"Class": "bad"})

A run directory holds what an image run does (config.yaml, metrics.jsonl, checkpoints/) plus
`table.json`: the fitted transformer (column kinds, modes, categories), JSON, no pickle.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch

from . import config as config_mod
from .data.base import Dataset
from .data.table import TableTransformer, fingerprint, infer_kinds, read_table
from .errors import CheckpointError, ConfigError, DataError, GankitError
from .recipes.tabular import TableLayout, build_table_recipe
from .train import RunResult, Trainer
from .train import checkpoint as ckpt
from .train.distributed import world_size

MODELS = ("ctgan", "tvae")
DEFAULT_EPOCHS = {"ctgan": 300, "tvae": 300}
TABLE_FILE = "table.json"


def _layout(transformer: TableTransformer, target: str | None, cfg: config_mod.Config) -> TableLayout:
    """The recipe's view of the rows; a categorical `target` is emphasised in the conditional
    vector by `model.target_share`."""
    names = [c.name for c in transformer.discrete]
    return TableLayout(transformer.spans, [c.counts for c in transformer.discrete],
                       names.index(target) if target in names else None, cfg.model.target_share)


def table_config(model: str, n_rows: int, *, epochs: float | None, minutes: float | None, seed: int,
                 overrides: Sequence[str]) -> config_mod.Config:
    """The preset, a batch no larger than the table, the length in epochs (or minutes), overrides.
    Under torchrun `optim.batch_size` is per process: a step reads processes x batch rows."""
    if model not in MODELS:
        raise ConfigError(f"unknown model '{model}' (choose from: {', '.join(MODELS)})")
    if epochs is not None and minutes is not None:
        raise ConfigError("give --epochs or --minutes, not both")
    cfg = config_mod.from_preset(model)
    cfg.train.seed = seed
    config_mod.apply_overrides(cfg, list(overrides))
    pack, ranks = cfg.model.pack, world_size()
    if cfg.optim.batch_size * ranks > n_rows:  # a small table: one global batch is the whole table, in whole packs
        cfg.optim.batch_size = max(pack, n_rows // ranks // pack * pack)
    if minutes is not None:
        if minutes <= 0:
            raise ConfigError("--minutes must be positive")
        cfg.train.minutes, cfg.train.steps = minutes, None
    else:
        epochs = DEFAULT_EPOCHS[model] if epochs is None else epochs
        if epochs <= 0:
            raise ConfigError("--epochs must be positive")
        cfg.train.steps, cfg.train.minutes = _epoch_steps(epochs, n_rows, cfg), None
    return config_mod.validate(cfg)


def _epoch_steps(epochs: float, n_rows: int, cfg: config_mod.Config) -> int:
    return max(1, math.ceil(epochs * n_rows / (cfg.optim.batch_size * world_size())))


def fit(data: pd.DataFrame | str | Path, out: str | Path, *, model: str = "ctgan", target: str | None = None,
        discrete: Sequence[str] | None = None, epochs: float | None = None, minutes: float | None = None,
        seed: int = 0, overrides: Sequence[str] = (), kinds: dict[str, str] | None = None,
        resume: bool = False, progress: bool | None = False) -> "TabularModel":
    """Train a table model on `data` (a DataFrame or CSV path) into the run directory `out`.

    `discrete` names columns to treat as categorical, `kinds` sets any column's kind
    (continuous, integer, categorical, boolean, datetime, id); the rest are inferred. `target`
    (a categorical column, e.g. the fraud flag) is conditioned on in half the training rows and
    in every unconditional sample, so its relation to the other columns is learned as a condition
    (recipes/tabular.py), and is recorded for evaluation. `resume` continues
    the run in `out` on the same data, bit-exactly. Under torchrun every process calls it alike:
    `optim.batch_size` is per process, and rank 0 writes `out` (shared storage across machines).
    """
    frame = read_table(data)
    out = Path(out)
    discrete = list(discrete or [])
    if target is not None:
        if target not in frame.columns:
            raise DataError(f"unknown target column '{target}' (columns: {', '.join(frame.columns)})")
        if target not in discrete and target not in (kinds or {}):
            discrete.append(target)
    table_file = out / TABLE_FILE
    if resume:
        saved = _read_table_file(out)
        if saved["fingerprint"] != fingerprint(frame):
            raise DataError(f"{out} was trained on other data than this table: resume with the same rows")
        transformer = TableTransformer.from_dict(saved["transformer"])
        target = saved.get("target")  # the layout the run was trained with
        cfg = config_mod.load(out / "config.yaml")
        _resume_length(cfg, epochs, minutes, len(frame))
    else:
        if table_file.exists():
            raise GankitError(f"{out} already holds a table model: pass resume=True (--resume) or choose another out")
        cfg = table_config(model, len(frame), epochs=epochs, minutes=minutes, seed=seed, overrides=overrides)
        transformer = TableTransformer.fit(frame, infer_kinds(frame, discrete, kinds), seed)
        if not transformer.spans:
            raise DataError("the table has no column to model (only ID columns)")
    layout = _layout(transformer, target, cfg)
    rows = torch.from_numpy(transformer.transform(frame, seed=cfg.train.seed))
    dataset = Dataset(rows, name="table", row_weights=layout.row_weights(rows), grids=False)
    trainer = Trainer(cfg, out, resume=resume, progress=progress, data=dataset, recipe=build_table_recipe(cfg, layout))
    try:
        if not resume and trainer.group.is_main:  # under torchrun, rank 0 writes the run directory
            out.mkdir(parents=True, exist_ok=True)
            record = {"model": model, "target": target, "rows": len(frame), "fingerprint": fingerprint(frame),
                      "source": str(Path(data).resolve()) if not isinstance(data, pd.DataFrame) else None,
                      "epochs": epochs, "transformer": transformer.to_dict()}
            ckpt.atomic_write(table_file, json.dumps(record, indent=1, default=_json_value).encode())
        result = trainer.run()  # ends with every rank past rank 0's last write
    finally:
        trainer.close()
    fitted = TabularModel(out)
    fitted.result = result
    return fitted


def _resume_length(cfg: config_mod.Config, epochs: float | None, minutes: float | None, n_rows: int) -> None:
    """A resumed run may be given a new length (more epochs, or minutes); the rest of its saved
    config stays (model, overrides and seed of the call are not read)."""
    if minutes is not None:
        cfg.train.minutes, cfg.train.steps = minutes, None
    elif epochs is not None:
        cfg.train.steps, cfg.train.minutes = _epoch_steps(epochs, n_rows, cfg), None


def _json_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    raise TypeError(f"cannot store {type(v).__name__} in table.json")


def _read_table_file(run: Path) -> dict[str, Any]:
    path = run / TABLE_FILE
    if not path.is_file():
        raise CheckpointError(f"{run} is not a table model run (no {TABLE_FILE})")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is unreadable: {e}") from None


class TabularModel:
    """A trained table model, ready to sample (`metadata`: each column's kind)."""

    result: RunResult | None = None

    def __init__(self, run: str | Path):
        self.run_dir = Path(run)
        saved = _read_table_file(self.run_dir)
        self.target: str | None = saved.get("target")
        self.source: str | None = saved.get("source")
        self.transformer = TableTransformer.from_dict(saved["transformer"])
        path, state = ckpt.load_latest(self.run_dir)
        try:
            self.config = config_mod.from_dict(state["config"])
            self.layout = _layout(self.transformer, self.target, self.config)
            self.recipe = build_table_recipe(self.config, self.layout)
            for name, net in self.recipe.nets.items():
                net.load_state_dict(state["nets"][name])
            for name, weights in (state.get("ema") or {}).items():  # sample from the averaged weights
                self.recipe.nets[name].load_state_dict(weights)
        except (KeyError, RuntimeError, TypeError, ValueError, ConfigError) as e:
            raise CheckpointError(f"{path} does not hold a usable table model: {str(e).splitlines()[0]}") from None
        for net in self.recipe.nets.values():
            net.eval().requires_grad_(False)
        self.step = int(state["step"])

    @property
    def metadata(self) -> dict[str, str]:
        return self.transformer.metadata

    @torch.no_grad()
    def sample(self, n: int, where: dict[str, object] | None = None, seed: int = 0,
               batch_size: int = 2000) -> pd.DataFrame:
        """`n` synthetic rows, deterministic for a seed. `where={"Class": "bad"}` makes every row
        hold that category: the generator is conditioned on it and the column is written as
        asked (by construction, never by rejection)."""
        if n < 1:
            raise ConfigError("the number of rows must be at least 1")
        rng = torch.Generator().manual_seed(seed)
        latents = self.recipe.latents(n, rng)
        if where:
            if len(where) > 1:
                raise ConfigError(f"condition on one column at a time, not {', '.join(where)}")
            (column, value), = where.items()
            j, category = self.transformer.category_index(column, value)
            latents = self.recipe.with_condition(latents, self.layout.fixed_condition(n, j, category))
        rows = torch.cat([self.recipe.generate(latents[i:i + batch_size])
                          for i in range(0, n, batch_size)])
        return self.transformer.inverse(rows.numpy())


def load(run_dir: str | Path) -> TabularModel:
    """A table model from its run directory (the newest checkpoint)."""
    return TabularModel(run_dir)


def parse_where(items: Sequence[str]) -> dict[str, str]:
    """`COL=VALUE` strings (the CLI's --where) to a dict."""
    where = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise ConfigError(f"--where '{item}' is not of the form COLUMN=VALUE")
        where[column] = value
    return where
