"""The project's own classifiers: trained here on any labelled image source, saved as safetensors
with what they were trained on, and used as the feature extractor for FID and to count classes
and modes of generated samples.

A source's training split cannot always be had, so a deterministic split of whatever set is
given is used: the last `holdout` share of the samples is held out, or the last share of each
class when the tail would miss classes (a folder read class by class).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import tensorfile
from ..data import Dataset, to_float
from ..errors import CheckpointError, ConfigError, DataError
from ..nets.classifier import ImageClassifier
from ..progress import bar as progress_bar

FORMAT = "gankit-classifier"
#: below this held-out accuracy a classifier's figures are printed with a warning
LOW_ACCURACY = 0.8
#: sources whose images are the same ten handwritten digits (a Stacked MNIST channel is one)
DIGIT_SOURCES = ("digits", "mnist", "stacked-mnist")
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


@dataclass
class ClassifierReport:
    train_size: int
    holdout_size: int
    holdout_accuracy: float
    epochs: int
    split: str = "tail"  # tail: the last share of the set; per-class: the last share of each class
    flip: bool = False  # horizontal flips in training (besides the shifts)


@dataclass(frozen=True)
class TrainedOn:
    """What a classifier file says it was trained on. A file written before classifiers recorded
    their shape has `shape` None: a digit classifier that reads any size, resized to 28x28."""

    source: str
    shape: tuple[int, int, int] | None
    classes: tuple[str, ...]
    accuracy: float | None = None
    data: str = ""

    def describe(self) -> str:
        shape = "x".join(map(str, self.shape)) if self.shape else "any size"
        return f"{self.source} ({shape}, {class_list(self.classes)})"


def class_list(classes: tuple[str, ...] | list[str]) -> str:
    shown = ", ".join(classes[:4]) + (", ..." if len(classes) > 4 else "")
    return f"{len(classes)} classes: {shown}" if classes else "no classes"


def source_of(data_name: str) -> str:
    """The source a data set's name comes from (`mnist-test` -> mnist, `folder:pets` -> folder)."""
    if data_name.startswith("folder:"):
        return "folder"
    for source in ("fashion-mnist", "stacked-mnist", "mnist", "cifar10", "digits"):
        if data_name == source or data_name.startswith((f"{source}-", f"{source} ")):
            return source
    return data_name


def class_names(source: str, data: Dataset, folder: str | None = None) -> list[str]:
    """The names of `data`'s classes: the digits, Fashion-MNIST's and CIFAR-10's names, or a
    labelled folder's class sub-folders (sorted, as the folder source numbers them)."""
    if data.y is None:
        return []
    if source == "fashion-mnist":
        return list(FASHION_CLASSES)
    if source == "cifar10":
        from ..data.cifar10 import CLASSES

        return list(CLASSES)
    if source == "folder" and folder:
        from ..data.folder import scan

        return sorted({relative.rpartition("/")[0] or "." for relative, _, _ in scan(Path(folder))})
    return [str(c) for c in range(data.num_classes)]


def split(n: int, holdout: float) -> tuple[slice, slice]:
    cut = n - int(round(n * holdout))
    return slice(0, cut), slice(cut, n)


