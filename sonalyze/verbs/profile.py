"""`profile`: one job's processes over time, a column per process.

Each process stream's samples are placed on a minute grid (rounded to the
nearest minute; the later sample wins when two fall in one minute), values
may be clamped (`--max`, memory in GiB) and consecutive rows averaged
(`--bucket N`).  The result prints as the reference does: fixed (a line per
process per minute), csv/awk (a matrix of one quantity), json (rows with
points) or html (a Chart.js page).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from sonalyze.output.fields import Field, FieldTable
from sonalyze.streams.floatsum import round_half_away
from sonalyze.verbs import VerbInfo

_KIB_PER_GIB = 1024 * 1024

F = Field
FIELDS = FieldTable(
    (
        F("Timestamp", "datetime", "time", "Time of the start of the profiling bucket",
          ("time",)),
        F("Hostname", "str", "host", "Host on which process ran", ("host",)),
        F("CpuUtilPct", "int", "cpu", "CPU utilization in percent, 100% = 1 core (except for HTML)",
          ("cpu",)),
        F("VirtualMemGB", "int", "mem", "Main virtual memory usage in GiB", ("mem",)),
        F("ResidentMemGB", "int", "res", "Main resident memory usage in GiB", ("res", "rss")),
        F("Gpu", "int", "gpu", "GPU utilization in percent, 100% = 1 card (except for HTML)",
          ("gpu",)),
        F("GpuMemGB", "int", "gpumem", "GPU resident memory usage in GiB (across all cards)",
          ("gpumem",)),
        F("Command", "str", "cmd", "Name of executable starting the process", ("cmd",)),
        F("NumProcs", "str", "nproc", "Number of rolled-up processes, blank for zero",
          ("nproc",)),
    ),
    groups={
        "default": ("time", "cpu", "mem", "gpu", "gpumem", "cmd"),
        "Default": ("Timestamp", "CpuUtilPct", "VirtualMemGB", "Gpu", "GpuMemGB", "Command"),
        "all": ("time", "host", "cpu", "mem", "res", "gpu", "gpumem", "nproc", "cmd"),
        "All": ("Timestamp", "Hostname", "CpuUtilPct", "VirtualMemGB", "ResidentMemGB", "Gpu",
                "GpuMemGB", "NumProcs", "Command"),
    },
)  # fmt: skip

INFO = VerbInfo(
    "profile",
    (),
    "Print one job's processes over time: CPU, memory and GPU per process per minute.",
    FIELDS,
)

# The quantity a matrix (csv, awk, html) shows, by field column: (sample column, is memory).
QUANTITIES = {"cpu": ("cpu_util_pct", False), "mem": ("cpu_kib", True),
              "res": ("rssanon_kib", True), "gpu": ("gpu_pct", False), "gpumem": ("gpu_kib", True)}  # fmt: skip
CAPTIONS = {
    "cpu": "Y axis: Number of CPU cores (1.0 = 1 core at 100%)",
    "mem": "Y axis: Virtual primary memory in GB",
    "res": "Y axis: Resident primary memory in GB",
    "gpu": "Y axis: Number of GPU cards in use (1.0 = 1 card at 100%)",
    "gpumem": "Y axis: Real GPU memory in GB",
}


@dataclass(frozen=True)
class ProfileOptions:
    """Clamping and bucketing of `profile`."""

    max: float = 0.0
    bucket: int = 0


@dataclass(frozen=True)
class Profile:
    """The grid: `cells` (row, proc, values, sample attributes) and `procs` (one per column)."""

    cells: pl.DataFrame
    procs: pl.DataFrame
    many_hosts: bool
    rolled_up: bool


def _minute(t: pl.Expr) -> pl.Expr:
    s = t % 60
    return pl.when(s < 30).then(t - s).otherwise(t + 60 - s)


def _clamp(value: pl.Expr, limit: float) -> pl.Expr:
    # The reference's noise rule: up to the limit as is, up to twice it clamped, beyond it 0.
    return pl.when(value <= limit).then(value).when(value <= 2 * limit).then(limit).otherwise(0)


def build(streams: pl.DataFrame, opts: ProfileOptions) -> Profile:
    """The profile grid of one job's streams (from `build_streams`)."""
    # COMPAT(profile-order): processes by first time, command, pid, then host.
    procs = (
        streams.group_by("stream").agg(
            pl.col("t").first(), pl.col("cmd").first(), pl.col("pid").first(),
            pl.col("host").first())  # fmt: skip
        .sort("t", "cmd", "pid", "host")
        .with_row_index("proc")
    )
    many_hosts = procs["host"].n_unique() > 1
    # COMPAT(profile-pid): a rolled-up process shows its pid, 0; each stream is its own column.
    label = pl.col("pid").cast(pl.String)
    if many_hosts:
        label = label + pl.lit("@") + pl.col("host")
    procs = procs.with_columns(label.alias("label"))
    cells = (
        streams.join(procs.select("stream", "proc"), on="stream")
        .with_columns(_minute(pl.col("t")).alias("row"))
        .sort("proc", "t")
        .group_by("proc", "row", maintain_order=True)
        .last()
        .select("proc", "row", "t", "host", "cmd", "job", "rolledup", "user",
                pl.col("cpu_util_pct").cast(pl.Float64), pl.col("gpu_pct").cast(pl.Float64),
                "cpu_kib", "rssanon_kib", "gpu_kib")  # fmt: skip
    )
    if opts.max > 0:
        kib_limit = int(opts.max * _KIB_PER_GIB)
        cells = cells.with_columns(
            _clamp(pl.col("cpu_util_pct"), opts.max), _clamp(pl.col("gpu_pct"), opts.max),
            *(_clamp(pl.col(c), kib_limit).cast(pl.UInt64).alias(c)
              for c in ("cpu_kib", "rssanon_kib", "gpu_kib")),
        )  # fmt: skip
    if opts.bucket > 1:
        rows = cells.select("row").unique().sort("row").with_row_index("i")
        chunk = (pl.col("i") // opts.bucket).alias("chunk")
        rows = rows.with_columns(chunk)
        middle = rows.group_by("chunk").agg(pl.col("row").gather(pl.len() // 2).first().alias("new"))
        cells = (
            cells.join(rows.join(middle, on="chunk").select("row", "chunk", "new"), on="row")
            .sort("proc", "row")
            .group_by("proc", "chunk", maintain_order=True)
            .agg(pl.col("new").first().alias("row"),
                 *(pl.col(c).last() for c in ("t", "host", "cmd", "job", "rolledup", "user")),
                 pl.col("cpu_util_pct").mean(), pl.col("gpu_pct").mean(),
                 *(pl.col(c).sum() // pl.len() for c in ("cpu_kib", "rssanon_kib", "gpu_kib")))
            .drop("chunk")
        )  # fmt: skip
    cells = cells.sort("row", "proc")
    return Profile(cells, procs, many_hosts, bool((streams["rolledup"].fill_null(0) > 0).any()))


def _gib_round(kib: str) -> pl.Expr:
    return round_half_away(pl.col(kib).cast(pl.Float64) / _KIB_PER_GIB)


def fixed_rows(p: Profile) -> pl.DataFrame:
    """One line per process per row; the time only on each row's first line."""
    first_of_row = (pl.col("row") != pl.col("row").shift(1)).fill_null(True)
    return p.cells.select(
        pl.when(first_of_row).then(pl.from_epoch("t", "s").dt.replace_time_zone("UTC"))
        .alias("time"),
        "host", "cmd",
        round_half_away(pl.col("cpu_util_pct")).alias("cpu"), _gib_round("cpu_kib").alias("mem"),
        _gib_round("rssanon_kib").alias("res"), round_half_away(pl.col("gpu_pct")).alias("gpu"),
        _gib_round("gpu_kib").alias("gpumem"),
        pl.when(pl.col("rolledup") > 0).then((pl.col("rolledup") + 1).cast(pl.String))
        .otherwise(pl.lit("")).alias("nproc"),
    )  # fmt: skip


def _matrix(p: Profile, quantity: str, text: pl.Expr) -> pl.DataFrame:
    wide = p.cells.select("row", "proc", text.alias("v")).pivot(
        on="proc", index="row", values="v", sort_columns=False)
    procs = [str(i) for i in p.procs["proc"].to_list()]
    for name in procs:
        if name not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.String).alias(name))
    return wide.sort("row").select("row", *procs)


def _value_text(quantity: str) -> pl.Expr:
    column, memory = QUANTITIES[quantity]
    value = pl.col(column).cast(pl.Float64)
    return round_half_away(value / _KIB_PER_GIB if memory else value).cast(pl.String)


def _row_time(row: pl.Expr) -> pl.Expr:
    return pl.from_epoch(row, "s").dt.strftime("%Y-%m-%d %H:%M")


def matrix_text(p: Profile, quantity: str, fmt: str, header: bool) -> str:
    """The csv or awk matrix: a row per minute, a column per process."""
    wide = _matrix(p, quantity, _value_text(quantity))
    names = [f"{c} ({lab})" for c, lab in zip(p.procs["cmd"], p.procs["label"], strict=True)]
    cells = [_row_time(pl.col("row")), *(pl.col(c) for c in wide.columns[1:])]
    if fmt == "awk":
        cells = [c.fill_null(".").str.replace_all(" ", "_", literal=True) for c in cells]
        awk_names = [f"{c}({lab})".replace(" ", "_")
                     for c, lab in zip(p.procs["cmd"], p.procs["label"], strict=True)]  # fmt: skip
        head = " ".join(["time", *awk_names])
        lines = wide.select(pl.concat_str(cells, separator=" ")).to_series().to_list()
        return "".join(x + "\n" for x in ([head] if header else []) + lines)
    from sonalyze.output.render import csv_cell

    quoted = [csv_cell(c.fill_null("")) for c in cells]
    lines = wide.select(pl.concat_str(quoted, separator=",")).to_series().to_list()
    head = ",".join(pl.select(csv_cell(pl.lit(n))).item() for n in ["time", *names])
    return "".join(x + "\n" for x in ([head] if header else []) + lines)


def json_text(p: Profile, no_memory: bool) -> str:
    """Rows with their points, as the reference's JSON."""
    points = p.cells.join(p.procs.select("proc", pl.col("pid").alias("shown_pid")), on="proc")
    out = []
    for (row,), part in points.group_by("row", maintain_order=True):
        items = []
        for r in part.iter_rows(named=True):
            point: dict[str, object] = {"command": r["cmd"]}
            if p.many_hosts:
                point["host"] = r["host"]
            mem = 0 if no_memory else (r["cpu_kib"] or 0) // _KIB_PER_GIB
            gpumem = 0 if no_memory else (r["gpu_kib"] or 0) // _KIB_PER_GIB
            point.update(pid=r["shown_pid"], cpu=_half_away(r["cpu_util_pct"]), mem=mem,
                         res=_half_away((r["rssanon_kib"] or 0) / _KIB_PER_GIB),
                         gpu=_half_away(r["gpu_pct"]), gpumem=gpumem,
                         nproc=(r["rolledup"] or 0) + 1)  # fmt: skip
            items.append(point)
        stamp = pl.select(_row_time(pl.lit(row))).item()
        out.append({"time": stamp, "job": part["job"][0], "points": items})
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False) + "\n"


def _half_away(x: float | None) -> int:
    x = x or 0.0
    return int(x + 0.5) if x >= 0 else -int(-x + 0.5)


def html_text(p: Profile, quantity: str, typed: str, job: int, bucket: int) -> str:
    """A standalone page drawing the quantity per process with Chart.js."""
    column, memory = QUANTITIES[quantity]
    value = pl.col(column).cast(pl.Float64)
    text = (round_half_away(value / _KIB_PER_GIB).cast(pl.String) if memory
            else (value / 100).round(1).cast(pl.String))  # fmt: skip
    wide = _matrix(p, quantity, text)
    labels = ",".join(f'"{t}"' for t in wide.select(_row_time(pl.col("row"))).to_series())
    sets = []
    for proc, (cmd, lab) in zip(wide.columns[1:], zip(p.procs["cmd"], p.procs["label"],
                                                       strict=True), strict=True):  # fmt: skip
        data = ",".join(v or "" for v in wide[proc].to_list())
        sets.append(f'{{label: {json.dumps(f"{cmd} ({lab})")}, data: [{data}]}}')
    hosts = ",".join(sorted(set(p.procs["host"].to_list())))
    user = p.cells.sort("proc", "row")["user"][0] if p.cells.height else ""
    title = f"`{typed}` profile of job {job} on `{hosts}`, user `{user}`"
    if bucket > 1:
        title += f", bucketing={bucket}"
    title = title.replace("&", "&amp;").replace("<", "&lt;")
    # COMPAT(profile-html): the page ends with </html>, and the title is escaped.
    return (f"\n<html>\n <head>\n  <title>{title}</title>\n"
            '  <script src="https://cdn.jsdelivr.net/npm/chart.js"></script>\n  <script>\n'
            f"var LABELS = [{labels}];\nvar DATASETS = [{','.join(sets)}];\n"
            "function render() {\n"
            '  new Chart(document.getElementById("chart_node"), {\n'
            "    type: 'line',\n    data: {\n      labels: LABELS,\n      datasets: DATASETS\n    },\n"
            "    options: { scales: { x: { beginAtZero: true }, y: { beginAtZero: true } } }\n"
            "  })\n}\n  </script>\n </head>\n"
            ' <body onload="render()">\n'
            f"  <center><h1>{title}</h1></center>\n"
            '  <div><canvas id="chart_node"></canvas></div>\n'
            f"  <center><b>X axis: UTC timestamp</b><br><b>{CAPTIONS[quantity]}</b></center>\n"
            " </body>\n</html>\n")  # fmt: skip
