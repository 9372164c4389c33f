"""The `efficiency` command (alias `eff`): per-job table, `--summary --by`, and one job's card."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import polars as pl
import typer

from sonalyze.cli.commands import _printer, app
from sonalyze.cli.context import split_values
from sonalyze.cli.samples import (
    Invocation,
    every_job_process,
    shared_parameters,
    with_options,
)
from sonalyze.errors import UsageError
from sonalyze.output import colour
from sonalyze.streams.merge import Merged, merge_streams
from sonalyze.tables.scans import scan_sacct
from sonalyze.tables.source import FileListSource, JobanalyzerStore
from sonalyze.tables.window import Window, parse_duration, parse_time
from sonalyze.verbs import efficiency as eff

SELECT = "Job selection"
REPORT = "Report"
# Job records are filed by the day the job ended: look this far past the window for
# the records of jobs that ran in it.
RECORD_LOOKAHEAD = timedelta(days=7)


def _values(name: str, help_text: str, *short: str) -> object:
    return Annotated[list[str] | None, typer.Option(name, *short, metavar="VALUE", help=help_text,
                                                   rich_help_panel=SELECT)]  # fmt: skip


_BEFORE, _AFTER = shared_parameters(records=False)


@app.command("efficiency")
@with_options(_BEFORE, _AFTER)
def efficiency_cmd(
    user: _values("--user", "Only these users' jobs (repeatable, comma lists).", "-u") = None,  # type: ignore[valid-type]
    account: _values("--account", "Only these accounts (repeatable).") = None,  # type: ignore[valid-type]
    partition: _values("--partition", "Only these partitions (repeatable).") = None,  # type: ignore[valid-type]
    state: _values("--state", "Only jobs whose state starts with this, e.g. COMPLETED, OUT_OF_MEMORY (repeatable).") = None,  # type: ignore[valid-type]
    job: _values("--job", "Only these jobs: N (with its array tasks), N_T, N+O (repeatable).", "-j") = None,  # type: ignore[valid-type]
    min_runtime: Annotated[str | None, typer.Option(metavar="DURATION", help="Only jobs that ran at least this long, e.g. 30m.", rich_help_panel=SELECT)] = None,
    summary: Annotated[bool, typer.Option("--summary", help="One row per --by value instead of per job.", rich_help_panel=REPORT)] = False,
    by: Annotated[str, typer.Option(metavar="KEY", help="With --summary: user, account, partition, job_name or cmd.", rich_help_panel=REPORT)] = "user",
    interval: Annotated[int | None, typer.Option(metavar="MINUTES", min=1, help="Sonar's sampling interval, for coverage [default: as the samples show it].", rich_help_panel=REPORT)] = None,
    threshold: Annotated[list[str] | None, typer.Option(metavar="NAME=VALUE", help="Override a flag threshold, e.g. low_cpu=30 (repeatable; docs/efficiency.md).", rich_help_panel=REPORT)] = None,
    now: Annotated[str | None, typer.Option(metavar="TIME", help="Measure running jobs up to this time instead of the clock.", rich_help_panel=REPORT)] = None,
    **options: Any,
) -> None:
    """What each job was allocated against what it used: CPU, memory, GPU and time
    efficiency from Slurm's records and Sonar's samples, waste in resource-hours, flags
    and ready #SBATCH advice.  All users' jobs that ran in the window (default: today)."""  # fmt: skip
    info = eff.SUMMARY_INFO if summary else eff.INFO
    fmt = options["fmt"]
    if summary and (fmt is None or fmt.lower() in ("fixed", "csv", "csvnamed", "json", "awk")):
        fmt = f"{fmt + ',' if fmt else ''}{by},default"
    printer = _printer(info, fmt, options["query"])
    if printer is None:
        return
    if by not in eff.BY:
        raise UsageError(f"Invalid --by {by!r}: one of {', '.join(eff.BY)}")
    runtime = parse_duration(min_runtime) if min_runtime else 0
    if runtime is None:
        raise UsageError(f"Invalid --min-runtime value {min_runtime!r}: e.g. 30m or 2h")
    clock = datetime.now(UTC).replace(microsecond=0)
    at = parse_time(now, now=clock, end_of_day=False, option="--now") if now else clock
    run = Invocation(options)
    opts = eff.EfficiencyOptions(at, interval * 60 if interval else None, _thresholds(run, threshold))
    streams, merged = _sonar(run)
    hogs = eff.hog_samples(streams, opts.thresholds.hog_cores)
    usage = eff.sonar_usage(merged).join(_card_memory(run, merged), on="job_id", how="left")
    rows = eff.run(_slurm_jobs(run), usage, opts, hogs)
    rows = _select(rows, run.window, user, account, partition, state, job, runtime)
    if summary:
        rows = eff.summarize(rows, by)
    if job and not summary and options["fmt"] is None and rows.height == 1:
        sys.stdout.write(_card(rows.row(0, named=True), streams, merged))
    else:
        text = printer.text(printer.query(rows))
        if printer.opts.format == "fixed" and colour.wanted(sys.stdout):
            text = colour.colourize(text, _colour_rules(opts.thresholds))
        sys.stdout.write(text)
    run.finish()


