"""Using a translation model: `gankit translate` (file or folder, names kept, other sizes
resized and back, bad inputs refused in one line) and `gankit eval RUN --pairs` (L1, PSNR and
SSIM of held-out pairs beside the identity mapping's)."""

import json
import shutil

import numpy as np
import pytest
import torch
from image_pairs import pair_images, tiny_pix2pix, write_pairs
from PIL import Image

import gankit
from gankit import cli
from gankit.data.base import to_float, to_uint8
from gankit.data.pairs import load_paired, split_by_name
from gankit.errors import ConfigError, DataError
from gankit.metrics.translation import pair_scores
from gankit.train import Trainer
from gankit.translation import evaluate_translation, translate, translate_images


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A pix2pix run of a few steps on 16 px pairs, with 12 names held out."""
    root = tmp_path_factory.mktemp("translation")
    write_pairs(root / "pairs", 40)
    cfg = tiny_pix2pix(root / "pairs", steps=4)
    Trainer(cfg, root / "run", progress=False, echo=lambda line: None).run()
    return root


def test_a_folder_is_translated_with_its_names_and_sizes(run, tmp_path):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    a0, _ = pair_images(0)
    Image.fromarray(a0).save(inputs / "same.png")
    Image.fromarray(np.tile(a0, (2, 3, 1))).save(inputs / "sub" / "wide.jpg")
    Image.fromarray(a0[:, :, 0]).save(inputs / "grey.png")
    assert cli.main(["translate", str(run / "run"), str(inputs), "-o", str(tmp_path / "out")]) == 0
    written = sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*")
    )
    assert written == ["grey.png", "same.png", "sub", "sub/wide.png"]
    assert Image.open(tmp_path / "out" / "sub" / "wide.png").size == (48, 32)
    assert Image.open(tmp_path / "out" / "grey.png").mode == "RGB"
    model = gankit.load(run / "run")
    x = to_float(torch.from_numpy(a0).permute(2, 0, 1)[None])
    expected = to_uint8(translate_images(model, x))[0].permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "same.png")), expected)


def test_one_file_and_the_api_give_the_same_translation(run, tmp_path):
    a0, _ = pair_images(3)
    Image.fromarray(a0).save(tmp_path / "x.png")
    [path] = translate(run / "run", tmp_path / "x.png", tmp_path / "api")
    assert (
        cli.main(
            [
                "translate",
                str(run / "run"),
                str(tmp_path / "x.png"),
                "-o",
                str(tmp_path / "cli"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert path.name == "x.png"
    assert np.array_equal(
        np.asarray(Image.open(path)), np.asarray(Image.open(tmp_path / "cli" / "x.png"))
    )


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        (
            lambda d: (d / "bad.png").write_bytes(b"not a png"),
            ["{d}"],
            "cannot read image .*bad.png",
        ),
        (lambda d: None, ["{d}/nowhere"], "is neither an image file nor a folder"),
        (lambda d: (d / "empty").mkdir(), ["{d}/empty"], "holds no images"),
        (
            lambda d: Image.new("RGB", (4, 4)).save(d / "x.png"),
            ["{d}", "-o", "{d}"],
            "would replace its input",
        ),
        (
            lambda d: [Image.new("RGB", (4, 4)).save(d / f"x.{e}") for e in ("png", "jpg")],
            ["{d}"],
            "x.jpg and x.png would both be written",
        ),
        (
            lambda d: Image.new("RGB", (4, 4)).save(d / "x.png"),
            ["{d}", "--direction", "BtoA"],
            "translates AtoB only, not BtoA",
        ),
    ],
)
def test_bad_inputs_are_refused_in_one_line(run, tmp_path, capsys, setup, argv, message):
    setup(tmp_path)
    args = [a.format(d=tmp_path) for a in argv]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out")]
    assert cli.main(["translate", str(run / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gankit: error: ")
    assert __import__("re").search(message, err)


def test_a_model_that_does_not_translate_is_refused(tmp_path):
    from conftest import tiny_config

    Trainer(tiny_config(steps=2), tmp_path / "gan", progress=False, echo=lambda line: None).run()
    with pytest.raises(ConfigError, match="holds a gan model, which does not translate"):
        translate(tmp_path / "gan", tmp_path, tmp_path / "out")


def test_eval_scores_the_held_out_pairs_beside_the_identity(run, tmp_path, capsys):
    results = evaluate_translation(run / "run")
    held = split_by_name([f"p{i:02d}" for i in range(40)], "test")
    assert results["pairs"] == len(held) and results["per_image"]["AtoB"]["name"] == held
    pairs = load_paired(str(run / "pairs"), "test").data.all()
    identity = pair_scores(pairs[:, :3], pairs[:, 3:])
    for key in ("l1", "psnr", "ssim"):
        assert results[f"AtoB_identity_{key}"] == pytest.approx(float(identity[key].mean()))
        assert results["per_image"]["AtoB"][f"identity_{key}"] == identity[key].tolist()
    model = gankit.load(run / "run")
    outputs = to_float(to_uint8(translate_images(model, pairs[:, :3])))
    assert results["AtoB_l1"] == pytest.approx(
        float(pair_scores(outputs, pairs[:, 3:])["l1"].mean())
    )
    json_path = tmp_path / "e.json"
    assert cli.main(["eval", str(run / "run"), "--pairs", "--json", str(json_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{len(held)} held-out pairs of paired:pairs (test)"
    assert out[2].split()[:2] == ["AtoB", "model"] and out[3].split()[:2] == ["AtoB", "identity"]
    assert json.loads(json_path.read_text())["AtoB_l1"] == pytest.approx(results["AtoB_l1"])


def test_eval_reads_another_paired_set_and_refuses_bad_ones(run, tmp_path, capsys):
    write_pairs(tmp_path / "other" / "test", 3, names=["t0", "t1", "t2"])
    assert evaluate_translation(run / "run", tmp_path / "other")["pairs"] == 3
    shutil.rmtree(tmp_path / "other" / "test" / "B")
    assert cli.main(["eval", str(run / "run"), "--pairs", str(tmp_path / "other")]) == 2
    assert "has A/ but no B/" in capsys.readouterr().err
    with pytest.raises(DataError, match="does not exist"):
        evaluate_translation(run / "run", tmp_path / "missing")


class CornerAndMean(torch.nn.Module):
    """A fixed feature map for tests: the top-left pixel (dark red in every A image of
    `pair_images`, light cyan in every B) and each channel's mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :, 0, 0], x.mean((2, 3))], 1)


