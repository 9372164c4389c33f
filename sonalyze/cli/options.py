"""Options shared by the verbs, each declared once as an `Annotated` alias.

Names and meanings are the Go sonalyze's; its single-dash spellings
(`-from`, `-data-dir`) are accepted too (see `argv.py`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

DATA = "Data source"
WINDOW = "Time window"
FILTER = "Record filters"
OUTPUT = "Output"

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", "--data-path", help="One cluster's data tree (YYYY/MM/DD/...).",
                 rich_help_panel=DATA),
]  # fmt: skip
JobanalyzerDir = Annotated[
    Path | None,
    typer.Option("--jobanalyzer-dir",
                 help="A Jobanalyzer store: data/<cluster>/... and cluster-config/.",
                 rich_help_panel=DATA),
]  # fmt: skip
Cluster = Annotated[
    str | None,
    typer.Option("--cluster", help="Cluster name or alias (with --jobanalyzer-dir).",
                 rich_help_panel=DATA),
]  # fmt: skip
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config-file", help="Cluster configuration file (JSON, v1 or v2).",
                 rich_help_panel=DATA),
]  # fmt: skip
CacheSize = Annotated[
    str | None,
    typer.Option("--cache", help="Size of the parsed-file cache, e.g. 512M or 2G.",
                 rich_help_panel=DATA),
]  # fmt: skip
Files = Annotated[
    list[Path] | None,
    typer.Argument(help="Explicit data files (after --); their names tell their format.",
                   show_default=False),
]  # fmt: skip
From = Annotated[
    str | None,
    typer.Option("--from", "-f",
                 help="Start of window: YYYY-MM-DD, Nd, Nw, Nh (ago) or an ISO timestamp. "
                 "[default: 1d]", rich_help_panel=WINDOW),
]  # fmt: skip
To = Annotated[
    str | None,
    typer.Option("--to", "-t",
                 help="End of window, inclusive; a date means the end of that day. "
                 "[default: now]", rich_help_panel=WINDOW),
]  # fmt: skip
Host = Annotated[
    list[str] | None,
    typer.Option("--host", help="Host pattern, e.g. 'gpu-[1,4-8],c1-*' (repeatable).",
                 rich_help_panel=FILTER),
]  # fmt: skip
User = Annotated[
    list[str] | None,
    typer.Option("--user", "-u", help="Select this user, '-' for all (repeatable, commas).",
                 rich_help_panel=FILTER),
]  # fmt: skip
ExcludeUser = Annotated[
    list[str] | None,
    typer.Option("--exclude-user", help="Exclude this user (repeatable).", rich_help_panel=FILTER),
]  # fmt: skip
Job = Annotated[
    list[str] | None,
    typer.Option("--job", "-j", help="Select this job id (repeatable, commas).",
                 rich_help_panel=FILTER),
]  # fmt: skip
ExcludeJob = Annotated[
    list[str] | None,
    typer.Option("--exclude-job", help="Exclude this job id (repeatable).", rich_help_panel=FILTER),
]  # fmt: skip
Command = Annotated[
    list[str] | None,
    typer.Option("--command", help="Select this command name (repeatable).",
                 rich_help_panel=FILTER),
]  # fmt: skip
ExcludeCommand = Annotated[
    list[str] | None,
    typer.Option("--exclude-command", help="Exclude this command name (repeatable).",
                 rich_help_panel=FILTER),
]  # fmt: skip
Fmt = Annotated[
    str | None,
    typer.Option("--fmt",
                 help="Fields and format, e.g. 'csv,header,host,user' or 'json,all'; "
                 "--fmt=help lists the fields.", rich_help_panel=OUTPUT),
]  # fmt: skip
Query = Annotated[
    str | None,
    typer.Option("-q", "--query", help="Keep rows matching, e.g. \"User = bob and CpuPct > 50\".",
                 rich_help_panel=OUTPUT),
]  # fmt: skip
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="List every skipped record with file and line.",
                 rich_help_panel=OUTPUT),
]  # fmt: skip
