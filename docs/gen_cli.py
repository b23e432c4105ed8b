"""Write docs/cli.md from the argparse definitions in gankit.cli, so the reference cannot drift
from the parser: `python docs/gen_cli.py` rewrites it, tests/test_docs.py fails when it is stale.

The usage lines and tables are built from the parser's actions rather than argparse's own help
text, whose wrapping and layout change with the terminal width and the Python version."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CLI_MD = Path(__file__).resolve().parent / "cli.md"

HEADER = """\
# Command-line reference

Every `gankit` command, its arguments and their defaults. This file is generated from the
argparse definitions in `src/gankit/cli.py` by `python docs/gen_cli.py`; `tests/test_docs.py`
fails when the two differ. `gankit train --help` (and so on for each command) prints the same
from the installed version.

The commands that train (`train`, `bench`, `compare`, `tabular fit`) also take `key=value`
options after their flags (`optim.lr_g=1e-4 train.threads=1`): the keys, presets and data
sources are described in [training.md](training.md) and [data.md](data.md). Exit codes: 0 done,
1 training diverged, 2 bad input (one line on stderr), 130 interrupted
([runs.md](runs.md)).
"""


def _type_name(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "flag"
    kind = getattr(action.type, "__name__", "text") if action.type else "text"
    return {"int": "integer", "number": "number", "seed": "integer (seed)"}.get(kind, "text")


def _metavar(action: argparse.Action) -> str:
    return action.metavar or action.dest.upper()


def _required(action: argparse.Action) -> bool:
    if action.option_strings:
        return action.required
    return action.nargs not in ("*", "?")


def _usage_item(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"[{_metavar(action)} ...]" if action.nargs == "*" else _metavar(action)
    flag = next((s for s in action.option_strings if s.startswith("--")), action.option_strings[0])
    return flag if action.nargs == 0 else f"{flag} {_metavar(action)}"


def _documented(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, (argparse._HelpAction, argparse._VersionAction))
    ]


def usage(prog: str, parser: argparse.ArgumentParser) -> str:
    """One line: positionals first, then options, mutually exclusive ones as [a | b]."""
    groups = {id(a): g for g in parser._mutually_exclusive_groups for a in g._group_actions}
    items, done = [], set()
    actions = _documented(parser)
    for action in (
        [a for a in actions if not a.option_strings and a.nargs != "*"]
        + [a for a in actions if a.option_strings]
        + [a for a in actions if a.nargs == "*"]
    ):
        if id(action) in done:
            continue
        group = groups.get(id(action))
        members = group._group_actions if group else [action]
        done.update(id(a) for a in members)
        text = " | ".join(_usage_item(a) for a in members)
        items.append(text if _required(action) or action.nargs == "*" else f"[{text}]")
    return " ".join([prog, *items])


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default(action: argparse.Action) -> str:
    if _required(action) or action.nargs == 0 or action.default in (None, [], argparse.SUPPRESS):
        return ""
    return f"`{action.default}`"


def section(prog: str, parser: argparse.ArgumentParser, summary: str | None) -> list[str]:
    lines = [f"## {prog}", ""]
    text = parser.description or summary
    if text:
        lines += [text[0].upper() + text[1:] + ("" if text.endswith(".") else "."), ""]
    lines += ["```text", usage(prog, parser), "```", ""]
    rows = [
        (
            " ".join(f"`{s}`" for s in a.option_strings) or f"`{_metavar(a)}`",
            _type_name(a),
            "yes" if _required(a) else "",
            _default(a),
            a.help or "",
        )
        for a in _documented(parser)
    ]
    if rows:
        lines += [
            "| argument | value | required | default | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [f"| {' | '.join(_cell(c) for c in row)} |" for row in rows]
        lines.append("")
    return lines


def _subcommands(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, argparse.ArgumentParser, str | None]]:
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if sub is None:
        return []
    summaries = {a.dest: a.help for a in sub._choices_actions}
    return [(name, p, summaries.get(name)) for name, p in sub.choices.items()]


def render() -> str:
    """The whole of docs/cli.md for the gankit importable here."""
    from gankit import cli, config
    from gankit.data import SOURCES
    from gankit.experiments.bench import PROTOCOLS
    from gankit.experiments.quality import SOURCES as QUALITY_SOURCES

    parser = cli.build_parser()
    lines = [HEADER, "## Commands", ""]
    entries = []
    for name, sub, summary in _subcommands(parser):
        children = _subcommands(sub)
        entries += [(f"gankit {name} {child}", p, s) for child, p, s in children] or [
            (f"gankit {name}", sub, summary)
        ]
    lines += [
        f"- [`{prog}`](#{prog.replace(' ', '-')}): {summary}" for prog, _, summary in entries
    ] + [""]
    lines += [
        f"Presets (`--preset`): {', '.join(f'`{p}`' for p in config.PRESETS)}.",
        "",
        f"Data sources (`--data`): {', '.join(f'`{s}`' for s in SOURCES)}.",
        "",
        f"Benchmark protocols (`gankit bench PROTOCOL`): {', '.join(f'`{p}`' for p in PROTOCOLS)}; "
        f"{', '.join(f'`{p}`' for p in QUALITY_SOURCES)} (presets against the plain DCGAN loop); "
        "and `speed`, `time-to-quality`.",
        "",
    ]
    for prog, sub, summary in entries:
        lines += section(prog, sub, summary)
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    CLI_MD.write_text(render())
    print(f"wrote {CLI_MD}", file=sys.stderr)
