"""Fuzzing the configuration a user writes: YAML config files and `key=value` overrides. Whatever
the text, `config.load` / `apply_overrides` / `validate` return a Config or raise a ConfigError in
one line; a config that validates survives its own YAML (a run's config.yaml must resume); and
`gankit train --config FILE key=value ...` exits 0 or 2 with no traceback and no run left behind."""

import dataclasses
import tempfile
from pathlib import Path

import pytest
import yaml
from fuzzing import examples, files_under, fuzz_target, hang_guard, outcome, run_cli
from hypothesis import example, given
from hypothesis import strategies as st

from gankit import config
from gankit.errors import ConfigError

SECTIONS = {
    f.name: [
        g.name
        for g in dataclasses.fields(f.type if isinstance(f.type, type) else getattr(config, f.type))
    ]
    for f in dataclasses.fields(config.Config)
    if f.name not in ("preset", "recipe")
}
OPTIONS = [f"{section}.{name}" for section, names in SECTIONS.items() for name in names]
WORDS = [
    "dcgan",
    "mlp",
    "resnet",
    "unet",
    "hinge",
    "wasserstein",
    "cpu",
    "cuda:0",
    "ddim",
    "trailing",
    "linear",
    "bernoulli",
    "digits",
    "toy2d",
    "grid",
    "color,translation",
    "batch",
    "none",
    "step",
    "bf16",
    "yes",
    "~",
]
# dunder and method names: attributes of a Config that are not options
NOT_OPTIONS = [
    "__class__",
    "__dict__",
    "__doc__",
    "to_dict",
    "save",
    "__dataclass_fields__",
    "__init__",
]


def scalars() -> st.SearchStrategy:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 70),
        st.integers(),
        st.integers(2**63 - 2, 2**64 + 2),
        st.floats(),
        st.sampled_from(WORDS),
        st.text(max_size=8),
        st.dates(),
        st.datetimes(),
    )


def values() -> st.SearchStrategy:
    return st.recursive(
        scalars(),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=2)
        ),
        max_leaves=6,
    )


def keys(names: list[str]) -> st.SearchStrategy:
    return st.one_of(
        st.sampled_from(names),
        st.sampled_from(NOT_OPTIONS),
        st.text(max_size=6),
        st.integers(-2, 2),
        st.booleans(),
        st.none(),
    )


@st.composite
def config_files(draw) -> bytes:
    """A config file: a mapping of sections and options (real ones mostly, and values of every
    YAML type), maybe cut short or with bytes changed; or any text; or bytes that are not UTF-8."""
    form = draw(st.sampled_from(["mapping", "mapping", "mapping", "text", "bytes"]))
    if form == "text":
        return draw(st.text(max_size=60)).encode()
    if form == "bytes":
        return draw(st.binary(max_size=60))
    d = {}
    if draw(st.booleans()):
        d["preset"] = draw(st.one_of(st.sampled_from(list(config.PRESETS)), values()))
    for section in draw(
        st.lists(st.one_of(st.sampled_from(list(SECTIONS)), keys(list(SECTIONS))), max_size=3)
    ):
        names = SECTIONS.get(section, ["x"])
        d[section] = draw(st.one_of(st.dictionaries(keys(names), values(), max_size=4), values()))
    text = yaml.safe_dump(d, sort_keys=False).encode()
    damage = draw(st.sampled_from(["none", "none", "cut", "flip"]))
    if damage == "cut":
        return text[: draw(st.integers(0, len(text)))]
    if damage == "flip":
        flipped = bytearray(text)
        flipped[draw(st.integers(0, len(text) - 1))] = draw(
            st.sampled_from(list(b"[]{}:-&*!|>'\"#%@`\t\n "))
        )
        return bytes(flipped)
    return text


def value_texts() -> st.SearchStrategy:
    """What follows `=` in an override: YAML of any value, or any text."""
    return st.one_of(
        values().map(
            lambda v: yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("...").strip()
        ),
        st.text(max_size=12),
        st.sampled_from(
            [
                "",
                "1e-4",
                "1e400",
                "9" * 5000,
                "[[[[[[[[",
                "!!python/object:os.system",
                "&a [*a]",
                "0x10",
                "1_000",
                ".inf",
                "-.nan",
                "null",
            ]
        ),
    )


def overrides() -> st.SearchStrategy:
    key = st.one_of(
        st.sampled_from(OPTIONS),
        st.sampled_from(list(SECTIONS) + ["preset", "recipe"]),
        st.builds(
            lambda s, n: f"{s}.{n}",
            st.sampled_from(list(SECTIONS) + NOT_OPTIONS),
            st.sampled_from(NOT_OPTIONS),
        ),
        st.sampled_from([f"{n}.preset" for n in NOT_OPTIONS]),
        st.text(max_size=10),
    )
    return st.lists(
        st.one_of(st.builds(lambda k, v: f"{k}={v}", key, value_texts()), st.text(max_size=10)),
        max_size=4,
    )


def check_config(cfg: config.Config) -> None:
    """A config that validates is written and read back as itself (a run's config.yaml resumes)."""
    validated, _ = outcome("configs read (validate, YAML round trip)", lambda: config.validate(cfg))
    if validated is not None:
        with tempfile.TemporaryDirectory() as folder:
            validated.save(Path(folder) / "config.yaml")
            assert config.load(Path(folder) / "config.yaml") == validated


