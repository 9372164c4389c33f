"""Data intake: `add` (records from files or stdin), `ingest` (a spool) and `status`
(whether data are flowing)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from sonalyze.cli import options as o
from sonalyze.cli.commands import _printer, _store, app
from sonalyze.cli.context import hosts_of, report_problems
from sonalyze.errors import SonalyzeError, UsageError
from sonalyze.tables.add import Input, Target, add_inputs
from sonalyze.tables.append import AppendResult
from sonalyze.tables.rejects import write_rejects
from sonalyze.tables.source import JobanalyzerStore
from sonalyze.tables.spool import ingest_spool
from sonalyze.tables.status import host_status
from sonalyze.tables.window import Window, parse_duration, parse_time
from sonalyze.verbs import status

TYPES = "Record type (default: any; the format is recognised)"

Inputs = Annotated[
    list[Path] | None,
    typer.Argument(metavar="FILE...", show_default=False,
                   help="Sonar output to add, either format; standard input when none."),
]  # fmt: skip
SkipInvalid = Annotated[
    bool,
    typer.Option("--skip-invalid",
                 help="Add the valid records and set the invalid ones aside (FILE.rejected, "
                 "JSON lines with their reasons) instead of adding nothing."),
]  # fmt: skip
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Say what was added, per run.")]



def _expected(sample: bool, sysinfo: bool, job: bool, partitions: bool) -> str | None:
    chosen = [t for t, on in (("sample", sample), ("sysinfo", sysinfo), ("sacct", job),
                              ("partitions", partitions)) if on]  # fmt: skip
    if len(chosen) > 1:
        raise UsageError("Give at most one of --sample, --sysinfo, --job, --partitions")
    return chosen[0] if chosen else None


def _inputs(files: list[Path] | None) -> list[Input]:
    if not files:
        data = sys.stdin.buffer.read()
        return [Input("<stdin>", len(data), lambda: data)]
    inputs = []
    for path in files:
        try:
            if path.is_dir():
                raise SonalyzeError(f"Input {path} is a directory")
            inputs.append(Input(str(path), path.stat().st_size, _reader(path)))
        except FileNotFoundError:
            raise SonalyzeError(f"No such input file: {path}") from None
        except PermissionError:
            raise SonalyzeError(f"Cannot read {path}: permission denied") from None
    return inputs


def _reader(path: Path):
    def read() -> bytes:
        try:
            return path.read_bytes()
        except OSError as e:
            raise SonalyzeError(f"Cannot read {path}: {e.strerror}") from None

    return read


def _summary(result: AppendResult, refused: int) -> str:
    return (f"sonalyze: added {result.written} record(s) to {len(result.paths)} file(s) "
            f"({result.duplicates} already present, {result.created} file(s) created); "
            f"{refused} refused\n")  # fmt: skip


def _report_repairs(result: AppendResult) -> None:
    for path, cut in result.repaired:
        sys.stderr.write(f"sonalyze: repaired {path}: cut {cut} byte(s) of an unfinished line\n")


@app.command("add")
def add_cmd(
    files: Inputs = None,
    data_dir: o.DataDir = None,
    jobanalyzer_dir: o.JobanalyzerDir = None,
    cluster_name: o.Cluster = None,
    sample: Annotated[bool, typer.Option("--sample", help="Only samples.",
                                         rich_help_panel=TYPES)] = False,
    sysinfo: Annotated[bool, typer.Option("--sysinfo", help="Only node sysinfo.",
                                          rich_help_panel=TYPES)] = False,
    job: Annotated[bool, typer.Option("--job", "--slurm-sacct", help="Only Slurm job records.",
                                      rich_help_panel=TYPES)] = False,
    partitions: Annotated[bool, typer.Option("--partitions",
                                             help="Only cluster/partition records.",
                                             rich_help_panel=TYPES)] = False,
    skip_invalid: SkipInvalid = False,
    rejects: Annotated[Path | None, typer.Option(
        "--rejects", metavar="FILE",
        help="Where --skip-invalid sets invalid records aside [default: FILE.rejected; "
        "required for standard input].")] = None,
    verbose: Verbose = False,
) -> None:
    """Append Sonar output to the data tree: each record to the file of its table, UTC
    day and host.  All or nothing: one invalid record and nothing is written.  Adding the
    same input again adds nothing.  Formats are recognised: old CSV samples, old sacct
    CSV, old sysinfo JSON, new JSON-lines envelopes of any type."""
    expect = _expected(sample, sysinfo, job, partitions)
    if skip_invalid and not files and rejects is None:
        raise UsageError("--skip-invalid on standard input needs --rejects FILE")
    target = Target.of(data_dir, jobanalyzer_dir, cluster_name)
    outcome = add_inputs(_inputs(files), target, expect, skip_invalid=skip_invalid)
    for name, report in outcome.reports:
        sys.stderr.write(f"sonalyze: {name}:{report.line}: {report.reason} (not stored)\n")
    if outcome.rejected and not skip_invalid:
        for name, r in outcome.rejected:
            sys.stderr.write(f"sonalyze: {name}:{r.line}: {r.reason}\n")
        inputs = len({name for name, _ in outcome.rejected})
        raise SonalyzeError(f"nothing added: {len(outcome.rejected)} invalid record(s) in "
                            f"{inputs} input(s); --skip-invalid adds the valid ones")  # fmt: skip
    if outcome.rejected:
        if rejects is not None:
            write_rejects(rejects, outcome.rejected)
        else:
            for name in dict.fromkeys(n for n, _ in outcome.rejected):
                write_rejects(Path(name + ".rejected"),
                              [(n, r) for n, r in outcome.rejected if n == name])  # fmt: skip
        sys.stderr.write(f"sonalyze: set aside {len(outcome.rejected)} invalid record(s)\n")
    _report_repairs(outcome.appended)
    if verbose:
        sys.stderr.write(_summary(outcome.appended, len(outcome.rejected)))


@app.command("ingest")
def ingest_cmd(
    spool: Annotated[Path, typer.Argument(metavar="SPOOL_DIR", show_default=False,
                                          help="Where collectors drop Sonar output files.")],
    data_dir: o.DataDir = None,
    jobanalyzer_dir: o.JobanalyzerDir = None,
    cluster_name: o.Cluster = None,
    skip_invalid: SkipInvalid = False,
    min_age: Annotated[float, typer.Option(
        "--min-age", metavar="SECONDS",
        help="Leave files changed this recently for the next run.")] = 5.0,
    verbose: Verbose = False,
) -> None:
    """Add every file in SPOOL_DIR to the tree, then move it to SPOOL_DIR/done/ (or to
    rejected/, next to a .reason file).  For cron or a systemd timer: an overlapping run
    finds the spool locked and exits at once.  Collectors should write `.name` or
    `name.tmp` and rename it when complete."""
    if min_age < 0:
        raise UsageError("--min-age must not be negative")
    target = Target.of(data_dir, jobanalyzer_dir, cluster_name)
    run = ingest_spool(spool, target, skip_invalid=skip_invalid, min_age=min_age)
    _report_repairs(run.appended)
    for name in run.rejected:
        sys.stderr.write(f"sonalyze: rejected {name}: see {spool / 'rejected' / name}.reason\n")
    if verbose:
        if run.busy:
            sys.stderr.write(f"sonalyze: {spool} is being ingested by another run\n")
        else:
            sys.stderr.write(
                f"sonalyze: {len(run.done)} file(s) done, {len(run.rejected)} rejected; "
                f"added {run.appended.written} record(s) ({run.appended.duplicates} already "
                f"present); {run.records_refused} refused, {run.reports} Sonar error report(s)\n"
            )
    if run.rejected:
        raise SonalyzeError(f"{len(run.rejected)} file(s) rejected: see {spool / 'rejected'}")


def _duration(text: str, option: str) -> timedelta:
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise UsageError(f"Invalid {option} value {text!r}: give a duration such as 7d, 2h or 1h30m")
    return timedelta(seconds=seconds)


@app.command("status")
def status_cmd(
    data_dir: o.DataDir = None,
    jobanalyzer_dir: o.JobanalyzerDir = None,
    cluster_name: Annotated[str | None, typer.Option(
        "--cluster", metavar="NAME",
        help="Cluster name or alias (with --jobanalyzer-dir) [default: every cluster].",
        rich_help_panel=o.DATA)] = None,
    cache: o.CacheSize = None,
    cache_dir: o.CacheDir = None,
    host: o.Host = None,
    lookback: Annotated[str, typer.Option(
        "--lookback", metavar="DURATION",
        help="How far back to look for each host's newest records.")] = "7d",
    silent_after: Annotated[str, typer.Option(
        "--silent-after", metavar="DURATION",
        help="A host whose newest sample is older is silent (sysinfo: a day more).")] = "1h",
    now: Annotated[str | None, typer.Option(
        "--now", metavar="TIME", help="Measure against this time instead of the clock.")] = None,
    by_host: Annotated[bool, typer.Option("--hosts", help="One row per host.")] = False,
    fmt: o.Fmt = None,
    query: o.Query = None,
    verbose: o.Verbose = False,
) -> None:
    """Per cluster and table: the newest record, how far behind now it is, and the hosts
    that have gone silent -- whether data are flowing."""
    printer = _printer(status.INFO, fmt or ("fixed,per_host" if by_host else None), query)
    if printer is None:
        return
    clock = datetime.now(UTC)
    at = parse_time(now, now=clock, end_of_day=False, option="--now") if now else clock
    window = Window(at - _duration(lookback, "--lookback"), at)
    opts = status.StatusOptions(at, _duration(silent_after, "--silent-after"), by_host)
    if jobanalyzer_dir is not None and cluster_name is None and data_dir is None:
        clusters = [c for c in JobanalyzerStore(jobanalyzer_dir).cluster_names()
                    if (jobanalyzer_dir / "data" / c).is_dir()]  # fmt: skip
    else:
        clusters = [cluster_name or ""]
    frames = []
    for name in clusters:
        store = _store(data_dir, jobanalyzer_dir, name or None, None, None, cache, cache_dir)
        label = store.cluster or (data_dir.name if data_dir else name)
        rows = host_status(store, window, hosts_of(host))
        frames.append(rows.with_columns(pl.lit(label).alias("cluster")))
        report_problems(store, verbose)
    printer.print(status.run(pl.concat(frames) if frames else pl.DataFrame(), opts))
