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
    typer.Option("--data-dir", "--data-path", metavar="DIR", help="One cluster's data tree (YYYY/MM/DD/...).",
                 rich_help_panel=DATA),
]  # fmt: skip
JobanalyzerDir = Annotated[
    Path | None,
    typer.Option("--jobanalyzer-dir", metavar="DIR",
                 help="A Jobanalyzer store: data/<cluster>/... and cluster-config/.",
                 rich_help_panel=DATA),
]  # fmt: skip
Cluster = Annotated[
    str | None,
    typer.Option("--cluster", metavar="NAME", help="Cluster name or alias (with --jobanalyzer-dir).",
                 rich_help_panel=DATA),
]  # fmt: skip
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config-file", metavar="FILE", help="Cluster configuration file (JSON, v1 or v2).",
                 rich_help_panel=DATA),
]  # fmt: skip
CacheSize = Annotated[
    str | None,
    typer.Option("--cache", metavar="SIZE", help="Size of the parsed-file cache, e.g. 512M or 2G.",
                 rich_help_panel=DATA),
]  # fmt: skip
CacheDir = Annotated[
    str | None,
    typer.Option("--cache-dir", metavar="DIR",
                 help="Where parsed files are kept between runs ('off' to disable). "
                 "[default: $SONALYZE_CACHE_DIR or ~/.cache/sonalyze]", rich_help_panel=DATA),
]  # fmt: skip
Files = Annotated[
    list[Path] | None,
    typer.Argument(metavar="FILE...",
                   help="Data files given after --; their names tell their format.",
                   show_default=False),
]  # fmt: skip
From = Annotated[
    str | None,
    typer.Option("--from", "-f", metavar="TIME",
                 help="Start of window: YYYY-MM-DD, Nd, Nw, Nh (ago) or an ISO timestamp. "
                 "[default: 1d]", rich_help_panel=WINDOW),
]  # fmt: skip
To = Annotated[
    str | None,
    typer.Option("--to", "-t", metavar="TIME",
                 help="End of window, inclusive; a date means the end of that day. "
                 "[default: now]", rich_help_panel=WINDOW),
]  # fmt: skip
Host = Annotated[
    list[str] | None,
    typer.Option("--host", metavar="PATTERN", help="Host pattern, e.g. 'gpu-[1,4-8],c1-*' (repeatable).",
                 rich_help_panel=FILTER),
]  # fmt: skip
User = Annotated[
    list[str] | None,
    typer.Option("--user", "-u", metavar="USER", help="Select this user, '-' for all (repeatable, commas).",
                 rich_help_panel=FILTER),
]  # fmt: skip
ExcludeUser = Annotated[
    list[str] | None,
    typer.Option("--exclude-user", metavar="USER", help="Exclude this user (repeatable).", rich_help_panel=FILTER),
]  # fmt: skip
Job = Annotated[
    list[str] | None,
    typer.Option("--job", "-j", metavar="JOB", help="Select this job id (repeatable, commas).",
                 rich_help_panel=FILTER),
]  # fmt: skip
ExcludeJob = Annotated[
    list[str] | None,
    typer.Option("--exclude-job", metavar="JOB", help="Exclude this job id (repeatable).", rich_help_panel=FILTER),
]  # fmt: skip
Command = Annotated[
    list[str] | None,
    typer.Option("--command", metavar="CMD", help="Select this command name (repeatable).",
                 rich_help_panel=FILTER),
]  # fmt: skip
ExcludeCommand = Annotated[
    list[str] | None,
    typer.Option("--exclude-command", metavar="CMD", help="Exclude this command name (repeatable).",
                 rich_help_panel=FILTER),
]  # fmt: skip
Fmt = Annotated[
    str | None,
    typer.Option("--fmt", metavar="FIELDS,...",
                 help="Fields and format, e.g. 'csv,header,host,user' or 'json,all'; "
                 "--fmt=help lists the fields.", rich_help_panel=OUTPUT),
]  # fmt: skip
Query = Annotated[
    str | None,
    typer.Option("-q", "--query", metavar="EXPR", help="Keep rows matching, e.g. \"User = bob and CpuPct > 50\".",
                 rich_help_panel=OUTPUT),
]  # fmt: skip
Verbose = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="List every skipped record with file and line.",
                 rich_help_panel=OUTPUT),
]  # fmt: skip
ExcludeSystemJobs = Annotated[
    bool,
    typer.Option("--exclude-system-jobs", help="Exclude records of processes with pid < 1000.",
                 rich_help_panel=FILTER),
]  # fmt: skip
