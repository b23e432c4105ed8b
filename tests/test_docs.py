"""The documentation cannot drift from the code: every `gankit ...` command in README.md and docs/
parses with the current command line (flags, presets, data sources, `key=value` options), the
command reference is what the parser says, links resolve, and the README stays a front door."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from gankit import cli
from gankit import config as config_mod
from gankit.data import SOURCES
from gankit.errors import GankitError
from gankit.experiments.bench import PROTOCOLS
from gankit.experiments.quality import SOURCES as QUALITY_SOURCES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKDOWN = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted(DOCS.rglob("*.md"))]
# written by other parts of the project and linked before they land
PENDING_LINKS = {DOCS / "results" / "soak.md", DOCS / "results" / "fuzz.md"}

SHELL_FENCES = {"", "bash", "sh", "shell", "console"}
BENCH_PROTOCOLS = {*PROTOCOLS, *QUALITY_SOURCES, "speed", "time-to-quality"}
TABLE_MODELS = ("ctgan", "tvae")
# a placeholder for a number in an example (`-n N`, `vae.beta=B`) stands for any valid one
NUMBER_PLACEHOLDER = re.compile(r"^[A-Z]$")
NAME_PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _split_commands(line: str) -> list[list[str]]:
    """Shell words of each simple command on a line (split at &&, ||, ;, |), comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands, current = [], []
    for token in lexer:
        if token and set(token) <= set("&|;()"):
            commands.append(current)
            current = []
        else:
            current.append(token)
    return [c for c in [*commands, current] if c]


def gankit_argv(line: str) -> list[list[str]]:
    """The arguments after `gankit` (or `-m gankit`, as torchrun and python -m take it) of every
    command on a shell line that runs gankit."""
    found = []
    for words in _split_commands(line):
        for i, word in enumerate(words):
            if word == "gankit" and (i == 0 or words[i - 1] == "-m"):
                found.append(words[i + 1 :])
                break
    return found


def _runs_gankit(line: str) -> bool:
    try:
        return bool(gankit_argv(line))
    except ValueError:  # shlex: an unbalanced quote; let the check report it if gankit is there
        return re.search(r"(^|\s)gankit\s", line) is not None


def commands_in(text: str) -> list[tuple[int, str]]:
    """(line number, command line) of every gankit command in a Markdown text: in shell code blocks
    (continuation lines joined) and in inline code spans outside code blocks. A shell variable set
    in a code block (`BN="key=value ..."`) is expanded in the commands after it."""
    found: list[tuple[int, str]] = []
    variables: dict[str, str] = {}
    fence: str | None = None
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = stripped[3:].strip().lower() if fence is None else None
            continue
        if fence is None:
            spans = [_expand(span, variables) for span in re.findall(r"`([^`]+)`", line)]
            found += [(number, span) for span in spans if _runs_gankit(span)]
        elif fence in SHELL_FENCES:
            if assignment := SHELL_ASSIGNMENT.match(stripped):
                variables[assignment[1]] = assignment[2]
                continue
            if not pending:
                start = number
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            command = _expand(pending + stripped, variables)
            if _runs_gankit(command):
                found.append((start, command))
            pending = ""
    return found


SHELL_ASSIGNMENT = re.compile(r'^([A-Z_][A-Z0-9_]*)="([^"$`]*)"$')


def _expand(line: str, variables: dict[str, str]) -> str:
    """`$NAME` replaced by a variable the document set; other names stay, for the CLI to refuse."""
    return re.sub(r"\$([A-Z_][A-Z0-9_]*)", lambda m: variables.get(m[1], m[0]), line)


NAMED_BY = {"--preset", "--model", "--models", "--data"}


def _fill_placeholders(argv: list[str]) -> list[str]:
    """`...` dropped; a one-letter placeholder for a number (`-n N`) becomes 1. Names (`--preset P`,
    RUN, DATA) stay: the parser takes any text there, and the name checks skip placeholders."""
    filled: list[str] = []
    for word in argv:
        if word == "...":
            continue
        key, eq, value = word.partition("=")
        if eq and NUMBER_PLACEHOLDER.match(value):
            word = f"{key}=1"
        elif NUMBER_PLACEHOLDER.match(word) and not (filled and filled[-1] in NAMED_BY):
            word = "1"
        filled.append(word)
    return filled


def _command_path(argv: list[str]) -> list[str]:
    """The words that name the command: `train`, `tabular fit`, `bench mnist`."""
    return argv[:2] if argv and argv[0] in ("tabular", "bench") else argv[:1]


