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
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import config as config_mod
from .data import datetimes
from .data.base import Dataset
from .data.table import TableTransformer, fingerprint, infer_kinds, read_table
from .errors import CheckpointError, ConfigError, DataError, DivergedError, GankitError
from .files import atomic_write
from .recipes import RECIPES, build_table_recipe
from .recipes.tabular import TableLayout
from .train import RunResult, Trainer
from .train import checkpoint as ckpt
from .train.distributed import world_size
from .train.resume import changed_keys
from .train.runlock import LOCK_FILE

DEFAULT_EPOCHS = 300  # the length of a fit given neither epochs nor minutes
TABLE_FILE = "table.json"


def _layout(
    transformer: TableTransformer, target: str | None, cfg: config_mod.Config
) -> TableLayout:
    """The recipe's view of the rows; a categorical `target` is emphasised in the conditional
    vector by `model.target_share`."""
    names = [c.name for c in transformer.discrete]
    return TableLayout(
        transformer.spans,
        [c.counts for c in transformer.discrete],
        names.index(target) if target in names else None,
        cfg.model.target_share,
    )


def table_config(
    model: str,
    n_rows: int,
    *,
    epochs: float | None,
    minutes: float | None,
    seed: int,
    overrides: Sequence[str],
) -> config_mod.Config:
    """The preset, a batch no larger than the table, the length in epochs (or minutes), overrides.
    Under torchrun `optim.batch_size` is per process: a step reads processes x batch rows."""
    models = _models()
    if model not in models:
        raise ConfigError(f"unknown model '{model}' (choose from: {', '.join(models)})")
    _check_length(epochs, minutes)
    cfg = config_mod.build(model, overrides=overrides, train={"seed": seed})
    return config_mod.validate(_with_length(cfg, n_rows, epochs, minutes, DEFAULT_EPOCHS))


def _models() -> list[str]:
    """The table recipes of the registry: `--model` of `gankit tabular fit`."""
    return [name for name, recipe in RECIPES.items() if recipe.trains_on == "tables"]


def _with_length(
    cfg: config_mod.Config,
    n_rows: int,
    epochs: float | None,
    minutes: float | None,
    default_epochs: float | None,
) -> config_mod.Config:
    """A batch no larger than the table, then the length: minutes, else epochs (else the default;
    none: the length the config already has)."""
    _fit_batch(cfg, n_rows)
    if minutes is not None:
        cfg.train.minutes, cfg.train.steps = minutes, None
    elif epochs is not None or default_epochs is not None:
        epochs = default_epochs if epochs is None else epochs
        cfg.train.steps, cfg.train.minutes = _epoch_steps(epochs, n_rows, cfg), None
    return cfg


def _fit_batch(cfg: config_mod.Config, n_rows: int) -> None:
    pack, ranks = cfg.model.pack, world_size()
    if (
        cfg.optim.batch_size * ranks > n_rows
    ):  # a small table: one global batch is the whole table, in whole packs
        cfg.optim.batch_size = max(pack, n_rows // ranks // pack * pack)


def _epoch_steps(epochs: float, n_rows: int, cfg: config_mod.Config) -> int:
    return max(1, math.ceil(epochs * n_rows / (cfg.optim.batch_size * world_size())))


def _check_length(epochs: Any, minutes: Any) -> None:
    """A length is a positive, finite number (NaN passes every `x <= 0` check), and one of the
    two."""
    for name, value in (("epochs", epochs), ("minutes", minutes)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"--{name} must be a number, got {value!r}")
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"--{name} must be a positive number, got {value}")
    if epochs is not None and minutes is not None:
        raise ConfigError("give --epochs or --minutes, not both")


def _listed(names: Any) -> Any:
    """A list of an iterable of names (a generator, an Index); anything else as given, for the
    check."""
    return (
        list(names)
        if isinstance(names, Iterable) and not isinstance(names, (str, bytes, Mapping))
        else names
    )


