"""The `fairshare` command (alias `sshare`): fair-share over an account tree."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from sonalyze.cli import options as o
from sonalyze.cli.commands import _printer, app
from sonalyze.cli.context import open_store, report_problems, split_values
from sonalyze.errors import DataSourceError, UsageError
from sonalyze.tables.scans import scan_sacct
from sonalyze.tables.shares import read_flux_export, read_shares, shares_file
from sonalyze.tables.source import JobanalyzerStore
from sonalyze.tables.window import Window, parse_duration, parse_time
from sonalyze.verbs import efficiency as eff
from sonalyze.verbs import fairshare as fs
from sonalyze.verbs import usage

RECORD_LOOKAHEAD = timedelta(days=31)


@app.command("fairshare")
def fairshare_cmd(
    tree: Annotated[Path | None, typer.Option("--tree", metavar="FILE", help="A share tree that carries usage, as flux's fairshare-emulate reads it: {\"root\": {\"bank\", \"shares\", \"usage\", \"children\": [...]}}; no job records are read.")] = None,
    data_dir: o.DataDir = None,
    jobanalyzer_dir: o.JobanalyzerDir = None,
    cluster_name: o.Cluster = None,
    cache: o.CacheSize = None,
    cache_dir: o.CacheDir = None,
    shares: Annotated[Path | None, typer.Option(metavar="FILE", help="The share tree (JSON or CSV, docs/fairshare.md) [default: cluster-config/<cluster>-shares.json or .csv].")] = None,
    from_: Annotated[str | None, typer.Option("--from", "-f", metavar="TIME", help="Usage from this time [default: 8 half-lives back; with --decay none, 30d].")] = None,
    now: Annotated[str | None, typer.Option(metavar="TIME", help="Decay usage to this time instead of the clock.")] = None,
    charge: Annotated[str, typer.Option(metavar="RATE", help="slurm (billing, else cpus), flux (nodes), or weights such as nodes=1,gpus=10.")] = "slurm",
    decay: Annotated[str, typer.Option(metavar="MODEL", help="slurm (continuous half-life), flux (half-life bins) or none.")] = "slurm",
    half_life: Annotated[str, typer.Option(metavar="DURATION", help="Half-life of usage (both decay models).")] = "7d",
    decay_factor: Annotated[float, typer.Option(metavar="D", min=1e-9, max=0.999999999, help="flux: weight of each older bin.")] = 0.5,
    periods: Annotated[int, typer.Option(metavar="N", min=1, help="flux: number of bins.")] = 4,
    reset: Annotated[str, typer.Option(metavar="PERIOD", help="Forget usage before the last daily, weekly (Sunday), monthly, quarterly or yearly reset, as Slurm's PriorityUsageResetPeriod; none.")] = "none",
    algorithm: Annotated[str, typer.Option(metavar="NAME", help="flux (flux-accounting's weighted tree), fairtree (Slurm's Fair Tree) or classic (Slurm's classic).")] = "fairtree",
    what_if: Annotated[list[str] | None, typer.Option("--what-if", metavar="ACCOUNT/USER=+USAGE", help="Add hypothetical usage before computing (repeatable).")] = None,
    priority_weight: Annotated[float, typer.Option(metavar="W", min=0, help="Weight of the fair-share factor in a job's priority (FSPriority): flux's plugin default; Slurm's PriorityWeightFairshare is site-set.")] = fs.PRIORITY_WEIGHT,
    sshare: Annotated[Path | None, typer.Option("--sshare", metavar="FILE", help="Read the tree with usage from `sshare -a -l -P` output instead.")] = None,
    flux_export: Annotated[Path | None, typer.Option("--flux-export", metavar="DIR", help="Read the tree with usage from `flux account export-db` output (bank_table.csv, association_table.csv) instead.")] = None,
    damping: Annotated[float, typer.Option(metavar="FACTOR", min=1e-9, help="classic: Slurm's FairShareDampeningFactor.")] = 1.0,
    fmt: o.Fmt = None,
    query: o.Query = None,
) -> None:
    """Shares, usage and the fair-share factor of every account and user, in sshare's
    columns, by flux-accounting's or Slurm's algorithm: from a tree that carries usage
    (--tree), or from the cluster's share tree with usage from its job records."""  # fmt: skip
    if fmt is not None and fmt.strip().lower() == "json":
        fmt = "json,all"  # JSON carries the LevelFSInf flag next to a null LevelFS
    layout = fmt is not None and fmt.strip().lower() == "view-bank"
    printer = _printer(fs.INFO, None if layout else fmt, query)
    if printer is None:
        return
    if algorithm not in fs.ALGORITHMS:
        raise UsageError(f"Invalid --algorithm {algorithm!r}: one of {', '.join(fs.ALGORITHMS)}")
    given = [n for n, v in (("--tree", tree), ("--sshare", sshare), ("--flux-export", flux_export))
             if v is not None]  # fmt: skip
    if len(given) > 1:
        raise UsageError(f"{given[0]} and {given[1]} exclude each other")
    if tree is not None:
        root = fs.parse_tree(_load(tree))
    elif sshare is not None:
        root = fs.parse_tree(fs.parse_sshare(_text(sshare)))
    elif flux_export is not None:
        root = fs.parse_tree(read_flux_export(flux_export))
    else:
        root = _from_records(data_dir, jobanalyzer_dir, cluster_name, cache, cache_dir, shares,
                             from_, now, charge, decay, half_life, decay_factor, periods,
                             reset)  # fmt: skip
    fs.what_if(root, split_values(what_if))
    fs.compute(root, algorithm, damping)
    if layout:
        sys.stdout.write(fs.view_bank(root))
        return
    # sshare indents in its fixed and parsable outputs; JSON gets the plain names.
    indent = printer.opts.format in ("fixed", "csv", "csvnamed")
    printer.print(fs.rows(root, algorithm, indent=indent, priority_weight=priority_weight))


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise DataSourceError(f"No such tree file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataSourceError(f"Cannot read {path}: {e}") from None


def _load(path: Path) -> object:
    try:
        return json.loads(_text(path))
    except ValueError as e:
        raise UsageError(f"{path} is not valid JSON: {e}") from None


def _from_records(data_dir, jobanalyzer_dir, cluster_name, cache, cache_dir, shares, from_, now,
                  charge, decay, half_life, decay_factor, periods, reset) -> fs.Node:  # fmt: skip
    """The share tree with usage from the cluster's job records."""
    if decay not in fs.DECAYS:
        raise UsageError(f"Invalid --decay {decay!r}: one of {', '.join(fs.DECAYS)}")
    weights = fs.charge_weights(charge)
    seconds = parse_duration(half_life)
    if not seconds:
        raise UsageError(f"Invalid --half-life {half_life!r}: e.g. 7d or 12h")
    store = open_store(data_dir=data_dir, jobanalyzer_dir=jobanalyzer_dir, cluster=cluster_name,
                       config_file=None, files=None, cache=cache, cache_dir=cache_dir)  # fmt: skip
    if shares is None and jobanalyzer_dir is not None and store.cluster:
        shares = shares_file(JobanalyzerStore(jobanalyzer_dir).config_dir, store.cluster)
    if shares is None:
        raise UsageError("No share tree: give --tree, --shares FILE, or put "
                         "cluster-config/<cluster>-shares.json (or .csv) in the store")
    root = fs.parse_tree(read_shares(shares))
    clock = datetime.now(UTC).replace(microsecond=0)
    at = parse_time(now, now=clock, end_of_day=False, option="--now") if now else clock
    back = timedelta(days=30) if decay == "none" else timedelta(seconds=8 * seconds)
    start = parse_time(from_, now=at, end_of_day=False, option="--from") if from_ else at - back
    jobs = eff.slurm_jobs(scan_sacct(store, Window(start, at + RECORD_LOOKAHEAD)).collect())
    runs = usage.job_runs(jobs, at)
    reset_at = fs.last_reset(at, reset)
    used = fs.association_usage(runs, at.timestamp(), weights, decay, float(seconds),
                                window_start=start.timestamp(), decay_factor=decay_factor,
                                periods=periods,
                                reset_at=reset_at.timestamp() if reset_at else None)  # fmt: skip
    for account, user in fs.attach_usage(root, used):
        sys.stderr.write(f"sonalyze: usage of {user} in account {account}, which the share "
                         "tree does not have\n")  # fmt: skip
    report_problems(store, False)
    return root


app.command("sshare", help="Alias for fairshare.", hidden=True)(fairshare_cmd)
