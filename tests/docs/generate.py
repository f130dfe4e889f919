"""The generated parts of the documentation: every RunConfig field (docs/configuration.md) and every
command and option of `mvssl` (docs/cli.md), from the schema and the argument parser themselves.

`python -m tests.docs.generate` rewrites the blocks between the markers; tests/docs/test_docs.py fails
when a page differs from what this would write, so the pages cannot fall behind the code.
"""
from __future__ import annotations

import argparse
import re
import sys
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
END = "<!-- end generated -->"


def marker(name: str) -> str:
    return f"<!-- generated: {name} (python -m tests.docs.generate) -->"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in get_args(annotation))
    if origin in (Union, types.UnionType):
        names = [_type_name(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(names) + (" or empty" if type(None) in get_args(annotation) else "")
    return getattr(annotation, "__name__", str(annotation))


def _bounds(metadata: list[Any]) -> str:
    signs = {Ge: ("≥", "ge"), Gt: (">", "gt"), Le: ("≤", "le"), Lt: ("<", "lt")}
    parts = []
    for item in metadata:
        for kind, (sign, attr) in signs.items():
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attr)}")
    return ", ".join(parts)


def _value(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return str(value).lower()
    return f"`{value}`"


def config_fields() -> str:
    """One row per RunConfig field: type, allowed range, default, the demo and paper presets' values."""
    from engine import config

    demo, paper = config.build("demo").model_dump(), config.build("paper").model_dump()
    rows = ["| field | type | allowed | default | demo preset | paper preset | what it is |",
            "|---|---|---|---|---|---|---|"]
    for name, info in config.RunConfig.model_fields.items():
        rows.append(f"| `{name}` | {_type_name(info.annotation)} | {_bounds(info.metadata)} | {_value(info.default)} "
                    f"| {_value(demo[name])} | {_value(paper[name])} | {_cell(info.description or '')} |")
    return "\n".join(rows)


def method_defaults() -> str:
    """The values a method starts from on top of the preset (engine.methods registry)."""
    from engine.config import PRESETS
    from engine.methods import PRETEXTS, method_defaults as defaults_of

    rows = ["| method | preset | values on top of the preset |", "|---|---|---|"]
    for method in PRETEXTS:
        for preset in PRESETS:
            values = defaults_of(preset, method)
            if values:
                shown = ", ".join(f"`{k} = {_value(v).strip('`')}`" for k, v in values.items())
                rows.append(f"| `{method}` | `{preset}` | {shown} |")
    return "\n".join(rows)


def loss_configs() -> str:
    """Each method's loss config (a frozen dataclass whose defaults are the paper's values), and which of
    its fields a run's config sets."""
    import dataclasses

    from engine.config import RunConfig
    from engine.methods import PRETEXTS

    rows = ["| method | loss config | field = default | set from the run's config |", "|---|---|---|---|"]
    for method, spec in PRETEXTS.items():
        config = spec.config
        shown = ", ".join(f"`{f.name} = {getattr(config, f.name)}`" for f in dataclasses.fields(config))
        from_run = ", ".join(f"`{name}`" for name in spec.from_run(RunConfig(method=method)))
        rows.append(f"| `{method}` | `{spec.config_class}` | {shown} | {from_run} |")
    return "\n".join(rows)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[str, argparse.ArgumentParser]]:
    out: dict[str, tuple[str, argparse.ArgumentParser]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                out[name] = (helps.get(name, ""), sub)
    return out


def _invocation(action: argparse.Action) -> str:
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        metavar = "{" + ",".join(str(c) for c in action.choices) + "}"
    else:
        metavar = action.metavar or action.dest.upper()
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    takes_value = action.nargs != 0
    names = ", ".join(action.option_strings)
    return f"`{names} {metavar}`" if takes_value else f"`{names}`"


def _command(path: str, summary: str, parser: argparse.ArgumentParser) -> list[str]:
    lines = [f"### `{path}`", "", _cell(summary or parser.description or ""), ""]
    formatter = parser._get_formatter()
    actions = [a for a in parser._actions
               if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]
    if actions:
        lines += ["| argument | what it does |", "|---|---|"]
        for action in actions:
            text = formatter._expand_help(action) if action.help else ""
            if action.required and action.option_strings:
                text = f"required. {text}".strip()
            lines.append(f"| {_cell(_invocation(action))} | {_cell(text)} |")
        lines.append("")
    for name, (help_text, sub) in _subcommands(parser).items():
        lines += _command(f"{path} {name}", help_text, sub)
    return lines


def cli_reference() -> str:
    """Every command of `mvssl`, in the parser's order, with its arguments and their help."""
    from engine.cli import build_parser

    lines: list[str] = []
    for name, (help_text, sub) in _subcommands(build_parser()).items():
        lines += _command(f"mvssl {name}", help_text, sub)
    return "\n".join(lines).rstrip()


def _docstring(module: str) -> str:
    import importlib

    return importlib.import_module(module).__doc__ or ""


def run_directory() -> str:
    """The run directory's files, as engine.rundir.layout (their one owner) lists them."""
    return "```\n" + _docstring("engine.rundir.layout").split("```", 2)[1].strip("\n") + "\n```"


def protocol_messages() -> str:
    """The request and push types of the engine's socket protocol, from engine.service.protocol."""
    text = _docstring("engine.service.protocol")
    return text[text.index("Request types"):].strip()


BLOCKS = {  # page -> {block name: generator}
    "configuration.md": {"config-fields": config_fields, "method-defaults": method_defaults},
    "cli.md": {"cli-reference": cli_reference},
    "methods.md": {"loss-configs": loss_configs},
    "architecture.md": {"run-directory": run_directory, "protocol": protocol_messages},
}


def render(text: str, blocks: dict[str, Any]) -> str:
    """`text` with each generated block replaced by what its generator writes now."""
    for name, generate in blocks.items():
        start = marker(name)
        pattern = re.compile(re.escape(start) + r"\n.*?" + re.escape(END), re.S)
        if not pattern.search(text):
            raise ValueError(f"no block '{start} ... {END}'")
        text = pattern.sub(lambda _: f"{start}\n{generate()}\n{END}", text)
    return text


def main() -> int:
    for page, blocks in BLOCKS.items():
        path = DOCS / page
        path.write_text(render(path.read_text(), blocks))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