def _check_arguments(
    data: Any,
    model: Any,
    target: Any,
    discrete: Any,
    epochs: Any,
    minutes: Any,
    seed: Any,
    overrides: Any,
    kinds: Any,
) -> None:
    """Arguments of the wrong type or value, refused before anything is read or written."""
    if not isinstance(data, (pd.DataFrame, str, os.PathLike)):
        raise DataError(
            f"data must be a pandas DataFrame or the path of a CSV file, not {type(data).__name__}"
        )
    if model is not None and (not isinstance(model, str) or model not in _models()):
        raise ConfigError(f"unknown model '{model}' (choose from: {', '.join(_models())})")
    if target is not None and not isinstance(target, str):
        raise ConfigError(f"target must be a column name, got {target!r}")
    if discrete is not None and (
        not isinstance(discrete, list) or not all(isinstance(c, str) for c in discrete)
    ):
        raise ConfigError(
            f"discrete must be a list of column names (e.g. ['zip']), got {discrete!r}"
        )
    if kinds is not None and (
        not isinstance(kinds, Mapping) or not all(isinstance(k, str) for k in kinds)
    ):
        raise ConfigError(
            "kinds must be a dict of column name to kind (e.g. {'age': 'integer'}), "
            f"got {kinds!r}"
        )
    if seed is not None:
        config_mod.check_integer("--seed", seed, *config_mod.SEED_RANGE)
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ConfigError(f"overrides must be a list of 'key=value' strings, got {overrides!r}")
    _check_length(epochs, minutes)


def fit(
    data: pd.DataFrame | str | Path,
    out: str | Path,
    *,
    model: str | None = None,
    target: str | None = None,
    discrete: Sequence[str] | None = None,
    epochs: float | None = None,
    minutes: float | None = None,
    seed: int | None = None,
    overrides: Sequence[str] = (),
    kinds: dict[str, str] | None = None,
    resume: bool = False,
    progress: bool | None = False,
) -> TabularModel:
    """Train a table model on `data` (a DataFrame or CSV path) into the run directory `out`.

    `model` is ctgan (the default) or tvae. `discrete` names columns to treat as categorical,
    `kinds` sets any column's kind (continuous, integer, categorical, boolean, datetime, id); the
    rest are inferred. `target` (a categorical column, e.g. the fraud flag) is conditioned on in
    half the training rows and in every unconditional sample, so its relation to the other
    columns is learned as a condition (recipes/tabular.py), and is recorded for evaluation.
    `seed` (default 0) seeds the mixtures, the encoding and the training.

    `resume` continues the run in `out` on the same data, bit-exactly, for a new length
    (`epochs` or `minutes`). What the run was fitted with cannot change: a `model`, `target`,
    `seed`, `discrete`, `kinds` or override other than the run's is refused (ConfigError), as
    `gankit train --resume` refuses them; left out, they are the run's. Under torchrun every
    process calls it alike: `optim.batch_size` is per process, and rank 0 writes `out` (shared
    storage across machines). Bad input raises a GankitError and writes nothing.
    """
    discrete, overrides = _listed(discrete), _listed(() if overrides is None else overrides)
    _check_arguments(data, model, target, discrete, epochs, minutes, seed, overrides, kinds)
    frame = read_table(data)
    out = Path(out)
    if target is not None and target not in frame.columns:
        raise DataError(f"unknown target column '{target}' (columns: {', '.join(frame.columns)})")
    table_file = out / TABLE_FILE
    if resume:
        saved = _read_table_file(out)
        transformer = _transformer(saved, table_file)
        if not isinstance(saved.get("fingerprint"), str):
            raise CheckpointError(
                f"{table_file} does not hold a usable table model: no 'fingerprint' entry"
            )
        if saved["fingerprint"] != fingerprint(frame):
            raise DataError(
                f"{out} was trained on other data than this table: resume with the same rows"
            )
        cfg = _resume_config(
            out,
            saved,
            transformer,
            frame,
            model=model,
            target=target,
            discrete=discrete,
            kinds=kinds,
            seed=seed,
            epochs=epochs,
            minutes=minutes,
            overrides=overrides,
        )
        target = saved.get("target")  # the layout the run was trained with
        payload = b""
    else:
        if table_file.exists():
            raise GankitError(
                f"{out} already holds a table model: pass resume=True (--resume) or choose "
                "another out"
            )
        model = model or "ctgan"
        seed = 0 if seed is None else int(seed)
        discrete = list(discrete or [])
        if target is not None and target not in discrete and target not in (kinds or {}):
            discrete.append(target)
        cfg = table_config(
            model, len(frame), epochs=epochs, minutes=minutes, seed=seed, overrides=overrides
        )
        transformer = TableTransformer.fit(frame, infer_kinds(frame, discrete, kinds), seed)
        if not transformer.spans:
            raise DataError("the table has no column to model (only ID columns)")
        record = {
            "model": model,
            "target": target,
            "rows": len(frame),
            "fingerprint": fingerprint(frame),
            "source": str(Path(data).resolve()) if not isinstance(data, pd.DataFrame) else None,
            "epochs": epochs,
            "transformer": transformer.to_dict(),
        }
        payload = _table_json(
            record, transformer
        )  # before any file: a value JSON cannot hold is refused
    layout = _layout(transformer, target, cfg)
    rows = torch.from_numpy(transformer.transform(frame, seed=cfg.train.seed))
    dataset = Dataset(rows, name="table", row_weights=layout.row_weights(rows), grids=False)
    existed = out.exists()
    trainer = Trainer(
        cfg,
        out,
        resume=resume,
        progress=progress,
        data=dataset,
        recipe=build_table_recipe(cfg, layout),
    )
    writes = not resume and trainer.group.is_main  # under torchrun, rank 0 writes the run directory
    try:
        if writes:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write(table_file, payload)
        result = trainer.run()  # ends with every rank past rank 0's last write
        if result.checkpoint is None and result.status == "diverged":
            raise DivergedError(
                f"the fit diverged (NaN/Inf) at step {result.step}, before its first checkpoint: "
                "nothing was kept; lower optim.lr_g/optim.lr_d and fit again"
            )
    except BaseException:
        if writes:
            _remove_unfinished(out, existed)
        raise
    finally:
        trainer.close()
    fitted = TabularModel(out)
    fitted.result = result
    return fitted


