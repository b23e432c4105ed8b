"""`gankit options`: every `section.key=value` option with its default, type and meaning.

The meaning is the comment beside each field of the config dataclasses (gankit.config and the
recipes' own option sections), read from their source, so the listing cannot drift from them.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import json
import textwrap
import tokenize
from dataclasses import dataclass
from typing import Any

from . import config as config_mod


@dataclass(frozen=True)
class OptionDoc:
    """One option as `gankit options` lists it."""

    key: str  # section.key, as a `key=value` override names it
    default: str  # the value as an override writes it (so `key=default` changes nothing)
    type: str  # the field's annotation
    meaning: str  # the field's comments, joined


@functools.cache
def field_comments(cls: type) -> dict[str, str]:
    """The comments of each field of dataclass `cls`: those on the field's own statement (also
    inside its parentheses), then those on the comment-only lines right below it. A blank line or
    any other statement ends a field's comments; a field without any maps to ''."""
    source = textwrap.dedent(inspect.getsource(cls))
    comments: dict[str, list[str]] = {f.name: [] for f in dataclasses.fields(cls)}
    current: str | None = None  # the field whose comments are being read
    depth = brackets = 0  # indentation level; open brackets
    line_start, previous = True, tokenize.NEWLINE
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.INDENT:
            depth += 1
        elif tok.type == tokenize.DEDENT:
            depth -= 1
        elif tok.type == tokenize.COMMENT:
            if current is not None:
                comments[current].append(tok.string.lstrip("#").strip())
        elif tok.type == tokenize.NL:
            if brackets == 0 and previous != tokenize.COMMENT:
                current = None  # a blank line
        elif tok.type == tokenize.OP and tok.string in "([{":
            brackets += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            brackets -= 1
        if line_start and tok.type not in _LAYOUT:
            is_field = (
                depth == 1
                and tok.type == tokenize.NAME
                and tokens[i + 1].string == ":"
                and tok.string in comments
            )
            current = tok.string if is_field else None
            line_start = False
        if tok.type == tokenize.NEWLINE:
            line_start = True
        previous = tok.type
    return {name: " ".join(parts) for name, parts in comments.items()}


_LAYOUT = (tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.COMMENT, tokenize.NEWLINE)


def option_text(value: Any) -> str:
    """A value as a `key=value` override writes it: strings as they are, the rest as JSON
    (`null`, `true`, `[256,512]`), which the override parser reads back as the same value."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def sections_read(cfg: Any) -> list[str]:
    """The option sections of a config that its recipe reads, in config.yaml's order."""
    return [
        f.name
        for f in dataclasses.fields(cfg)
        if dataclasses.is_dataclass(getattr(cfg, f.name))
        and config_mod.reads(cfg.recipe, f"{f.name}.x=")
    ]


def list_options(preset: str | None = None) -> list[OptionDoc]:
    """Every option the recipe of `preset` (default: the default preset) reads, with the preset's
    value as its default."""
    cfg = config_mod.from_preset(config_mod.DEFAULT_PRESET if preset is None else preset)
    docs = []
    for section in sections_read(cfg):
        values = getattr(cfg, section)
        meanings = field_comments(type(values))
        for f in dataclasses.fields(values):
            docs.append(
                OptionDoc(
                    key=f"{section}.{f.name}",
                    default=option_text(getattr(values, f.name)),
                    type=str(f.type),
                    meaning=meanings[f.name],
                )
            )
    return docs
