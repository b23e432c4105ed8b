"""Using an image-to-image translation model: translate image files (`gankit translate`) and score
translations of held-out pairs against their true targets (`gankit eval RUN --pairs`).

A translation recipe says which directions it translates (`recipe.directions`: pix2pix the one it
was trained in, a two-generator model both) and translates a batch (`recipe.translate(x,
direction, nets)`), so these functions serve every such model unchanged.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .api import Generator, load
from .data import folder
from .data.base import to_float, to_uint8
from .data.options import PAIR_SOURCES
from .data.pairs import load_pairs
from .errors import ConfigError, DataError
from .files import atomic_writer
from .metrics.classifier import accuracy_warning
from .metrics.distribution import fid
from .metrics.extractors import Extractor, load_extractor
from .metrics.translation import pair_scores
from .progress import bar as progress_bar

#: images translated at a time
BATCH = 64


def translation_model(model: Generator | str | Path, device: str = "cpu") -> Generator:
    """A loaded model that translates images (else refused in one line)."""
    model = model if isinstance(model, Generator) else load(model, device)
    if not hasattr(model.recipe, "translate"):
        raise ConfigError(
            f"{model.path} holds a {model.config.recipe} model, which does not translate images "
            "(train one with --preset pix2pix)"
        )
    return model


def direction_of(model: Generator, direction: str | None) -> str:
    """The direction asked for, or the model's only one; one it cannot translate is refused."""
    directions = model.recipe.directions
    if direction is None:
        if len(directions) > 1:
            raise ConfigError(
                f"this model translates {' and '.join(directions)}: say which with --direction"
            )
        return directions[0]
    if direction not in ("AtoB", "BtoA"):
        raise ConfigError(f"unknown direction '{direction}' (choose from: AtoB, BtoA)")
    if direction not in directions:
        raise ConfigError(f"this model translates {' and '.join(directions)} only, not {direction}")
    return direction


@torch.no_grad()
def translate_images(
    model: Generator, images: torch.Tensor, direction: str | None = None
) -> torch.Tensor:
    """[-1, 1] images of the model's size and channels, translated (N x C x H x W, on the CPU)."""
    direction = direction_of(model, direction)
    expected = image_shape(model)
    if tuple(images.shape[1:]) != expected:
        raise DataError(
            f"the model translates images of shape {expected}, got {tuple(images.shape[1:])}"
        )
    parts = [
        model.recipe.translate(images[i : i + BATCH].to(model.device), direction, model.nets)
        for i in range(0, len(images), BATCH)
    ]
    return torch.cat(parts).float().cpu()


