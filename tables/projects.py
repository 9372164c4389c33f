"""Projects and their grants: `cluster-config/<cluster>-projects.csv` or `.json`.

One project per row or object, the content of UPPMAX's `projects` table:

    project, pi, members, type, start, end, core_hours[, gpu_hours]

`members` is a `;`-separated list in CSV, a list in JSON; `start` and `end`
are dates (the grant runs from the start of `start` to the end of `end`,
UTC); `core_hours` and `gpu_hours` are what was granted (`gpu_hours` may be
empty).  The project name is the Slurm account its jobs are charged to.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from sonalyze.errors import ConfigError
from sonalyze.tables.clusterconfig import cluster_file

SCHEMA: dict[str, pl.DataType] = {
    "project": pl.String(), "pi": pl.String(), "members": pl.List(pl.String()),
    "type": pl.String(), "start": pl.Date(), "end": pl.Date(), "core_hours": pl.Float64(),
    "gpu_hours": pl.Float64(),
}  # fmt: skip
REQUIRED = ("project", "start", "end", "core_hours")


def projects_file(config_dir: Path, cluster: str) -> Path | None:
    """The cluster's projects file, CSV or JSON, if there is one."""
    return cluster_file(config_dir, cluster, "projects", (".csv", ".json"))


def read_projects(path: Path) -> pl.DataFrame:
    """The projects in `path` (SCHEMA); one clear error for a malformed file."""
    try:
        if path.suffix == ".json":
            doc = json.loads(path.read_text())
            if not isinstance(doc, list) or not all(isinstance(o, dict) for o in doc):
                raise ConfigError(f"{path}: expected a JSON array of project objects")
            raw = pl.DataFrame([{k: o.get(k) for k in SCHEMA} for o in doc],
                               schema={k: pl.String for k in SCHEMA if k != "members"}
                               | {"members": pl.List(pl.String)}, strict=False)  # fmt: skip
        else:
            raw = pl.read_csv(path, infer_schema=False)
            if "members" in raw.columns:
                raw = raw.with_columns(pl.col("members").str.split(";"))
    except (OSError, ValueError, pl.exceptions.PolarsError) as e:
        raise ConfigError(f"Cannot read projects file {path}: {str(e).splitlines()[0]}") from None
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ConfigError(f"{path}: missing column(s) {', '.join(missing)}")
    for c in SCHEMA:
        if c not in raw.columns:
            raw = raw.with_columns(pl.lit(None, SCHEMA[c]).alias(c))
    typed = raw.select(
        pl.col("project").cast(pl.String).str.strip_chars(), pl.col("pi").cast(pl.String),
        "members", pl.col("type").cast(pl.String),
        pl.col("start").cast(pl.String).str.to_date("%Y-%m-%d", strict=False),
        pl.col("end").cast(pl.String).str.to_date("%Y-%m-%d", strict=False),
        pl.col("core_hours").cast(pl.Float64, strict=False),
        pl.col("gpu_hours").cast(pl.String).replace("", None).cast(pl.Float64, strict=False),
    )  # fmt: skip
    bad = typed.with_row_index("row").filter(
        pl.col("project").is_null() | (pl.col("project") == "") | pl.col("start").is_null()
        | pl.col("end").is_null() | pl.col("core_hours").is_null() | (pl.col("core_hours") < 0)
        | (pl.col("end") < pl.col("start"))
    )  # fmt: skip
    if bad.height:
        row = bad.row(0, named=True)
        raise ConfigError(f"{path}: project {row['project']!r} (entry {row['row'] + 1}) needs a "
                          "name, start <= end dates (YYYY-MM-DD) and core_hours >= 0")  # fmt: skip
    return typed