def _resume_config(
    out: Path,
    saved: dict[str, Any],
    transformer: TableTransformer,
    frame: pd.DataFrame,
    *,
    model: str | None,
    target: str | None,
    discrete: Sequence[str] | None,
    kinds: dict[str, str] | None,
    seed: int | None,
    epochs: float | None,
    minutes: float | None,
    overrides: Sequence[str],
) -> config_mod.Config:
    """The run's saved config with the new length. A resumed run may be given a new length (more
    epochs, or minutes) and the options `gankit train --resume` lets change (threads, logging,
    device); what it was fitted with (model, target, seed, column kinds, other options) is
    refused when given otherwise, all of it in one line."""
    cfg = config_mod.load(out / "config.yaml")  # as fitted
    changed = []
    fitted_model, fitted_target = saved.get("model") or cfg.recipe, saved.get("target")
    if model is not None and model != fitted_model:
        changed.append(f"--model (fitted as {fitted_model}, given {model})")
    if target is not None and target != fitted_target:
        changed.append(f"--target (fitted with {fitted_target or 'none'}, given {target})")
    if seed is not None and seed != cfg.train.seed:
        changed.append(f"--seed (fitted with {cfg.train.seed}, given {seed})")
    if discrete is not None or kinds is not None:
        wanted = list(discrete or [])
        if (
            fitted_target is not None
            and fitted_target not in wanted
            and fitted_target not in (kinds or {})
        ):
            wanted.append(fitted_target)
        fitted_kinds = transformer.metadata
        for name, kind in infer_kinds(frame, wanted, kinds).items():
            if fitted_kinds.get(name) != kind:
                changed.append(
                    f"the kind of column '{name}' (fitted as {fitted_kinds.get(name)}, "
                    f"given {kind})"
                )
    new = _with_length(
        config_mod.build(file=out / "config.yaml", overrides=overrides),
        len(frame),
        epochs,
        minutes,
        None,
    )
    before, after = cfg.to_dict(), new.to_dict()
    for key in changed_keys(before, after):
        changed.append(f"{key} (fitted with {_dotted(before, key)}, given {_dotted(after, key)})")
    if changed:
        raise ConfigError(
            f"cannot change {', '.join(changed)} when resuming {out}: leave them out, "
            "or fit into another --out"
        )
    return config_mod.validate(new)


