"""The `fairshare` command (alias `sshare`): fair-share over an account tree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from sonalyze.cli import options as o
from sonalyze.cli.commands import _printer, app
from sonalyze.errors import DataSourceError, UsageError
from sonalyze.verbs import fairshare as fs


@app.command("fairshare")
def fairshare_cmd(
    tree: Annotated[Path, typer.Option("--tree", metavar="FILE", help="A share tree with usage, as flux's fairshare-emulate reads it: {\"root\": {\"bank\", \"shares\", \"usage\", \"children\": [...]}}.")],
    algorithm: Annotated[str, typer.Option(metavar="NAME", help="flux (flux-accounting's weighted tree), fairtree (Slurm's Fair Tree) or classic (Slurm's classic).")] = "fairtree",
    damping: Annotated[float, typer.Option(metavar="FACTOR", min=1e-9, help="classic: Slurm's FairShareDampeningFactor.")] = 1.0,
    fmt: o.Fmt = None,
    query: o.Query = None,
) -> None:
    """Shares, usage and the fair-share factor of every account and user, in sshare's
    columns, by flux-accounting's or Slurm's algorithm, from a tree that carries usage."""  # fmt: skip
    if fmt is not None and fmt.strip().lower() == "json":
        fmt = "json,all"  # JSON carries the LevelFSInf flag next to a null LevelFS
    printer = _printer(fs.INFO, fmt, query)
    if printer is None:
        return
    if algorithm not in fs.ALGORITHMS:
        raise UsageError(f"Invalid --algorithm {algorithm!r}: one of {', '.join(fs.ALGORITHMS)}")
    try:
        doc = json.loads(tree.read_text())
    except FileNotFoundError:
        raise DataSourceError(f"No such tree file: {tree}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataSourceError(f"Cannot read {tree}: {e}") from None
    except ValueError as e:
        raise UsageError(f"{tree} is not valid JSON: {e}") from None
    root = fs.parse_tree(doc)
    fs.compute(root, algorithm, damping)
    indent = printer.opts.format == "fixed"
    printer.print(fs.rows(root, algorithm, indent=indent))


app.command("sshare", help="Alias for fairshare.", hidden=True)(fairshare_cmd)
