"""The documentation cannot rot: it builds with `mkdocs build --strict`, its generated pages match the
config schema and the command line, its commands parse, and it points nowhere outside the repository."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs import generate

ROOT = generate.ROOT
PAGES = sorted(generate.DOCS.glob("*.md"))
USER_FACING = [ROOT / "README.md", *PAGES]


def _code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def test_mkdocs_build_strict_passes(tmp_path) -> None:
    """Broken links, missing pages and pages left out of the build fail the build."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


@pytest.mark.parametrize("page", sorted(generate.BLOCKS))
def test_generated_blocks_are_current(page: str) -> None:
    text = (generate.DOCS / page).read_text()
    assert generate.render(text, generate.BLOCKS[page]) == text, \
        f"docs/{page} is stale: run `python -m tests.docs.generate`"


def test_every_config_field_is_documented() -> None:
    from engine.config import RunConfig

    text = (generate.DOCS / "configuration.md").read_text()
    for name in RunConfig.model_fields:
        assert f"| `{name}` |" in text, name


def test_cli_page_lists_every_command_of_mvssl_help() -> None:
    """`mvssl --help` and each sub-command's help, against the reference page."""
    from engine.cli import build_parser

    out = subprocess.run([sys.executable, "-m", "engine.cli", "--help"], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    listed = out.split("{", 1)[1].split("}", 1)[0].split(",")
    page = (generate.DOCS / "cli.md").read_text()
    sections = dict(re.findall(r"^### `(mvssl [^`]+)`\n(.*?)(?=^### |\Z)", page, re.S | re.M))
    assert [name for name in listed if f"mvssl {name}" not in sections] == []

    def check(path: str, parser) -> None:
        for option in set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", parser.format_help())) - {"-h", "--help"}:
            assert option in sections[path], f"{path}: {option} is not in docs/cli.md"
        for name, (_, sub) in generate._subcommands(parser).items():
            check(f"{path} {name}", sub)

    for name, (_, sub) in generate._subcommands(build_parser()).items():
        check(f"mvssl {name}", sub)


def test_every_shell_command_in_the_docs_parses() -> None:
    """`mvssl ...` lines of the sh examples are valid command lines; `make X` names a Makefile target."""
    from engine.cli import build_parser

    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    checked = 0
    for path in USER_FACING:
        for block in _code_blocks(path.read_text(), "sh"):
            for line in block.replace("\\\n", " ").splitlines():  # a continued line is one command
                words = shlex.split(line, comments=True)
                if words[:1] == ["mvssl"]:
                    try:
                        build_parser().parse_args(words[1:])
                    except SystemExit:
                        pytest.fail(f"{path.name}: `{line}` does not parse")
                    checked += 1
                elif words[:1] == ["make"]:
                    assert set(words[1:]) <= targets, f"{path.name}: `{line}`"
    assert checked >= 10


def test_every_python_example_is_one_that_a_test_runs() -> None:
    """A Python block in the docs is marked as an example, and each marked example is run by a test."""
    tested = {"notebook example": "tests/engine/export/test_api.py"}
    for path in USER_FACING:
        text = path.read_text()
        blocks = len(_code_blocks(text, "python"))
        marked = re.findall(r"<!-- ([\w ]+example) -->\n```python\n", text)
        assert len(marked) == blocks, f"{path.name}: a Python block without an example marker"
        for name in marked:
            assert name in tested and name in (ROOT / tested[name]).read_text(), f"{path.name}: {name} is not run"


def test_nothing_user_facing_points_outside_the_repository() -> None:
    from engine.cli import build_parser

    texts = {path.name: path.read_text() for path in USER_FACING}
    texts["mvssl --help"] = build_parser().format_help()
    for source in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("workbench/**/*.py")]:
        texts[str(source.relative_to(ROOT))] = source.read_text()
    for name, text in texts.items():
        assert not re.search(r"\.\./shared|(?<![\w.-])shared/", text), f"{name} mentions a path outside the repository"


def _command_table_is_whole(text: str) -> bool:
    """One table holds every command row: no blank line splits it."""
    tables = [table for table in re.findall(r"(?:^\|.*\n)+", text, re.M) if "| `mvssl " in table]
    return len(tables) == 1 and "`mvssl gui" in tables[0] and "`mvssl speed" in tables[0]


def test_the_command_tables_are_not_split() -> None:
    assert _command_table_is_whole((generate.DOCS / "cli.md").read_text().split("## Reference")[0])


def test_readme_is_an_entry_point() -> None:
    text = (ROOT / "README.md").read_text()
    lines = text.splitlines()
    head = "\n".join(lines[:60])
    assert len(lines) <= 250
    assert "make run" in head and "make test" in head and "![" in head and "assets/screenshots/" in head
    assert _command_table_is_whole(text)
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).exists(), link


def test_the_install_lines_are_the_ones_make_run_prints() -> None:
    from workbench import syslibs

    for path in (ROOT / "README.md", generate.DOCS / "getting-started.md"):
        text = path.read_text()
        for line in (syslibs.APT_LINE, syslibs.DNF_LINE, syslibs.BREW_LINE):
            assert f"`{line}`" in text, f"{path.name}: {line}"
