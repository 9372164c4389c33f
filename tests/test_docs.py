"""Docs stay true: every verb has a current page, modules are described, COMPAT keys exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from sonalyze.verbs import VERBS

ROOT = Path(__file__).resolve().parent.parent


def test_every_verb_has_a_page_and_pages_are_current() -> None:
    import typer

    from sonalyze.cli.commands import full_app

    for verb in VERBS:
        assert (ROOT / "docs" / f"{verb.name}.md").exists(), verb.name
    commands = typer.main.get_command(full_app()).commands  # type: ignore[attr-defined]
    visible = [n for n, c in commands.items() if not c.hidden and n not in ("cache", "version")]
    assert [n for n in visible if not (ROOT / "docs" / f"{n}.md").exists()] == []
    check = subprocess.run([sys.executable, "docs/generate.py", "--check"], cwd=ROOT,
                           capture_output=True, text=True)  # fmt: skip
    assert check.returncode == 0, check.stderr


def test_every_module_is_named_in_its_directory_readme() -> None:
    missing = []
    for directory in ("ingest", "tables", "sonalyze"):
        readme = (ROOT / directory / "README.md").read_text()
        for path in (ROOT / directory).rglob("*.py"):
            if path.name not in readme:
                missing.append(str(path.relative_to(ROOT)))
    assert missing == []


def test_every_compat_comment_has_an_entry() -> None:
    doc = (ROOT / "docs" / "compatibility.md").read_text()
    keys = set()
    for path in [*ROOT.glob("sonalyze/**/*.py"), *ROOT.glob("tables/*.py"),
                 *ROOT.glob("ingest/*.py")]:  # fmt: skip
        keys |= set(re.findall(r"COMPAT\(([\w-]+)\)", path.read_text()))
    assert keys, "expected COMPAT comments"
    assert sorted(k for k in keys if f"`{k}`" not in doc) == []
