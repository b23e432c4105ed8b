"""`gankit bench mnist|fashion-mnist|cifar10|folder`: gankit presets against the plain
PyTorch-examples DCGAN loop (`reference.py`), trained for the same CPU time in one process and
scored alike in two feature spaces, so a table says whether a preset beats what a user would write
in an afternoon.

The contestants train in turns, about `CHUNK_CPU_SECONDS` of process CPU time each, until each has
spent the next checkpoint's CPU minutes; then each is scored on `SAMPLES` samples against the
training images: FID, precision/recall and the class histogram, in the features of the project's
default network (`vgg`) and of a second network of another architecture and seed (`strided`).
The real-data floor is the test split against the training split (half against half where the
source has one split). A preset wins only where its FID is lower in both spaces. `folder` races
on the user's own image folder (`--data-dir`, read with the `data.*` options).
"""

from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import config as config_mod
from ..errors import ConfigError
from ..metrics.evaluate import PR_K

SOURCES = ("mnist", "fashion-mnist", "cifar10", "folder")
SAMPLES = 10_000
CHUNK_CPU_SECONDS = 20.0
#: the two feature spaces: (name, classifier architecture, seed)
SPACES = (("vgg", "vgg", 0), ("strided", "strided", 1))
REFERENCE = "reference DCGAN loop"
KEEP = (
    "fid",
    "precision",
    "recall",
    "classes_covered",
    "min_class_share",
    "class_counts",
    "label_agreement",  # conditional models: the share read as the class asked for
)


class Contestant:
    """One side of the race: `train(n)` trains n steps, `sample(latents_seed)` draws images;
    the CPU and wall time of training alone are counted."""

    def __init__(
        self,
        name: str,
        train: Callable[[int], Any],
        sample: Callable[[], torch.Tensor],
        close: Callable[[], None] = lambda: None,
        labels: torch.Tensor | None = None,
    ):
        self.name, self.train, self.sample, self.close = name, train, sample, close
        #: the classes a conditional model's samples were asked for (None: unconditional)
        self.labels = labels
        self.steps, self.cpu, self.wall = 0, 0.0, 0.0
        self.last_samples: torch.Tensor | None = None

    def advance(self, steps: int) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        self.train(steps)
        self.cpu += time.process_time() - cpu
        self.wall += time.perf_counter() - wall
        self.steps += steps

    def chunk_towards(self, cpu_target: float, chunk: float = CHUNK_CPU_SECONDS) -> int:
        """Steps of the next turn: about `chunk` CPU seconds, the last one landing on the
        target."""
        if self.steps == 0:
            return 10
        rate = self.steps / max(self.cpu, 1e-9)
        return max(1, round(rate * min(chunk, cpu_target - self.cpu)))


def _feature_networks(source: str, data, classes, paths, progress, data_cfg):
    """The two classifiers (given files, checked against the data, or the cached defaults)."""
    from ..metrics.classifier import check_trained_on, default_classifier, load_classifier

    if paths and len(paths) != len(SPACES):
        raise ConfigError(
            f"--classifier takes {len(SPACES)} feature networks, comma-separated "
            f"(a {SPACES[0][1]} and a {SPACES[1][1]} one), not {len(paths)}"
        )
    models = []
    for i, (name, arch, seed) in enumerate(SPACES):
        path = paths[i] if paths else None
        if not path:
            known, names = _labelled(data, classes, data_cfg)
            path = default_classifier(source, known, names, arch=arch, seed=seed, progress=progress)
        model = load_classifier(path)
        check_trained_on(model.trained_on, source, data, classes, f"feature network {path}")
        models.append((name, path, model))
    if paths and models[0][2].arch == models[1][2].arch:
        raise ConfigError(
            "the two feature networks have the same architecture: the second space must be "
            "another network (train one with `gankit train-classifier --arch strided`)"
        )
    return models


def _labelled(data, classes, data_cfg):
    """The images a default feature network learns from, and their class names: an unlabelled
    folder's labelled by its categories.json, as `gankit eval`'s default network is."""
    from ..data.subset import labelled
    from ..errors import DataError

    if data.y is not None:
        return data, classes
    try:
        return labelled(data, data_cfg)
    except DataError as e:
        raise DataError(f"{e}; or give --classifier VGG,STRIDED, two feature networks") from None