@given(config_files(), st.sampled_from([None, "dcgan", "ddpm", "ctgan"]))
@examples(60)
@fuzz_target("YAML config files (config.load)")
@example(b"model: {hidden: &a [1, 2]}\nloss: {kind: *a}\n", None)
@example(b"1: 2\n", None)
@example(b"train: {__dict__: 1}\n", None)
@example(b'"a\\nb": 1\n', None)  # a key with a line break, quoted in a message of two lines
@example(b"to_dict: 1\n", None)
@example(b"model: {arch: '[unclosed'}\n", "dcgan")
@example(b"data: {dir: 2020-01-01}\n", None)
@example(b"optim: {lr_g: " + b"9" * 400 + b"}\n", None)
@example(b"optim: {lr_g: " + b"9" * 5000 + b"}\n", None)
def test_config_files_load_or_raise_a_config_error(raw, base):
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "c.yaml").write_bytes(raw)
        cfg, _ = outcome(
            "YAML config files (config.load)",
            lambda: config.load(Path(folder) / "c.yaml", base=base),
        )
    if cfg is not None:
        check_config(cfg)


@given(st.sampled_from(list(config.PRESETS)), overrides())
@examples(60)
@fuzz_target("key=value overrides (apply_overrides)")
@example("dcgan", ["__class__.preset=nope"])
@example("dcgan", ["train.__dict__=1"])
@example("dcgan", ["optim.lr_g=" + "9" * 400])
@example("dcgan", ["model.z_dim=" + "9" * 5000])
@example("dcgan", ["model.arch=[unclosed"])
def test_overrides_apply_or_raise_a_config_error(preset, items):
    cfg, _ = outcome(
        "key=value overrides (apply_overrides)",
        lambda: config.apply_overrides(config.from_preset(preset), items),
    )
    assert (
        config.Config().preset == "dcgan"
        and config.Config.__dataclass_fields__["preset"].default == "dcgan"
    )
    if cfg is not None:
        check_config(cfg)


# ---- `gankit train --config FILE key=value ...` --------------------------------------------------
# the run stays tiny whatever the file says: these overrides come last
TINY_RUN = [
    "--no-progress",
    "train.steps=1",
    "train.minutes=null",
    "data.source=digits",
    "data.resolution=null",
    "data.channels=null",
    "model.width=8",
    "model.hidden=[8]",
    "model.d_hidden=null",
    "model.z_dim=8",
    "optim.batch_size=4",
    "model.pack=1",
    "train.device=cpu",
    "train.threads=1",
    "train.compile=false",
    "train.amp=none",
    "train.eval_every=null",
    "train.health_classifier=null",
    "diffusion.timesteps=100",
    "diffusion.sampling_steps=2",
    "diffusion.channel_mult=[1,2,2]",
    "optim.n_critic=1",
    "data.holdout=0",
]


@given(config_files(), overrides())
@examples(12)
@fuzz_target("YAML config files (gankit train --config)")
def test_gankit_train_with_a_fuzzed_config_file(raw, items):
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "c.yaml").write_bytes(raw)
        out = Path(root) / "run"
        code, _, _ = run_cli(
            "YAML config files (gankit train --config)",
            ["train", "--config", f"{root}/c.yaml", "--out", str(out), *items, *TINY_RUN],
        )
        if code == 2:
            assert not out.exists(), f"a failed run left {files_under(out)}"
        elif code == 0:
            assert any(name.startswith("checkpoints/step_") for name in files_under(out))


# ---- what the fuzzing found, pinned --------------------------------------------------------------
def test_yaml_aliases_are_not_expanded(tmp_path):
    """Nine lists of nine references to the list before: 9**9 numbers once expanded. The value
    went through json.dumps (minutes, gigabytes); a list of lists is now refused as it is."""
    levels = ["&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)
    ]
    (tmp_path / "c.yaml").write_text(f"model:\n  hidden: [1]\n  d_hidden: [{', '.join(levels)}]\n")
    with (
        hang_guard(10),
        pytest.raises(
            ConfigError,
            match="model.d_hidden' takes a value or a list of values, not a list holding a list",
        ),
    ):
        config.load(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    "preset, override, message",
    [
        # torch raised "Overflow when unpacking long" building the networks (a traceback)
        (
            "seed-mlp",
            "model.z_dim=1000000000000000000000000000000",
            "model.z_dim must be at most 2,147,483,647",
        ),
        ("seed-mlp", "data.resolution=100000000000000000000", "data.resolution must be at most"),
        (
            "ddpm",
            "diffusion.channel_mult=[4611686018427387904,1,1]",
            "diffusion.channel_mult must be at most",
        ),
        # torch.set_num_threads(100000) crashed the process at its next parallel operation
        ("seed-mlp", "train.threads=100000", r"train.threads must be in 1..1024, got 100000"),
    ],
)
def test_numbers_torch_cannot_take_are_refused_up_front(preset, override, message):
    with pytest.raises(ConfigError, match=message):
        config.validate(config.apply_overrides(config.from_preset(preset), [override]))


def test_python_values_of_the_api_pass_as_they_read():
    """`make_config(data={"dir": Path(...)})` and NumPy integers raised TypeError in json.dumps."""
    import numpy as np

    from gankit import make_config

    cfg = make_config(
        "seed-mlp",
        data={"dir": Path("/data/x")},
        model={"z_dim": np.int64(12), "hidden": (8, 16)},
        optim={"lr_g": np.float32(0.5)},
    )
    assert (cfg.data.dir, cfg.model.z_dim, cfg.model.hidden, cfg.optim.lr_g) == (
        "/data/x",
        12,
        [8, 16],
        0.5,
    )
