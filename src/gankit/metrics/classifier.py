"""The project's own digit classifier: trained here, saved as safetensors, used as the feature
extractor for FID on digit data and to count classes and modes of generated samples.

MNIST's training split cannot always be had, so a deterministic split of whatever set is given
is used: the first `1 - holdout` share of the samples trains, the rest is held out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import tensorfile
from ..data import Dataset
from ..errors import CheckpointError, DataError
from ..nets import DigitClassifier

FORMAT = "gankit-classifier"


@dataclass
class ClassifierReport:
    train_size: int
    holdout_size: int
    holdout_accuracy: float
    epochs: int


def split(n: int, holdout: float) -> tuple[slice, slice]:
    cut = n - int(round(n * holdout))
    return slice(0, cut), slice(cut, n)


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


@torch.no_grad()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    model.eval()
    correct = sum(
        int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
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
) -> tuple[DigitClassifier, ClassifierReport]:
    if data.y is None or not data.is_image:
        raise DataError(f"'{data.name}' has no class labels to train a classifier on")
    train_idx, test_idx = split(len(data), holdout)
    n_train, n_test = train_idx.stop - train_idx.start, test_idx.stop - test_idx.start
    if n_train < batch_size or n_test < 1:
        raise DataError(
            f"holdout {holdout} leaves {n_train} training and {n_test} held-out images of "
            f"{len(data)}: need at least one batch ({batch_size}) and one held-out image"
        )
    x_all = data.all()
    x, y, x_test, y_test = x_all[train_idx], data.y[train_idx], x_all[test_idx], data.y[test_idx]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DigitClassifier(channels=data.sample_shape[0], num_classes=data.num_classes)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = len(x) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=lr, total_steps=epochs * steps_per_epoch
    )
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * batch_size : (i + 1) * batch_size]
            shift = max(1, x.shape[-1] // 14)
            loss = F.cross_entropy(
                model(random_shift(x[idx], shift, gen)), y[idx], label_smoothing=0.05
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if log:
            held_out = accuracy(model, x_test, y_test)
            log(f"epoch {epoch + 1}/{epochs}: held-out accuracy {held_out:.4f}")
    report = ClassifierReport(len(x), len(x_test), accuracy(model, x_test, y_test), epochs)
    return model.eval(), report


def save_classifier(
    model: DigitClassifier, report: ClassifierReport, path: str | Path, data_name: str
) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT,
        "channels": str(model.channels),
        "num_classes": str(model.head.out_features),
        "data": data_name,
        "report": json.dumps(report.__dict__),
    }
    tensorfile.write(path, {k: v.contiguous() for k, v in model.state_dict().items()}, meta)
    return path


def load_classifier(path: str | Path) -> DigitClassifier:
    path = Path(path)
    try:
        raw = path.read_bytes()
        meta = tensorfile.read_metadata(raw)
        if meta.get("format") != FORMAT:
            raise ValueError("not a classifier")
        model = DigitClassifier(
            channels=int(meta["channels"]), num_classes=int(meta["num_classes"])
        )
        model.load_state_dict(tensorfile.read_tensors(raw))
    except OSError as e:
        raise CheckpointError(f"cannot read classifier {path}: {e.strerror}") from None
    except Exception as e:  # anything else: not ours, or damaged
        raise CheckpointError(
            f"{path} is not a gankit classifier or is truncated ({type(e).__name__})"
        ) from None
    return model.eval().requires_grad_(False)


@torch.no_grad()
def predict(
    model: DigitClassifier, images: torch.Tensor, batch: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, features) for [-1, 1] images, in batches."""
    logits, feats = [], []
    for i in range(0, len(images), batch):
        f = model.features(images[i : i + batch].float())
        feats.append(f)
        logits.append(model.head(f))
    return torch.cat(logits), torch.cat(feats)
