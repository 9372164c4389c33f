"""Architecture rules: imports flow one way, and only the CLI prints or exits."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"ingest": 0, "tables": 1, "streams": 2, "verbs": 3, "query": 3, "output": 3, "cli": 4}
PACKAGE_DIRS = {"ingest": ROOT / "ingest", "tables": ROOT / "tables",
                "streams": ROOT / "sonalyze/streams",
                "verbs": ROOT / "sonalyze/verbs", "query": ROOT / "sonalyze/query",
                "output": ROOT / "sonalyze/output", "cli": ROOT / "sonalyze/cli"}  # fmt: skip


def layer_of_module(name: str) -> int | None:
    parts = name.split(".")
    if parts[0] != "sonalyze" or len(parts) < 2:
        return None
    return LAYERS.get(parts[1])


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


def test_no_layer_imports_a_higher_one() -> None:
    bad = []
    for layer, directory in PACKAGE_DIRS.items():
        for path in directory.glob("*.py"):
            for name in imports(path):
                target = layer_of_module(name)
                if target is not None and target > LAYERS[layer]:
                    bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_nothing_below_the_cli_prints_exits_or_uses_typer() -> None:
    bad = []
    for layer, directory in PACKAGE_DIRS.items():
        if layer == "cli":
            continue
        for path in directory.glob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                        node.func.id in ("print", "exit"):  # fmt: skip
                    bad.append(f"{path.name}: {node.func.id}()")
                if isinstance(node, ast.Attribute) and node.attr in ("exit", "stdout", "stderr") \
                        and isinstance(node.value, ast.Name) and node.value.id == "sys":  # fmt: skip
                    bad.append(f"{path.name}: sys.{node.attr}")
            if any(n.split(".")[0] == "typer" for n in imports(path)):
                bad.append(f"{path.name}: imports typer")
    assert bad == []


def test_small_queries_on_old_format_data_load_neither_arrow_nor_numpy() -> None:
    # Start-up is most of a small query's time: importing pyarrow and numpy would add
    # ~0.15 s to every `sacct`, `node` or `cluster` run (they are loaded only to read
    # new-format JSON or to step dense streams).
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from sonalyze.cli.main import main\n"
        f"data = ['--data-dir', {str(ROOT / 'testdata/tree/data/alpha')!r}]\n"
        "for argv in (['sacct', *data, '-f', '2025-01-01'], ['node', *data, '-f', '2025-01-01'],\n"
        "             ['cluster', *data]):\n"
        "    try:\n"
        "        main([*argv, '--fmt=csv'])\n"
        "    except SystemExit as e:\n"
        "        assert not e.code, (argv, e.code)\n"
        "print(sorted(m for m in ('pyarrow', 'numpy') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "SONALYZE_CACHE_DIR": "off"}, check=True)  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_every_verb_is_found_without_importing_every_command_module() -> None:
    # A run imports only its verb's command module (`COMMAND_MODULES`); a verb missing
    # from that map still runs, but pays for importing all of them.
    from sonalyze.cli.commands import COMMAND_MODULES

    registered = {}
    for path in (ROOT / "sonalyze/cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "command" and isinstance(node.func.value, ast.Name) \
                    and node.func.value.id == "app" and node.args:  # fmt: skip
                registered[node.args[0].value] = path.stem  # type: ignore[attr-defined]
    elsewhere = {verb: module for verb, module in registered.items() if module != "commands"}
    assert len(elsewhere) >= 15
    assert COMMAND_MODULES == elsewhere