def _check_path(path: list[str]) -> None:
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # noqa: SLF001
    if not path or path[0] not in commands:
        raise GankitError(f"no such command: gankit {' '.join(path)}")
    if path[0] == "tabular" and len(path) > 1 and path[1] not in ("fit", "sample", "eval"):
        raise GankitError(f"no such command: gankit tabular {path[1]}")
    if (
        path[0] == "bench"
        and len(path) > 1
        and path[1] not in BENCH_PROTOCOLS
        and not NAME_PLACEHOLDER.match(path[1])
    ):
        raise GankitError(f"no such benchmark: {path[1]}")


def _known(value: str | None) -> bool:
    """A concrete value to check, not left out and not a placeholder such as PRESET."""
    return bool(value) and not NAME_PLACEHOLDER.match(value)


def _check_options(args) -> None:  # noqa: ANN001
    """What the parser leaves to the run: preset and model names, data
    sources, key=value options."""
    preset = getattr(args, "preset", None)
    # `gankit bench mnist|fashion-mnist|cifar10` races a comma list of presets
    presets = preset.split(",") if args.command == "bench" and _known(preset) else [preset]
    variants = [cli._variant(text) for text in getattr(args, "variant", [])]  # noqa: SLF001
    for name in presets + [preset for _, preset, _ in variants]:
        if _known(name) and name not in config_mod.PRESETS:
            raise GankitError(f"unknown preset '{name}'")
    data = getattr(args, "data", None)
    if args.command in ("train", "eval", "compare") and _known(data) and data not in SOURCES:
        raise GankitError(f"unknown data source '{data}'")
    if args.command == "tabular" and args.tabular_command == "fit":
        model = args.model or "ctgan"
        if model not in TABLE_MODELS:
            raise GankitError(f"unknown table model '{model}'")
        bases = [model]
    elif args.command == "compare":
        bases = args.models.split(",")
    else:
        bases = [name if _known(name) else "dcgan" for name in presets]
    overrides = list(getattr(args, "overrides", []))
    for base in bases:
        config_mod.apply_overrides(config_mod.from_preset(base), overrides)
    for _, base, own in variants:
        config_mod.apply_overrides(config_mod.from_preset(base), overrides + own)


def check_command(line: str) -> None:
    """Raise a GankitError unless every gankit command on `line` parses with the current CLI
    (without running it)."""
    for argv in gankit_argv(line):
        argv = _fill_placeholders(argv)
        if not argv:
            continue  # the program's name alone
        if {"-h", "--help", "--version"} & set(argv):  # argparse would print and exit
            rest = [a for a in argv if a not in ("-h", "--help", "--version")]
            if rest:
                _check_path(_command_path(rest))
            continue
        path = _command_path(argv)
        _check_path(path)
        if len(argv) == len(path):
            continue  # a command named in prose: `gankit tabular eval`
        if path[0] == "bench" and NAME_PLACEHOLDER.match(path[1]):
            argv = ["bench", "mnist", *argv[2:]]
        _check_options(cli.parse_args(argv))


def _doc_commands() -> list[tuple[str, int, str]]:
    return [
        (_relative(path), number, command)
        for path in MARKDOWN
        for number, command in commands_in(path.read_text())
    ]


def test_every_gankit_command_in_the_docs_parses_with_the_current_cli():
    commands = _doc_commands()
    failures = []
    for where, number, command in commands:
        try:
            check_command(command)
        except GankitError as e:
            failures.append(f"{where}:{number}: {command}\n    {e}")
    assert not failures, "commands in the docs that the CLI refuses:\n" + "\n".join(failures)
    readme = [c for c in commands if c[0] == "README.md"]
    assert len(readme) >= 12 and len(commands) >= 120, "the extractor found too few commands"


@pytest.mark.parametrize(
    "command",
    [
        "gankit train --data folder --data-dir DATA --stpes 10",  # misspelt flag
        "gankit train --data digits --steps ten",  # wrong type
        "gankit train --preset dcgn --data digits",  # unknown preset
        "gankit train --data mnsit --data-dir DATA",  # unknown source
        "gankit train --data digits optim.lr_gg=1e-4",  # unknown option
        "gankit train --data digits train.threads=two",  # option of the wrong type
        "gankit tabular fitt loans.csv",  # unknown command
        "gankit tabular fit loans.csv --model gan",  # not a table model
        "gankit sample -n 64 -o grid.png",  # missing RUN
        "gankit bench toy2 --preset gan",  # unknown benchmark
        "gankit bench mnist --preset dcgan --variant 'a dcgn'",  # a variant's unknown preset
        "gankit bench mnist --preset dcgan --variant 'a dcgan model.widht=8'",  # its own option
        "python3 -m pip install -e . && gankit train --minuts 1",  # after &&
        "torchrun --standalone --nproc_per_node=2 -m gankit train --stepz 5",  # under torchrun
    ],
)
def test_the_command_check_refuses_what_the_cli_refuses(command):
    with pytest.raises(GankitError):
        check_command(command)