def _dotted(d: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def _table_json(record: dict[str, Any], transformer: TableTransformer) -> bytes:
    """table.json's bytes; a category JSON cannot hold (a date object, a Decimal) is a DataError
    naming its column."""
    try:
        return json.dumps(record, indent=1, default=_json_value).encode()
    except (TypeError, ValueError):
        for column in transformer.columns:
            for value in column.categories or []:
                try:
                    json.dumps(value, default=_json_value)
                except (TypeError, ValueError):
                    raise DataError(
                        f"column '{column.name}' holds {type(value).__name__} values, which "
                        "table.json cannot store as categories: convert them to text or numbers"
                    ) from None
        raise


def _remove_unfinished(out: Path, existed: bool) -> None:
    """A fresh fit that failed before its first checkpoint leaves no table model behind to block
    the retry: the files it wrote go (it refuses a folder that holds them already), and the
    folder too if it made it."""
    if ckpt.list_checkpoints(out / "checkpoints"):
        return  # resumable: keep it
    for name in (TABLE_FILE, "config.yaml", "metrics.jsonl", LOCK_FILE):
        (out / name).unlink(missing_ok=True)
    for folder in (out / "checkpoints", *(() if existed else (out,))):
        try:
            folder.rmdir()  # only if empty
        except OSError:
            pass


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
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is unreadable: {e}") from None
    if not isinstance(saved, dict):
        raise CheckpointError(f"{path} does not hold a usable table model: not a JSON object")
    return saved


def _transformer(saved: dict[str, Any], path: Path) -> TableTransformer:
    """The fitted transformer of a table.json, or one line on what is wrong with it."""
    if not isinstance(saved.get("transformer"), dict):
        raise CheckpointError(f"{path} does not hold a usable table model: no 'transformer' entry")
    try:
        transformer = TableTransformer.from_dict(saved["transformer"])
        transformer.spans  # noqa: B018 - every column's fields are read
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        detail = f"no {e} entry" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise CheckpointError(f"{path} does not hold a usable table model: {detail}") from None
    return transformer


class TabularModel:
    """A trained table model, ready to sample (`metadata`: each column's kind)."""

    result: RunResult | None = None

    def __init__(self, run: str | Path):
        self.run_dir = Path(run)
        saved = _read_table_file(self.run_dir)
        self.target: str | None = saved.get("target")
        self.source: str | None = saved.get("source")
        self.transformer = _transformer(saved, self.run_dir / TABLE_FILE)
        path, state = ckpt.load_latest(self.run_dir)
        try:
            self.config = config_mod.from_dict(state["config"])
            self.layout = _layout(self.transformer, self.target, self.config)
            self.recipe = build_table_recipe(self.config, self.layout)
            for name, net in self.recipe.nets.items():
                net.load_state_dict(state["nets"][name])
            for name, weights in (
                state.get("ema") or {}
            ).items():  # sample from the averaged weights
                self.recipe.nets[name].load_state_dict(weights)
        except (KeyError, RuntimeError, TypeError, ValueError, AttributeError, ConfigError) as e:
            raise CheckpointError(
                f"{path} does not hold a usable table model: {str(e).splitlines()[0]}"
            ) from None
        for net in self.recipe.nets.values():
            net.eval().requires_grad_(False)
        self.step = int(state["step"])

    @property
    def metadata(self) -> dict[str, str]:
        return self.transformer.metadata

    @torch.no_grad()
    def sample(
        self, n: int, where: dict[str, object] | None = None, seed: int = 0, batch_size: int = 2000
    ) -> pd.DataFrame:
        """`n` synthetic rows, deterministic for a seed. `where={"Class": "bad"}` makes every row
        hold that category: the generator is conditioned on it and the column is written as
        asked (by construction, never by rejection)."""
        n, batch_size, seed = config_mod.check_sampling(n, batch_size, seed)
        rng = torch.Generator().manual_seed(seed)
        latents = self.recipe.latents(n, rng)
        if where:
            if len(where) > 1:
                raise ConfigError(f"condition on one column at a time, not {', '.join(where)}")
            ((column, value),) = where.items()
            j, category = self.transformer.category_index(column, value)
            latents = self.recipe.with_condition(
                latents, self.layout.fixed_condition(n, j, category)
            )
        rows = torch.cat(
            [self.recipe.generate(latents[i : i + batch_size]) for i in range(0, n, batch_size)]
        )
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
        if column in where and where[column] != value:  # the last one would win, silently
            raise ConfigError(
                f"--where gives column '{column}' two values ({where[column]}, {value}): "
                "a row has one"
            )
        where[column] = value
    return where


def scoring_inputs(
    model: TabularModel, train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame
) -> dict[str, Any]:
    """The arguments of `gankit.metrics.tabular.evaluate_tables` for a model's synthetic rows,
    from tables as read from CSV: the real tables' datetime text read as timestamps (compared as
    numbers), the ID columns dropped from all three (regenerated, not modelled), and the model's
    target and categorical columns. The tables given are left as they are.

    >>> evaluate_tables(**scoring_inputs(model, train, model.sample(len(train)), holdout))
    """
    kinds = model.metadata
    ids = [c for c, kind in kinds.items() if kind == "id"]
    dates = [c for c, kind in kinds.items() if kind == "datetime"]

    def comparable(table: pd.DataFrame) -> pd.DataFrame:
        table = table.drop(columns=ids, errors="ignore")
        for column in dates:
            if column in table:
                table[column] = datetimes.parse(table[column])
        return table

    return {
        "train": comparable(train),
        "synthetic": synthetic.drop(columns=ids),
        "holdout": comparable(holdout),
        "target": model.target,
        "discrete": [c for c, kind in kinds.items() if kind in ("categorical", "boolean")],
    }
