"""`cluster`: the clusters of a Jobanalyzer store, with descriptions and aliases."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from sonalyze.errors import DataSourceError
from sonalyze.output.fields import Field, FieldTable
from sonalyze.verbs import VerbInfo

F = Field
FIELDS = FieldTable(
    (
        F("Name", "str", "name", "Cluster name", ("cluster",)),
        F("Description", "str", "description", "Human-consumable cluster summary", ("desc",)),
        F("Aliases", "strings", "aliases", "Aliases of cluster", ("aliases",)),
    ),
    groups={
        "all": ("cluster", "desc", "aliases"),
        "All": ("Name", "Description", "Aliases"),
        "default": ("cluster", "aliases", "desc"),
        "Default": ("Name", "Aliases", "Description"),
    },
)

INFO = VerbInfo(
    "cluster",
    (),
    "Print the clusters in a Jobanalyzer store, with descriptions and aliases.",
    FIELDS,
)


def anonymous(data_dir: Path) -> pl.LazyFrame:
    """The one cluster of a bare data directory, named as the reference names it."""
    if not data_dir.is_dir():
        raise DataSourceError(f"Data directory {data_dir} does not exist")
    return pl.LazyFrame(
        {
            "name": [f"{data_dir.name}.data"],
            "description": [f"anonymous data cluster {data_dir}"],
            "aliases": [[]],
        },
        schema={"name": pl.String, "description": pl.String, "aliases": pl.List(pl.String)},
    )


def run(clusters: pl.LazyFrame) -> pl.LazyFrame:
    """Clusters sorted by name."""
    return clusters.sort("name")