def _real_floor(source: str, data_dir: str, train_data, extract, seed: int):
    """Features of the training images and the real-data floor (test vs train, or half vs half
    where the source has only one split), in one space."""
    from ..data import load_dataset
    from ..errors import DataError
    from ..metrics.evaluate import compare_features

    real_feats, real_logits = extract(train_data.all())
    test = None
    if train_data.name.endswith("-train"):
        try:
            test = load_dataset(config_mod.DataConfig(source=source, dir=data_dir, split="test"))
        except DataError:
            pass
    radii = None
    if test is not None:
        from ..metrics.distribution import knn_radii, precision_recall

        test_feats, test_logits = extract(test.all())
        floor = compare_features(real_feats, test_feats, test_logits, ["fid", "classes"])
        radii = knn_radii(real_feats, PR_K)  # kept: every model's precision/recall reuses them
        floor["precision"], floor["recall"] = precision_recall(
            real_feats, test_feats, PR_K, real_radii=radii
        )
        how = "test split vs training split"
    else:
        order = torch.randperm(len(real_feats), generator=torch.Generator().manual_seed(seed))
        a, b = order[: len(order) // 2], order[len(order) // 2 :]
        floor = compare_features(
            real_feats[a], real_feats[b], real_logits[b], ["fid", "pr", "classes"]
        )
        how = "half vs half of the one split"
    return real_feats, radii, {"method": f"real data ({how})", **_kept(floor)}


def _kept(scores: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items() if k in KEEP}


def _preset_contestant(preset, cfg, run_dir: Path, data, seed: int, n: int) -> Contestant:
    from ..train import Trainer

    trainer = Trainer(cfg, run_dir, progress=False, data=data, echo=lambda line: None)
    latents = trainer.recipe.latents(n, torch.Generator().manual_seed(seed + 3))
    return Contestant(
        f"gankit {preset}",
        trainer.train_steps,
        lambda: trainer.sample(latents),  # a conditional model cycles its classes
        trainer.close,
        labels=trainer.recipe.labels(n),
    )


def _reference_contestant(data, seed: int, device: torch.device, n: int) -> Contestant:
    from .reference import Z_DIM, reference_loop, reference_samples

    ref, run = reference_loop(data.x, seed, device)
    latents = torch.randn(n, Z_DIM, generator=torch.Generator().manual_seed(seed + 3))
    return Contestant(REFERENCE, run, lambda: reference_samples(ref.G, latents, device))


def chunked_run(seed: int, device: str) -> dict[str, Any]:
    """The train options of a run an experiment drives chunk by chunk (`Trainer.train_steps`):
    no grids or checkpoints between the chunks, only the last one kept."""
    return {
        "steps": 1,
        "minutes": None,
        "seed": seed,
        "sample_every": 10**9,
        "checkpoint_every": 10**9,
        "keep_checkpoints": 1,
        "device": device,
    }


def _configs(source, presets, data_dir, seed, device, overrides):
    """Each entrant's checked config, by its label: every option fails before a network trains.
    An entrant is a preset's name, or (label, preset, its own overrides) for a variant of one."""
    if not presets:
        raise ConfigError(f"the {source} bench needs --preset (a comma list races several)")
    configs = {}
    for entry in presets:
        label, preset, own = (entry, entry, []) if isinstance(entry, str) else entry
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", label):
            raise ConfigError("an entrant's label names its run folder: letters, digits, _ . -")
        if label in configs:
            raise ConfigError(f"two entrants of the {source} bench are called '{label}'")
        cfg = config_mod.build(
            preset,
            overrides=[*overrides, *own],
            data={"source": source, "dir": data_dir},
            train=chunked_run(seed, device),
        )
        if cfg.model.arch == "mlp" or cfg.recipe != "gan":
            raise ConfigError(
                f"the {source} bench races image GANs against the DCGAN loop; preset '{preset}' "
                f"is a {cfg.model.arch if cfg.recipe == 'gan' else cfg.recipe} model"
            )
        configs[label] = cfg
    return configs


def _own_overrides(entry) -> list[str]:
    return [] if isinstance(entry, str) else list(entry[2])


def _checkpoints(cpu_minutes, steps) -> tuple[str, list[float]]:
    if steps is not None:
        if steps < 1:
            raise ConfigError("--steps must be at least 1")
        return "steps", [steps]
    marks = sorted(cpu_minutes or ())
    if not marks or not all(0 < m < math.inf for m in marks):
        raise ConfigError("--cpu-minutes takes positive finite numbers, e.g. 5,10")
    return "cpu_minutes", marks


def run_quality(
    source: str,
    presets: list[str | tuple[str, str, list[str]]],
    out: str | Path,
    *,
    data_dir: str | None,
    cpu_minutes: list[float] | None = (5.0, 10.0),
    steps: int | None = None,
    seed: int = 0,
    classifiers: list[str] | None = None,
    overrides: list[str] | None = None,
    device: str = "cpu",
    progress: bool | None = False,
    log: Callable[[str], None] | None = None,
    samples: int = SAMPLES,
    jobs: int = 1,
) -> dict[str, Any]:
    """Race `presets` (names, or (label, preset, overrides) variants) and the reference DCGAN loop
    on `source` to each CPU-minute mark (or `steps` each) and score `samples` of each there in
    both feature spaces; everything runs on the presets' `train.threads`. `jobs` > 1 splits the
    models among that many processes, each racing and scoring its share (CPU time is counted per
    process, so the figures do not change)."""
    unit, marks = _checkpoints(cpu_minutes, steps)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs must be a whole number of at least 1, got {jobs!r}")
    out = Path(out)
    configs, data, classes, spaces = _prepare(
        source, presets, out, data_dir, seed, device, overrides, classifiers, progress, samples
    )
    echo = log is not None  # the worker processes print their lines to stderr
    log = log or (lambda line: None)
    wall = time.perf_counter()
    race = _Race(seed, device, unit, marks, samples, out)
    entrants = [*configs, REFERENCE]  # preset names, then the loop
    groups = [entrants[i::jobs] for i in range(min(jobs, len(entrants)))]
    # each process its own share of the threads, unless train.threads names a number
    threads = next(iter(configs.values())).train.threads
    threads = threads or max(1, torch.get_num_threads() // len(groups))
    if len(groups) == 1:
        rows = race.run({**configs, REFERENCE: None}, data, spaces, log)
    else:
        rows = _race_in_processes(race, groups, configs, threads, spaces, echo)
    order = [f"gankit {p}" for p in configs] + [REFERENCE]
    rows.sort(key=lambda r: (marks.index(r["at"]), order.index(r["method"])))
    return {
        "protocol": source,
        "presets": list(configs),
        "overrides": {
            label: _own_overrides(entry) for label, entry in zip(configs, presets, strict=True)
        },
        "seed": seed,
        "unit": unit,
        "marks": marks,
        "samples": samples,
        "classes": classes,
        "spaces": {
            k: {x: v[x] for x in ("network", "accuracy", "warning", "floor")}
            for k, v in spaces.items()
        },
        "rows": rows,
        "verdicts": verdicts(rows, marks),
        "wall_minutes": round((time.perf_counter() - wall) / 60, 2),
        "threads": torch.get_num_threads() if len(groups) == 1 else threads,
        "jobs": len(groups),
    }


@dataclass(frozen=True)
class _Race:
    """What every group of contestants shares: the seed, the marks and where grids go."""

    seed: int
    device: str
    unit: str
    marks: list[float]
    samples: int
    out: Path

    def run(self, configs, data, spaces, log) -> list[dict[str, Any]]:
        """Race the presets of `configs` (name: config; REFERENCE: None, the reference loop) to
        each mark; score each there and save its grid."""
        from ..export import save_png
        from ..metrics.evaluate import compare_features
        from ..train.distributed import resolve_device

        contestants = [
            _preset_contestant(
                p, cfg, self.out / f"{p}-seed{self.seed}", data, self.seed, self.samples
            )
            for p, cfg in configs.items()
            if cfg is not None
        ]
        if REFERENCE in configs:
            device = resolve_device(self.device)
            contestants.append(_reference_contestant(data, self.seed, device, self.samples))
        rows = []
        unit = self.unit.replace("_", "-")
        try:
            for mark in self.marks:
                race_to(contestants, self.unit, mark, log)
                for c in contestants:
                    rows.append(_score(c, mark, self.unit, spaces, compare_features, self.seed))
                    grid = self.out / "grids" / f"{_slug(c.name)}-at-{mark:g}-{unit}.png"
                    save_png(c.last_samples[:64], grid, nrow=8)
                    rows[-1]["grid"] = str(grid)
                    log(_row_line(rows[-1]))
        finally:
            for c in contestants:
                c.close()
        return rows


def _race_in_processes(
    race: _Race, groups, configs, threads, spaces, echo: bool
) -> list[dict[str, Any]]:
    """Each group in a process of its own (spawned: a clean torch runtime); the real features
    and k-NN radii travel with it, the feature networks are read again from their files. With
    `echo`, the processes print their progress lines to stderr as they go."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..metrics.distribution import knn_radii

    shared = {}
    for name, space in spaces.items():
        if space["radii"] is None:
            space["radii"] = knn_radii(space["real"], PR_K)
        shared[name] = {k: space[k] for k in ("network", "real", "radii")}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(groups), mp_context=context) as pool:
        futures = [
            pool.submit(
                _race_group,
                race,
                {p: (configs[p].to_dict() if p != REFERENCE else None) for p in group},
                next(iter(configs.values())).data,
                shared,
                threads,
                echo,
            )
            for group in groups
        ]
        return [row for future in futures for row in future.result()]


def _race_group(race: _Race, group: dict, data_cfg, shared: dict, threads: int, echo: bool):
    """A worker process's share of the race: its data, feature spaces and contestants, rebuilt
    from picklable parts. Returns its rows."""
    from ..data import load_dataset
    from ..metrics.classifier import load_classifier
    from ..metrics.extractors import classifier_extractor
    from ..train.runtime import set_threads

    set_threads(threads)
    configs = {p: (config_mod.from_dict(d) if d is not None else None) for p, d in group.items()}
    data = load_dataset(data_cfg)
    spaces = {
        name: {**s, "extract": classifier_extractor(load_classifier(s["network"]))}
        for name, s in shared.items()
    }

    def log(line: str) -> None:
        if echo:
            print(line, file=sys.stderr, flush=True)

    return race.run(configs, data, spaces, log)


def _prepare(
    source, presets, out, data_dir, seed, device, overrides, classifiers, progress, samples
):
    """Checked configs (before anything is written), the data, and each feature space: its
    extractor, the training images' features, the real-data floor and the network's accuracy."""
    from ..data import load_dataset
    from ..metrics.classifier import accuracy_warning, class_names
    from ..metrics.extractors import classifier_extractor
    from ..train.runtime import set_threads

    if source not in SOURCES:
        raise ConfigError(f"unknown image benchmark '{source}' (choose from: {', '.join(SOURCES)})")
    if not data_dir:
        raise ConfigError(f"the {source} benchmark needs --data-dir, the folder of its files")
    if samples < 2:
        raise ConfigError(f"--samples must be at least 2, got {samples}")
    configs = _configs(source, presets, data_dir, seed, device, list(overrides or []))
    for preset in configs:  # before the feature networks and the real features cost minutes
        if (Path(out) / f"{preset}-seed{seed}").exists():
            raise ConfigError(
                f"{Path(out) / f'{preset}-seed{seed}'} already holds a run: choose another --out "
                "(or remove it)"
            )
    set_threads(next(iter(configs.values())).train.threads)
    Path(out).mkdir(parents=True, exist_ok=True)
    data_cfg = next(iter(configs.values())).data
    data = load_dataset(data_cfg)
    classes = class_names(source, data, data_dir)
    spaces = {}
    networks = _feature_networks(source, data, classes, classifiers, progress, data_cfg)
    for name, path, model in networks:
        extract = classifier_extractor(model)
        real, radii, floor = _real_floor(source, data_dir, data, extract, seed)
        spaces[name] = {
            "extract": extract,
            "real": real,
            "radii": radii,  # the real set's k-NN radii (None: computed at first use)
            "floor": floor,
            "network": str(path),
            "accuracy": model.trained_on.accuracy,
            "warning": accuracy_warning(model.trained_on),
        }
    return configs, data, classes, spaces


def _slug(name: str) -> str:
    return name.replace("gankit ", "").replace(" ", "-").lower()


def race_to(contestants: list[Contestant], unit: str, mark: float, log) -> None:
    """Turns of about CHUNK_CPU_SECONDS each, in rotation (a busy machine slows all alike), until
    every contestant has spent `mark` CPU minutes (or trained `mark` steps)."""
    if unit == "steps":
        for c in contestants:
            c.advance(int(mark) - c.steps)
        return
    target = 60 * mark
    while any(c.cpu < target for c in contestants):
        for c in contestants:
            if c.cpu < target:
                c.advance(c.chunk_towards(target))
        log("  ".join(f"{c.name}: {c.steps} steps, {c.cpu / 60:.2f} CPU min" for c in contestants))


def _score(c: Contestant, mark, unit, spaces, compare_features, seed) -> dict[str, Any]:
    images = c.sample()
    c.last_samples = images
    row: dict[str, Any] = {
        "method": c.name,
        "at": mark,
        "steps": c.steps,
        "cpu_minutes": round(c.cpu / 60, 4),
        "wall_minutes": round(c.wall / 60, 4),
    }
    from ..metrics.distribution import knn_radii, precision_recall

    for name, space in spaces.items():
        feats, logits = space["extract"](images)
        metrics = ["fid", "classes"] + (["labels"] if c.labels is not None else [])
        scores = compare_features(space["real"], feats, logits, metrics, seed, c.labels)
        if space.get("radii") is None:  # the real set's k-NN radii: once per space, not per model
            space["radii"] = knn_radii(space["real"], PR_K)
        scores["precision"], scores["recall"] = precision_recall(
            space["real"], feats, PR_K, real_radii=space["radii"]
        )
        row[name] = _kept(scores)
    return row


def verdicts(rows: list[dict[str, Any]], marks: list[float]) -> list[dict[str, Any]]:
    """At each mark, for each preset: whether its FID is below the reference loop's in every
    feature space (winning in one space and losing in the other is not winning)."""
    out = []
    for mark in marks:
        here = [r for r in rows if r["at"] == mark]
        ref = next(r for r in here if r["method"] == REFERENCE)
        for r in here:
            if r["method"] == REFERENCE:
                continue
            lower = {name: r[name]["fid"] < ref[name]["fid"] for name, _, _ in SPACES}
            out.append(
                {
                    "at": mark,
                    "method": r["method"],
                    "fid_lower": lower,
                    "beats_reference": all(lower.values()),
                }
            )
    return out


def _row_line(row: dict[str, Any]) -> str:
    fids = ", ".join(f"FID {row[name]['fid']:.2f} ({name})" for name, _, _ in SPACES)
    return f"{row['method']} at {row['at']:g}: {row['steps']} steps, {fids}"


def format_quality(result: dict[str, Any]) -> str:
    """One table per mark: FID, precision and recall in both spaces, classes, and the verdicts."""
    unit = "CPU min" if result["unit"] == "cpu_minutes" else "steps"
    names = [name for name, _, _ in SPACES]
    head = f"{'':<34} {'steps':>7} {'CPU min':>7}"
    for name in names:
        head += f" | {name + ' FID':>11} {'prec':>5} {'rec':>5} {'cls':>3} {'min%':>5}"
    lines = [
        f"{result['protocol']}: {result['samples']:,} samples per model against the training "
        f"images, FID in two feature spaces ({result['threads']} threads)"
    ]
    for name, space in result["spaces"].items():
        note = f"  WARNING: {space['warning']}" if space["warning"] else ""
        lines.append(
            f"  {name}: {space['network']} (held-out accuracy {space['accuracy']:.3f}){note}"
        )
    for mark in result["marks"]:
        lines += ["", f"at {mark:g} {unit}", head]
        floor = {n: result["spaces"][n]["floor"] for n in names}
        rows = [r for r in result["rows"] if r["at"] == mark]
        for r in rows:
            lines.append(_table_line(r["method"], r["steps"], r["cpu_minutes"], r, names))
        lines.append(_table_line(next(iter(floor.values()))["method"], None, None, floor, names))
        for v in result["verdicts"]:
            if v["at"] == mark:
                said = "beats" if v["beats_reference"] else "does not beat"
                spaces = ", ".join(
                    f"{n} {'lower' if low else 'higher'}" for n, low in v["fid_lower"].items()
                )
                lines.append(f"{v['method']} {said} the reference loop (FID {spaces})")
    return "\n".join(lines)


def _table_line(method, steps, cpu, scores, names) -> str:
    cpu = "" if cpu is None else f"{cpu:.2f}"
    line = f"{method[:34]:<34} {'' if steps is None else steps:>7} {cpu:>7}"
    for name in names:
        s = scores[name]
        line += (
            f" | {s['fid']:>11.2f} {s['precision']:>5.2f} {s['recall']:>5.2f} "
            f"{s['classes_covered']:>3} {100 * s['min_class_share']:>5.1f}"
        )
    return line


TTQ_SAMPLES = 2000


def run_time_to_quality(
    preset: str,
    out: str | Path,
    *,
    data_dir: str | None,
    source: str = "mnist",
    cpu_minutes: float = 4.0,
    eval_cpu_seconds: float = 15.0,
    seed: int = 0,
    classifiers: list[str] | None = None,
    overrides: list[str] | None = None,
    device: str = "cpu",
    progress: bool | None = False,
    log: Callable[[str], None] | None = None,
    samples: int = TTQ_SAMPLES,
) -> dict[str, Any]:
    """CPU minutes `preset` needs to reach the quality the reference DCGAN loop reaches in
    `cpu_minutes`, in each feature space: the loop trains its budget first (FID of `samples`
    samples every `eval_cpu_seconds` of CPU time, evaluation not counted), its best FID in each
    space is the target, then the preset trains until it has reached both targets or spent the
    same budget. The speed-up of a space is the loop's minutes to its best over the preset's."""
    from ..train.distributed import resolve_device

    if not all(0 < v < math.inf for v in (cpu_minutes, eval_cpu_seconds)):  # NaN fails too
        raise ConfigError("--cpu-minutes and --eval-seconds must be positive finite numbers")
    out = Path(out)
    configs, data, _, spaces = _prepare(
        source, [preset], out, data_dir, seed, device, overrides, classifiers, progress, samples
    )
    log = log or (lambda line: None)
    budget = 60 * cpu_minutes
    reference = _reference_contestant(data, seed, resolve_device(device), samples)
    ref_curve = _train_and_track(reference, budget, eval_cpu_seconds, spaces, None, log)
    targets = {name: min(point["fid"][name] for point in ref_curve) for name in spaces}
    gankit = _preset_contestant(
        preset, configs[preset], out / f"{preset}-seed{seed}", data, seed, samples
    )
    try:
        curve = _train_and_track(gankit, budget, eval_cpu_seconds, spaces, targets, log)
    finally:
        gankit.close()
    rows = []
    for name in spaces:
        ref_minutes = _first_reaching(ref_curve, name, targets[name])
        ours = _first_reaching(curve, name, targets[name])
        rows.append(
            {
                "space": name,
                "target_fid": round(targets[name], 3),
                "reference_minutes": ref_minutes,
                "gankit_minutes": ours,
                "speedup": round(ref_minutes / ours, 2) if ours else None,
                "gankit_best_fid": round(min(p["fid"][name] for p in curve), 3),
            }
        )
    return {
        "protocol": "time-to-quality",
        "source": source,
        "preset": preset,
        "seed": seed,
        "budget_cpu_minutes": cpu_minutes,
        "samples": samples,
        "threads": torch.get_num_threads(),
        "spaces": {
            k: {x: v[x] for x in ("network", "accuracy", "warning")} for k, v in spaces.items()
        },
        "rows": rows,
        "curves": {"reference": ref_curve, "gankit": curve},
        "steps": {"reference": reference.steps, "gankit": gankit.steps},
    }


def _train_and_track(c: Contestant, budget, every, spaces, targets, log) -> list[dict[str, Any]]:
    """Train `c` in turns of `every` CPU seconds up to `budget`, scoring FID after each; stop
    early once every space's FID is at or below its target (when targets are given)."""
    from ..metrics.distribution import fid

    curve: list[dict[str, Any]] = []
    while c.cpu < budget:
        c.advance(c.chunk_towards(budget, every))
        images = c.sample()
        scores = {name: fid(sp["real"], sp["extract"](images)[0]) for name, sp in spaces.items()}
        curve.append(
            {
                "cpu_minutes": round(c.cpu / 60, 3),
                "steps": c.steps,
                "fid": {k: round(v, 3) for k, v in scores.items()},
            }
        )
        log(
            f"{c.name}: {c.cpu / 60:.2f} CPU min, {c.steps} steps, "
            + ", ".join(f"FID {v:.2f} ({k})" for k, v in scores.items())
        )
        reached = targets and all(curve[-1]["fid"][k] <= t for k, t in targets.items())
        if reached:
            break
    return curve


def _first_reaching(curve: list[dict[str, Any]], space: str, target: float) -> float | None:
    return next((p["cpu_minutes"] for p in curve if p["fid"][space] <= target), None)


def format_time_to_quality(result: dict[str, Any]) -> str:
    lines = [
        f"time to the reference DCGAN loop's best FID in {result['budget_cpu_minutes']:g} CPU "
        f"minutes, gankit {result['preset']} on {result['source']} ({result['samples']:,} "
        f"samples per evaluation, {result['threads']} threads, seed {result['seed']})",
        f"{'space':<9} {'target FID':>10} {'loop min':>9} {'gankit min':>11} {'speed-up':>9}",
    ]
    for r in result["rows"]:
        ours = f"{r['gankit_minutes']:.2f}" if r["gankit_minutes"] is not None else "not reached"
        speedup = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        lines.append(
            f"{r['space']:<9} {r['target_fid']:>10.2f} {r['reference_minutes']:>9.2f} "
            f"{ours:>11} {speedup:>9}"
        )
    return "\n".join(lines)