def test_eval_gives_the_fid_against_the_target_domain(run, tmp_path, capsys):
    from gankit.metrics.distribution import fid
    from gankit.metrics.extractors import module_extractor

    extract = module_extractor(CornerAndMean(), "corner-and-mean")
    results = evaluate_translation(run / "run", features=extract)
    train = load_paired(str(run / "pairs"), "train").data.all()
    held = load_paired(str(run / "pairs"), "test").data.all()
    domain = extract(train[:, 3:])[0]
    assert results["AtoB_domain_images"] == len(train) == 40 - len(held)
    assert results["AtoB_target_fid"] == pytest.approx(fid(domain, extract(held[:, 3:])[0]))
    assert results["AtoB_identity_fid"] == pytest.approx(fid(domain, extract(held[:, :3])[0]))
    outputs = to_float(to_uint8(translate_images(gankit.load(run / "run"), held[:, :3])))
    assert results["AtoB_fid"] == pytest.approx(fid(domain, extract(outputs)[0]))
    # the inputs' corners lie far from the target domain's, the held-out targets' on it
    assert results["AtoB_identity_fid"] > 10 * results["AtoB_target_fid"]
    assert "fid" not in results["per_image"]["AtoB"]


def test_eval_cli_prints_the_fid_and_refuses_a_feature_network_of_another_shape(
    run, tmp_path, capsys
):
    from gankit.metrics.classifier import ClassifierReport, save_classifier
    from gankit.nets.classifier import ImageClassifier

    model = ImageClassifier(channels=3, num_classes=2, resolution=16)
    report = ClassifierReport(28, 12, 0.5, 1)
    path = save_classifier(model, report, tmp_path / "f.safetensors", "pairs", classes=["a", "b"])
    assert cli.main(["eval", str(run / "run"), "--pairs", "--features", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[-1] == "FID" and out[4].split()[:2] == ["AtoB", "target"]
    assert float(out[2].split()[-1]) >= 0 and "below 0.8" in out[-1]
    grey = ImageClassifier(channels=1, num_classes=2, resolution=16)
    path = save_classifier(grey, report, tmp_path / "g.safetensors", "pairs", classes=["a", "b"])
    assert cli.main(["eval", str(run / "run"), "--pairs", "--features", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not this model's 3x16x16 translations" in err
    write_pairs(tmp_path / "other" / "test", 3, names=["t0", "t1", "t2"])
    with pytest.raises(DataError, match="the FID compares with the target domain's training"):
        evaluate_translation(
            run / "run", tmp_path / "other", features=str(tmp_path / "f.safetensors")
        )