def test_commands_are_found_in_code_blocks_continuations_and_inline_code():
    text = "\n".join(
        [
            "Run `gankit info runs/x` or `gankit.load(path)`.",
            "```bash",
            "python3 -m pip install -e . && gankit train --data digits \\",
            "    --steps 10 --out runs/a   # a comment",
            "torchrun --nproc_per_node=2 -m gankit tabular fit t.csv train.threads=1",
            "```",
            "```text",
            "gankit train [--preset PRESET]",
            "```",
        ]
    )
    found = commands_in(text)
    assert [number for number, _ in found] == [1, 3, 5]  # not gankit.load(path), not the usage line
    argv = [a for _, line in found for a in gankit_argv(line)]
    assert argv == [
        ["info", "runs/x"],
        ["train", "--data", "digits", "--steps", "10", "--out", "runs/a"],
        ["tabular", "fit", "t.csv", "train.threads=1"],
    ]


def test_shell_variables_set_in_a_doc_are_expanded_in_its_later_commands():
    text = "\n".join(
        [
            "`gankit train $BN` before the block keeps the name.",
            "```bash",
            'BN="model.g_norm=batch loss.r1=0.001"',
            "gankit train --preset modes-2d $BN loss.r1=0.1 $OTHER",
            "```",
            "Then `gankit bench toy2d $BN`.",
        ]
    )
    assert commands_in(text) == [
        (1, "gankit train $BN"),
        (4, "gankit train --preset modes-2d model.g_norm=batch loss.r1=0.001 loss.r1=0.1 $OTHER"),
        (6, "gankit bench toy2d model.g_norm=batch loss.r1=0.001"),
    ]
    with pytest.raises(GankitError):  # a name the document never set reaches the CLI as is
        check_command(commands_in(text)[1][1])


def _generated_cli_reference() -> str:
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.render()


def test_the_cli_reference_is_what_the_parser_says():
    assert (DOCS / "cli.md").read_text() == _generated_cli_reference(), (
        "docs/cli.md differs from the argparse definitions: "
        "regenerate it with `python docs/gen_cli.py`"
    )


def test_the_cli_reference_lists_every_flag():
    text = (DOCS / "cli.md").read_text()
    parser = cli.build_parser()
    flags = {
        s
        for a in parser._subparsers._group_actions[0].choices["train"]._actions  # noqa: SLF001
        for s in a.option_strings
        if s.startswith("--") and s != "--help"
    }
    assert flags and all(f"`{flag}`" in text for flag in flags)


def _config_keys() -> set[str]:
    cfg = config_mod.Config()
    return {
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(cfg)
        if dataclasses.is_dataclass(getattr(cfg, section.name))
        for f in dataclasses.fields(getattr(cfg, section.name))
    }


def test_every_option_is_documented_and_every_documented_option_exists():
    text = (DOCS / "training.md").read_text()
    table = text[text.index("## Options") : text.index("## Config files")]
    documented = {
        key
        for row in table.splitlines()
        if row.startswith("| `")
        for key in re.findall(r"`([a-z_]+\.[a-z_0-9]+)`", row.split(" | ")[0])
    }
    keys = _config_keys()
    assert documented - keys == set(), "documented options that do not exist"
    assert keys - documented == set(), "options missing from docs/training.md"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)}


def test_links_between_the_docs_resolve():
    broken = []
    for path in MARKDOWN:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if resolved in PENDING_LINKS:
                continue
            if not resolved.exists():
                broken.append(f"{_relative(path)}: {target}")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{_relative(path)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300
    assert any(
        line.startswith("gankit train --data folder --data-dir DATA") for line in lines[:100]
    )
    demo = (
        "python3 -m pip install torch==2.13.0 && python3 -m pip install -e . && "
        "gankit train --data digits --minutes 1 --out runs/demo"
    )
    assert demo in lines[:30]
    assert any(line.startswith("![") and "docs/img/" in line for line in lines[:40])


def test_the_docs_use_no_path_of_a_development_machine_and_no_development_history():
    history = re.compile(
        r"\bsession \d+\b|\bcommit [0-9a-f]{7}\b|shared/data|/work/", re.IGNORECASE
    )
    found = [
        f"{_relative(path)}:{n}: {line.strip()}"
        for path in MARKDOWN
        if path.name != "CHANGELOG.md"
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if history.search(line)
    ]
    assert not found, "\n".join(found)


def test_files_the_docs_name_exist():
    named = re.compile(
        r"`((?:src/gankit|gankit|bench|tests|docs|\.ci)/[\w/.\-]+\.(?:py|md|sh|json|txt|png))`"
    )
    missing = [
        f"{_relative(path)}: {name}"
        for path in MARKDOWN
        for name in named.findall(path.read_text())
        if not (ROOT / name).exists() and not (ROOT / "src" / name).exists()
    ]
    assert not missing, "\n".join(missing)