def split_indices(y: torch.Tensor, holdout: float) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(training, held-out) indices and the split's name: the tail of the set, unless the tail
    lacks classes the rest has; then the last `holdout` share of each class."""
    train, test = split(len(y), holdout)
    if set(y[test].tolist()) >= set(y[train].tolist()):
        return torch.arange(train.start, train.stop), torch.arange(test.start, test.stop), "tail"
    parts = [(y == c).nonzero().flatten() for c in y.unique()]
    cuts = [split(len(p), holdout) for p in parts]
    return (
        torch.cat([p[a] for p, (a, _) in zip(parts, cuts, strict=True)]),
        torch.cat([p[b] for p, (_, b) in zip(parts, cuts, strict=True)]),
        "per-class",
    )


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels (zero-padded, i.e. background -1)."""
    n, _, h, w = x.shape
    padded = F.pad(x, [max_shift] * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    rows = (
        (dy.view(n, 1) + torch.arange(h))
        .view(n, 1, h, 1)
        .expand(n, x.shape[1], h, w + 2 * max_shift)
    )
    cols = (dx.view(n, 1) + torch.arange(w)).view(n, 1, 1, w).expand(n, x.shape[1], h, w)
    return padded.gather(2, rows).gather(3, cols)


def augment(x: torch.Tensor, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Small shifts (1/14 of the width: 2 px on 28 px digits; 1/8 with flips: CIFAR-10's 4 px)
    and, for natural images, a random half mirrored left to right."""
    shifted = random_shift(x, max(1, x.shape[-1] // (8 if flip else 14)), gen)
    if not flip:
        return shifted
    mirrored = torch.rand(len(x), generator=gen) < 0.5
    return torch.where(mirrored.view(-1, 1, 1, 1), shifted.flip(-1), shifted)


@torch.no_grad()
def accuracy(model: ImageClassifier, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    """Share of `x` (uint8, or [-1, 1] floats) the model reads as `y`."""
    model.eval()
    correct = sum(
        int((model(to_float(x[i : i + batch])).argmax(1) == y[i : i + batch]).sum())
        for i in range(0, len(x), batch)
    )
    return correct / len(x)


def train_classifier(
    data: Dataset,
    epochs: int = 8,
    holdout: float = 0.2,
    seed: int = 0,
    batch_size: int = 128,
    lr: float = 2e-3,
    log=None,
    flip: bool | None = None,
    progress: bool | None = False,
    arch: str = "vgg",
) -> tuple[ImageClassifier, ClassifierReport]:
    """A classifier sized to `data`'s images, trained with shifts (and, with `flip`, default: for
    colour images, horizontal flips) on the training split; `progress` None shows a bar on a
    terminal."""
    if data.y is None or not data.is_image:
        raise DataError(f"'{data.name}' has no class labels to train a classifier on")
    train_idx, test_idx, split_name = split_indices(data.y, holdout)
    n_train, n_test = len(train_idx), len(test_idx)
    if n_train < batch_size or n_test < 1:
        raise DataError(
            f"holdout {holdout} leaves {n_train} training and {n_test} held-out images of "
            f"{len(data)}: need at least one batch ({batch_size}) and one held-out image"
        )
    channels, resolution = data.sample_shape[0], data.sample_shape[-1]
    flip = channels >= 3 if flip is None else flip
    x, y, x_test, y_test = data.x[train_idx], data.y[train_idx], data.x[test_idx], data.y[test_idx]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ImageClassifier(channels, data.num_classes, resolution=resolution, arch=arch)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(x) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch
    )
    bar = progress_bar(epochs * steps_per_epoch, "feature network", "step", progress)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            batch = augment(to_float(x[idx]), flip, gen)
            loss = F.cross_entropy(model(batch), y[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
        if log:
            held_out = accuracy(model, x_test, y_test)
            log(f"epoch {epoch + 1}/{epochs}: held-out accuracy {held_out:.4f}")
    bar.close()
    held_out = accuracy(model, x_test, y_test)
    return model.eval(), ClassifierReport(n_train, n_test, held_out, epochs, split_name, flip)


def save_classifier(
    model: ImageClassifier,
    report: ClassifierReport,
    path: str | Path,
    data_name: str,
    *,
    source: str | None = None,
    classes: list[str] | None = None,
) -> Path:
    """Write the weights and what they were trained on: the source (default: from `data_name`),
    the input shape, the class names (default 0..K-1) and the held-out accuracy."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    num_classes = model.head.out_features
    classes = [str(c) for c in range(num_classes)] if classes is None else list(classes)
    if len(classes) != num_classes:
        raise ConfigError(f"{len(classes)} class names for a classifier of {num_classes} classes")
    resolution = model.resolution or model.input_size
    meta = {
        "format": FORMAT,
        "channels": str(model.channels),
        "num_classes": str(num_classes),
        "data": data_name,
        "report": json.dumps(report.__dict__),
        "source": source or source_of(data_name),
        "shape": f"{model.channels}x{resolution}x{resolution}",
        "classes": json.dumps(classes),
        "holdout_accuracy": f"{report.holdout_accuracy:.6f}",
        "arch": model.arch,
    }
    tensorfile.write(path, {k: v.contiguous() for k, v in model.state_dict().items()}, meta)
    return path


def trained_on(meta: dict[str, str]) -> TrainedOn:
    """What a file's metadata says; a file without `shape` is a digit classifier of any size."""
    num_classes = int(meta["num_classes"])
    if "shape" not in meta:
        report = json.loads(meta.get("report") or "{}")
        return TrainedOn(
            source=source_of(meta.get("data") or "digits"),
            shape=None,
            classes=tuple(str(c) for c in range(num_classes)),
            accuracy=report.get("holdout_accuracy"),
            data=meta.get("data", ""),
        )
    c, h, w = (int(v) for v in meta["shape"].split("x"))
    classes = tuple(json.loads(meta["classes"]))
    if len(classes) != num_classes or not all(isinstance(n, str) for n in classes):
        raise ValueError("class names do not match the classes")
    return TrainedOn(
        meta["source"], (c, h, w), classes, float(meta["holdout_accuracy"]), meta.get("data", "")
    )


def load_classifier(path: str | Path) -> ImageClassifier:
    """The classifier in `path`, in eval mode, with `trained_on` (a `TrainedOn`) set."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        meta = tensorfile.read_metadata(raw)
        if meta.get("format") != FORMAT:
            raise ValueError("not a classifier")
        info = trained_on(meta)
        model = ImageClassifier(
            channels=int(meta["channels"]),
            num_classes=int(meta["num_classes"]),
            resolution=info.shape[-1] if info.shape else None,
            arch=meta.get("arch", "vgg"),
        )
        model.load_state_dict(tensorfile.read_tensors(raw))
    except OSError as e:
        raise CheckpointError(f"cannot read classifier {path}: {e.strerror}") from None
    except Exception as e:  # anything else: not ours, or damaged
        raise CheckpointError(
            f"{path} is not a gankit classifier or is truncated ({type(e).__name__})"
        ) from None
    model.trained_on = info
    return model.eval().requires_grad_(False)


def family(source: str) -> str:
    return "digits" if source in DIGIT_SOURCES else source


def check_trained_on(
    info: TrainedOn, source: str, data: Dataset, classes: list[str], name: str
) -> None:
    """Refuse, in one line, a classifier (`name`) trained on other images than `data` (of
    `source`, with `classes`): another domain, other classes, or another input shape. A Stacked
    MNIST image is read by a digit classifier one channel at a time."""
    shape = tuple(data.sample_shape)
    wanted = f"this {source} data ({'x'.join(map(str, shape))}, {class_list(classes)})"
    hint = f"train one with `gankit train-classifier --data {source}`, or leave the features out"
    if family(info.source) != family(source):
        raise ConfigError(f"{name} was trained on {info.describe()}, not {wanted}: {hint}")
    stacked = source == "stacked-mnist" and (info.shape is None or info.shape[0] == 1)
    if source not in DIGIT_SOURCES and classes and tuple(classes) != info.classes:
        raise ConfigError(f"{name} was trained on {info.describe()}, not {wanted}: {hint}")
    channels_differ = info.shape is not None and info.shape[0] != shape[0]
    if (channels_differ and not stacked) or (
        info.shape is not None and info.shape[1:] != shape[1:]
    ):
        raise ConfigError(
            f"{name} reads {info.describe()} images, not {wanted}: "
            f"its input shape does not match; {hint}"
        )


def check_features(info: TrainedOn | None, data_cfg, data: Dataset, name: str) -> str | None:
    """`check_trained_on` for `data` read with the options `data_cfg` (a `DataConfig`); the
    low-accuracy warning, if any. Feature modules without a `TrainedOn` are not checked."""
    if info is None:
        return None
    classes = class_names(data_cfg.source, data, data_cfg.dir)
    check_trained_on(info, data_cfg.source, data, classes, name)
    return accuracy_warning(info)


def accuracy_warning(info: TrainedOn | None) -> str | None:
    """The warning that goes beside every figure of a classifier with a low held-out accuracy."""
    if info is None or info.accuracy is None or info.accuracy >= LOW_ACCURACY:
        return None
    return (
        f"feature network's held-out accuracy {info.accuracy:.2f} is below {LOW_ACCURACY}: "
        "its figures are unreliable"
    )


def data_identity(source: str, data: Dataset) -> str:
    """A data set's identity for the default feature network's file: its source, shape and a
    hash of its images and labels."""
    h = hashlib.sha256(data.x.contiguous().numpy().tobytes())
    if data.y is not None:
        h.update(data.y.contiguous().numpy().tobytes())
    shape = "x".join(map(str, data.sample_shape))
    return f"{source}-{shape}-{h.hexdigest()[:16]}"


#: epochs of a default feature network: grey images, then colour ones, whose networks need
#: longer to pass LOW_ACCURACY (docs/results/feature_networks.md)
GREY_EPOCHS, COLOUR_EPOCHS = 8, 15


def default_epochs(data: Dataset) -> int:
    """The epochs a default feature network of `data` trains for."""
    return GREY_EPOCHS if data.sample_shape[0] == 1 else COLOUR_EPOCHS


def default_classifier(
    source: str,
    data: Dataset,
    classes: list[str],
    epochs: int | None = None,
    folder: Path | None = None,
    progress: bool | None = None,
    arch: str = "vgg",
    seed: int = 0,
) -> Path:
    """The default feature network of `data`: the cached file for its identity (and `epochs`,
    `arch`, `seed`), trained once (a line on stderr says so, a bar shows the progress) when there
    is none."""
    from ..data.cache import cache_root

    epochs = epochs or default_epochs(data)
    folder = folder or cache_root() / "classifiers"
    variant = "" if (arch, seed) == ("vgg", 0) else f"-{arch}-s{seed}"
    path = folder / f"{data_identity(source, data)}-e{epochs}{variant}.safetensors"
    if path.is_file():
        try:
            load_classifier(path)
            return path
        except CheckpointError:  # a damaged entry is trained again, never trusted
            pass
    print(
        f"gankit: training the feature network for {data.name} "
        f"({'x'.join(map(str, data.sample_shape))}, {'' if arch == 'vgg' else arch + ', '}"
        f"{epochs} epoch{'s' * (epochs != 1)}) once; "
        f"kept in {path}",
        file=sys.stderr,
    )
    model, report = train_classifier(data, epochs=epochs, seed=seed, progress=progress, arch=arch)
    return save_classifier(model, report, path, data.name, source=source, classes=classes)


@torch.no_grad()
def predict(
    model: ImageClassifier, images: torch.Tensor, batch: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features) for [-1, 1] images, in batches."""
    logits, feats = [], []
    for i in range(0, len(images), batch):
        f = model.features(images[i : i + batch].float())
        feats.append(f)
        logits.append(model.head(f))
    return torch.cat(logits), torch.cat(feats)