def image_shape(model: Generator) -> tuple[int, ...]:
    """The shape of one image the model reads and writes (a pair model's data holds two)."""
    shape = tuple(model.sample_shape)
    return (shape[0] // 2, *shape[1:]) if _pairs_model(model) else shape


def _pairs_model(model: Generator) -> bool:
    """Whether the model's data shape is that of pairs (input and target channels together)."""
    return model.config.data.source in PAIR_SOURCES


def _input_files(inputs: str | Path) -> tuple[Path, list[str]]:
    """The folder and the relative paths of the images to translate (a file: its own folder)."""
    path = Path(inputs).expanduser()
    if path.is_file():
        return path.parent, [path.name]
    if not path.is_dir():
        raise DataError(f"{path} is neither an image file nor a folder")
    names = [relative for relative, _, _ in folder.scan(path)]
    if not names:
        raise DataError(f"{path} holds no images ({', '.join(sorted(folder.EXTENSIONS))})")
    return path, names


def _outputs(root: Path, names: list[str], output_dir: Path) -> list[Path]:
    """One PNG per input, its name (and sub-folder) kept; refused where two inputs would write
    one file or an output would replace an input."""
    outputs = [output_dir / (os.path.splitext(n)[0] + ".png") for n in names]
    seen: dict[Path, str] = {}
    for name, out in zip(names, outputs, strict=True):
        if out in seen:
            raise DataError(f"{seen[out]} and {name} would both be written to {out}")
        seen[out] = name
        if out.resolve() == (root / name).resolve():
            raise DataError(f"{out} would replace its input: choose another output folder")
    return outputs


def _resized(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """A float image batch at another size (area-like when shrinking, bicubic when enlarging)."""
    if x.shape[-2:] == (height, width):
        return x
    shrinking = height * width < x.shape[-2] * x.shape[-1]
    mode = "bilinear" if shrinking else "bicubic"
    return F.interpolate(x, (height, width), mode=mode, antialias=shrinking, align_corners=False)


def _decoded(path: Path, channels: int, alpha: str) -> torch.Tensor:
    """One image as a [-1, 1] float tensor C x H x W at its own size, decoded as training did;
    a file that is no readable image is refused in one line."""
    colours = channels - (alpha == "keep")
    try:
        image = folder.flat_image(path, colours, alpha)
    except (OSError, ValueError, SyntaxError) as e:  # what PIL raises for a bad file
        raise DataError(f"cannot read image {path}: {str(e).splitlines()[0]}") from None
    array = np.asarray(image, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    return to_float(torch.from_numpy(np.ascontiguousarray(array)))


def translate(
    model: Generator | str | Path,
    inputs: str | Path,
    output_dir: str | Path,
    direction: str | None = None,
    device: str = "cpu",
    progress: bool | None = False,
) -> list[Path]:
    """Translate an image file, or every image under a folder, into `output_dir`: one PNG per
    input with its name (and sub-folder). Images of another size are resized to the model's and
    the translation back to theirs. Returns the files written."""
    model = translation_model(model, device)
    direction = direction_of(model, direction)
    root, names = _input_files(inputs)
    output_dir = Path(output_dir).expanduser()
    outputs = _outputs(root, names, output_dir)
    channels, side = image_shape(model)[0], model.sample_shape[-1]
    alpha = model.config.data.alpha
    with progress_bar(len(names), f"translating {len(names)}", "image", progress) as bar:
        for start in range(0, len(names), BATCH):
            chunk = names[start : start + BATCH]
            images = [_decoded(root / n, channels, alpha) for n in chunk]
            batch = torch.stack([_resized(x[None], side, side)[0] for x in images])
            translated = translate_images(model, batch, direction)
            for x, out, image in zip(translated, outputs[start:], images, strict=False):
                _write_png(_resized(x[None], *image.shape[-2:])[0], out)
            bar.update(len(chunk))
    return outputs


def _write_png(image: torch.Tensor, path: Path) -> None:
    from PIL import Image

    array = to_uint8(image).numpy()
    array = array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as f:
        Image.fromarray(np.ascontiguousarray(array)).save(f, format="PNG")


@torch.no_grad()
def evaluate_translation(
    model: Generator | str | Path,
    pairs: str | Path | None = None,
    device: str = "cpu",
    progress: bool | None = False,
    features: str | Extractor | None = None,
) -> dict[str, Any]:
    """L1, PSNR and SSIM of the model's translations of held-out pairs against their targets,
    beside the identity mapping's (output = input), for each direction the model translates.

    `pairs` is a paired set (`--data paired` layouts; default: the run's own data); its test
    split is scored: `DIR/test/`, or the held-out names of a set without split folders. Returns
    the means (`AtoB_l1`, `AtoB_identity_l1`, ...), the pair count and, under `per_image`, every
    pair's figures (the model's and the identity's) by name.

    With `features` (an extractor, or what `gankit eval --features` takes) also the FID of the
    translations against the target domain: the targets of the set's training split, the
    distribution a translation should land in. Beside it the identity's FID (the inputs
    against that domain) and the floor: the held-out true targets' FID (`AtoB_fid`,
    `AtoB_identity_fid`, `AtoB_target_fid`)."""
    model = translation_model(model, device)
    extract = _translation_features(features, model)
    data_cfg = model.config.data
    where = str(pairs) if pairs else data_cfg.dir
    results: dict[str, Any] = {}
    per_image: dict[str, dict[str, list]] = {}
    directions = model.recipe.directions
    with progress_bar(len(directions), "scoring held-out pairs", "direction", progress) as bar:
        for direction in directions:
            cfg = dataclasses.replace(
                data_cfg,
                source="paired",
                dir=where,
                resolution=model.sample_shape[-1],
                direction=direction,
            )
            held = load_pairs(cfg, "test")
            c = held.data.x.shape[1] // 2
            inputs, targets = held.data.all()[:, :c], held.data.all()[:, c:]
            outputs = to_float(to_uint8(translate_images(model, inputs, direction)))
            scores = pair_scores(outputs, targets)
            identity = pair_scores(inputs, targets)
            results.setdefault("pairs", len(held.names))
            results.setdefault("data", held.data.name)
            for key in scores:
                results[f"{direction}_{key}"] = _mean(scores[key])
                results[f"{direction}_identity_{key}"] = _mean(identity[key])
            if extract is not None:
                domain = _target_domain(cfg, c)
                fids = _domain_fids(extract, domain, outputs, inputs, targets)
                results.update({f"{direction}_{k}": v for k, v in fids.items()})
                results[f"{direction}_domain_images"] = len(domain)
            per_image[direction] = {"name": held.names}
            per_image[direction].update({k: v.tolist() for k, v in scores.items()})
            per_image[direction].update({f"identity_{k}": v.tolist() for k, v in identity.items()})
            bar.update(1)
    if extract is not None:
        results["features"] = extract.spec or extract.key
        warning = accuracy_warning(extract.trained_on)
        if warning:
            results["features_warning"] = warning
    results["per_image"] = per_image
    return results


def _translation_features(features: str | Extractor | None, model: Generator) -> Extractor | None:
    """The extractor for the translations' FID, refused in one line when its file says it reads
    images of another shape than the model's."""
    if features is None:
        return None
    extract = load_extractor(features) if isinstance(features, str) else features
    info = extract.trained_on
    wanted = image_shape(model)
    if info is not None and info.shape is not None and tuple(info.shape) != wanted:
        raise ConfigError(
            f"feature network {extract.spec or extract.key} reads {info.describe()} images, "
            f"not this model's {'x'.join(map(str, wanted))} translations: train one on the "
            "target domain's images with `gankit train-classifier --data folder`"
        )
    return extract


def _target_domain(cfg, channels: int) -> torch.Tensor:  # noqa: ANN001 (a DataConfig)
    """The target images of the paired set's training split: the domain FID compares with."""
    try:
        return load_pairs(cfg, "train").data.all()[:, channels:]
    except DataError as e:
        raise DataError(f"the FID compares with the target domain's training images: {e}") from None


def _domain_fids(extract, domain, outputs, inputs, targets) -> dict[str, float]:
    """FID against the target domain's images of the translations, of the inputs (identity)
    and of the held-out true targets (the floor a perfect translation would reach)."""
    real, _ = extract(domain)
    return {
        name: fid(real, extract(images)[0])
        for name, images in (("fid", outputs), ("identity_fid", inputs), ("target_fid", targets))
    }


def _mean(values: torch.Tensor) -> float:
    value = float(values.double().mean())
    return value if math.isfinite(value) else float("nan")