def _colour_rules(t: eff.Thresholds) -> dict[str, colour.Rule]:
    """Red for waste, yellow for poor use or memory near the limit, green for good use."""
    use = colour.percent_rule(t.low_cpu, 50)
    flagged: colour.Rule = lambda cell: colour.YELLOW  # noqa: E731 - any flag is worth a look
    return {"cpu_eff": use, "CPUEff": use, "gpu_eff": use, "GPUEff": use,
            "time_eff": colour.percent_rule(t.low_time, 50),
            "TimeEff": colour.percent_rule(t.low_time, 50),
            "mem_eff": colour.percent_rule(t.low_mem, 50, t.near_mem),
            "MemEff": colour.percent_rule(t.low_mem, 50, t.near_mem),
            "flags": flagged, "Flags": flagged}  # fmt: skip


def _card(row: dict, streams: pl.DataFrame, merged: Merged) -> str:
    """The single-job card, with the job's profile and per-node figures from the samples."""
    found = merged.groups.filter(pl.col("job") == row["job_id"])["grp"]
    if not found.len():
        return eff.card(row, pl.DataFrame({"cores": []}), pl.DataFrame(
            schema={"host": pl.String, "cores_mean": pl.Float64, "mem_peak_gb": pl.Float64}))
    profile, per_node = eff.job_profile(merged.steps, streams, found[0], row["job_id"])
    return eff.card(row, profile, per_node)


def _card_memory(run: Invocation, merged: Merged) -> pl.DataFrame:
    """Per job, the memory of one GPU card of its nodes (the smallest), from sysinfo or
    the cluster config at the job's first sample; jobs on nodes without GPUs are left out."""
    groups = merged.groups.filter(pl.col("job") > 0)
    if not groups.height:
        return pl.DataFrame(schema={"job_id": pl.UInt64, "card_gb": pl.Float64})
    queries = groups.select(pl.col("job").cast(pl.UInt64).alias("job_id"), pl.col("hosts").alias("host"),
                            pl.col("t_first").alias("t")).explode("host")  # fmt: skip
    found = run.capacity_at(queries).filter(
        pl.col("known") & (pl.col("gpu_cards") > 0) & (pl.col("gpumem_gb") > 0))
    return found.group_by("job_id").agg(
        (pl.col("gpumem_gb").cast(pl.Float64) / pl.col("gpu_cards")).min().alias("card_gb"))


def _thresholds(run: Invocation, overrides: list[str] | None) -> eff.Thresholds:
    """Defaults, then the cluster's `<cluster>-efficiency.json` if any, then --threshold."""
    base = eff.Thresholds()
    jobanalyzer = run.options["jobanalyzer_dir"]
    cluster = run.store.cluster
    if jobanalyzer is not None and cluster:
        path = JobanalyzerStore(jobanalyzer).config_dir / f"{cluster}-efficiency.json"
        if path.is_file():
            import json

            try:
                doc = json.loads(path.read_text())
            except (ValueError, OSError) as e:
                raise UsageError(f"Cannot read {path}: {e}") from None
            if not isinstance(doc, dict):
                raise UsageError(f"{path}: expected a JSON object of thresholds")
            base = eff.Thresholds.parse([f"{k}={v}" for k, v in doc.items()], base)
    return eff.Thresholds.parse(split_values(overrides), base)


def _slurm_jobs(run: Invocation) -> pl.DataFrame:
    if isinstance(run.store.source, FileListSource) or run.window is None:
        return eff.slurm_jobs(pl.DataFrame())
    later = Window(run.window.start, run.window.end + RECORD_LOOKAHEAD)
    return eff.slurm_jobs(scan_sacct(run.store, later).collect())


def _sonar(run: Invocation) -> tuple[pl.DataFrame, Merged]:
    """The selected process streams, and the streams merged per job across hosts."""
    streams = run.streams(every_job_process())
    return streams, merge_streams(streams, "job")


def _select(rows: pl.DataFrame, window: Window | None, user, account, partition, state, job,
            runtime: int) -> pl.DataFrame:  # fmt: skip
    keep = pl.lit(True)
    if window is not None:  # jobs that ran in the window
        started = pl.col("start").is_null() | (pl.col("start") <= window.end)
        ended = pl.col("end").is_null() | (pl.col("end") >= window.start)
        keep &= started & ended
    for column, values in (("user", user), ("account", account), ("partition", partition)):
        if values:
            keep &= pl.col(column).is_in(split_values(values))
    if state:
        wanted = [s.upper() for s in split_values(state)]
        keep &= pl.any_horizontal(pl.col("state").fill_null("").str.starts_with(s) for s in wanted)
    if job:
        ids = split_values(job)
        whole = [int(i) for i in ids if i.isdigit()]
        keep &= pl.col("job").is_in(ids) | pl.col("job").str.extract(r"^(\d+)", 1).cast(
            pl.UInt64, strict=False).is_in(whole)  # fmt: skip
    if runtime:
        keep &= pl.col("elapsed_s") >= runtime
    return rows.filter(keep)


app.command("eff", help="Alias for efficiency.", hidden=True)(efficiency_cmd)
