"""The `reconcile` command: corrections for the records that would charge wrongly."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import polars as pl
import typer

from sonalyze.cli.commands import _printer, app
from sonalyze.cli.samples import Invocation, every_job_process, shared_parameters, with_options
from sonalyze.errors import UsageError
from sonalyze.streams.merge import merge_streams
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.scans import scan_sacct
from sonalyze.tables.source import FileListSource
from sonalyze.tables.window import Window, parse_time
from sonalyze.verbs import efficiency as eff
from sonalyze.verbs import reconcile as rec

REPORT = "Report"
RECORD_LOOKAHEAD = timedelta(days=31)

_BEFORE, _AFTER = shared_parameters(records=False)
_BEFORE = [p for p in _BEFORE if p.name not in ("files", "from_", "to")]


@app.command("reconcile")
@with_options(_BEFORE, _AFTER)
def reconcile_cmd(
    since: Annotated[str, typer.Option(metavar="TIME", help="Check jobs from this time: YYYY-MM-DD, Nd, Nw or ISO.", rich_help_panel=REPORT)] = "7d",
    until: Annotated[str | None, typer.Option(metavar="TIME", help="... up to this time [default: now].", rich_help_panel=REPORT)] = None,
    now: Annotated[str | None, typer.Option(metavar="TIME", help="Judge running jobs against this time instead of the clock.", rich_help_panel=REPORT)] = None,
    tolerance: Annotated[float, typer.Option(metavar="SHARE", min=0, help="Report charges that differ by more than this share.", rich_help_panel=REPORT)] = 0.10,
    **options: Any,
) -> None:
    """Find the inconsistencies between Slurm's records and the samples that lead to
    wrong charges -- duplicated or conflicting records, steps without a job, jobs left
    RUNNING that have ended, jobs in one source only, charges that differ -- and print
    each as a correction (job, field, old, new, reason); a count per kind goes to stderr."""  # fmt: skip
    printer = _printer(rec.INFO, options["fmt"], options["query"])
    if printer is None:
        return
    clock = datetime.now(UTC).replace(microsecond=0)
    at = parse_time(now, now=clock, end_of_day=False, option="--now") if now else clock
    start = parse_time(since, now=at, end_of_day=False, option="--since")
    end = parse_time(until, now=at, end_of_day=True, option="--until") if until else at
    if start > end:
        raise UsageError("--since is after --until")
    run = Invocation({**options, "files": None, "from_": start.isoformat(), "to": end.isoformat()})
    if run.window is None or isinstance(run.store.source, FileListSource):
        raise UsageError("reconcile needs a data tree (--data-dir or --jobanalyzer-dir)")
    later = Window(run.window.start, run.window.end + RECORD_LOOKAHEAD)
    raw = _records_with_files(run, later)
    latest = scan_sacct(run.store, later).collect()
    jobs = eff.slurm_jobs(latest)
    streams = run.streams(every_job_process())
    merged = merge_streams(streams, "job")
    sonar = eff.sonar_usage(merged)
    interval = eff.sampling_interval(sonar)
    opts = rec.ReconcileOptions(at, run.window.start, run.window.end, interval, tolerance)
    rows = eff.run(jobs, sonar, eff.EfficiencyOptions(at, interval))
    found = pl.concat([
        rec.duplicates(raw),
        rec.orphan_steps(latest),
        rec.stale_states(jobs, sonar, opts),
        rec.missing(jobs, sonar, streams.select("host", "t").unique()),
        rec.charge_differences(rows, opts),
    ])  # fmt: skip
    printer.print(found)
    counts = found.group_by("kind", maintain_order=True).len()
    log = ", ".join(f"{n} {k}" for k, n in counts.iter_rows()) or "nothing"
    sys.stderr.write(f"sonalyze: reconcile {run.window.start:%Y-%m-%d}..{run.window.end:%Y-%m-%d}: "
                     f"{log}\n")  # fmt: skip
    run.finish()


def _records_with_files(run: Invocation, window: Window) -> pl.DataFrame:
    """Every job and step record as read, with the file it came from (relative to the tree)."""
    files = run.store.source.files("sacct", window, HostFilter())
    frames = []
    for selected, parsed in zip(files, run.store.parse_all(files), strict=True):
        if parsed.frame.height:
            name = "/".join(selected.path.parts[-4:])
            frames.append(parsed.frame.with_columns(pl.lit(name).alias("_file")))
    return pl.concat(frames, how="vertical_relaxed") if frames else pl.DataFrame()
