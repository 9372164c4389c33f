"""Benchmark whole `sonalyze` processes over named scenarios and print a table.

    python bench/run.py [--scale 50x7] [--formats old,new] [--runs 3]
                        [--reference PATH] [--only REGEX] [--work DIR]

Generates (once, under --work) a tree at realistic density with the test-data
generator -- N nodes x D days, samples every 5 minutes, about 40 processes
per busy node; trees of more nodes (200x30) copy a 50-node tree's hosts
under new names, since generating them would take hours -- then times
each scenario: cold (no persistent cache), and warm (the same query again with the cache filled).  Per scenario: median,
min and max wall seconds, CPU seconds and peak RSS of the process, MB and
lines of the selected files, lines/s; with --reference the same command
line is timed with that binary too (the Go sonalyze, say) and the ratio
ours/theirs is printed.  The floor rows show the time to read the selected
bytes and Polars' bare reader over them, so every figure can be set against
the limit of the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START = "2025-03-03"


@dataclass(frozen=True)
class Scenario:
    """A named command line over a number of days, reading one table."""

    name: str
    argv: tuple[str, ...]
    days: int
    table: str
    warm: bool = False


def scenarios(days: int) -> list[Scenario]:
    """The scenario list for a tree of `days` days."""
    out: list[Scenario] = []
    spans = sorted({1, min(7, days), days})
    for d in spans:
        out += [
            Scenario(f"parse-{d}d", ("sample", "--fmt=csv,all"), d, "sample"),
            Scenario(f"parse-{d}d-job", ("sample", "-j", "1234", "--fmt=csv,all"), d, "sample"),
            Scenario(f"jobs-{d}d", ("jobs", "-u", "-"), d, "sample"),
            Scenario(f"load-{d}d", ("load",), d, "sample"),
            Scenario(f"uptime-{d}d", ("uptime", "--interval", "5"), d, "sample"),
            Scenario(f"sacct-{d}d", ("sacct", "--fmt=csv,default"), d, "sacct"),
            Scenario(f"node-{d}d", ("node",), d, "sysinfo"),
            Scenario(f"efficiency-{d}d", ("efficiency",), d, "sample"),
            Scenario(f"usage-month-{d}d", ("usage", "--period", "month"), d, "sample"),
        ]
    out += [
        Scenario(f"parse-{days}d-warm", ("sample", "--fmt=csv,all"), days, "sample", warm=True),
        Scenario(f"parse-{days}d-job-warm", ("sample", "-j", "1234", "--fmt=csv,all"), days,
                 "sample", warm=True),  # fmt: skip
        Scenario(f"jobs-{days}d-warm", ("jobs", "-u", "-"), days, "sample", warm=True),
        Scenario(f"load-{days}d-warm", ("load",), days, "sample", warm=True),
        Scenario(f"uptime-{days}d-warm", ("uptime", "--interval", "5"), days, "sample",
                 warm=True),  # fmt: skip
        Scenario(f"efficiency-{days}d-warm", ("efficiency",), days, "sample", warm=True),
    ]
    return out


def end_date(days: int) -> str:
    """The last day of a window of `days` days starting at START."""
    y, m, d = (int(x) for x in START.split("-"))
    import datetime as dt

    return (dt.date(y, m, d) + dt.timedelta(days=days - 1)).isoformat()


# The generator writes about 50 nodes x 30 days an hour on this kind of machine; larger
# trees are built from a 50-node one by copying its hosts under new names.
GENERATED_NODES = 50


def make_tree(work: Path, nodes: int, days: int, formats: str) -> Path:
    """Generate the tree once; reuse it on later runs."""
    tree = work / f"tree-{nodes}x{days}-{formats.replace(',', '+')}"
    if (tree / "cluster-config").is_dir():
        return tree
    copies = 1
    if nodes > GENERATED_NODES and nodes % GENERATED_NODES == 0:
        copies, nodes = nodes // GENERATED_NODES, GENERATED_NODES
    if copies > 1:
        base = make_tree(work, nodes, days, formats)
        print(f"copying its hosts {copies} times into {tree} ...", flush=True)
        tmp = Path(tempfile.mkdtemp(dir=work))
        replicate(base, tmp / "t", copies)
    else:
        tmp = Path(tempfile.mkdtemp(dir=work))
        print(f"generating {nodes} nodes x {days} days ({formats}) into {tree} ...", flush=True)
        subprocess.run([sys.executable, str(ROOT / "testdata" / "generate.py"), str(tmp / "t"),
                        "--nodes", str(nodes), "--days", str(days), "--interval", "5",
                        "--procs", "40", "--formats", formats], check=True)  # fmt: skip
    (tmp / "t").rename(tree)
    shutil.rmtree(tmp, ignore_errors=True)
    return tree


def _renamed(data: bytes, prefix: str, copy: int) -> bytes:
    """Host names `<prefix>-...` (the generator's `a-cpu1`, `b-gpu3`) as copy `copy`'s."""
    new = f"{prefix}{copy}-".encode()
    for before in (b'"', b"host=", b"hostname="):
        data = data.replace(before + prefix.encode() + b"-", before + new)
    return data


def replicate(base: Path, out: Path, copies: int) -> None:
    """`base` with every host-named file also present `copies - 1` more times, renamed.

    Job ids stay as they are, so a job of the base tree runs on one host of
    every copy: `jobs` merges them across hosts as it would a multi-node job.
    Slurm and partition files are shared.  Host-named files are hard links
    for the first copy, rewritten for the others.
    """
    shutil.copytree(base / "cluster-config", out / "cluster-config")
    for config in (out / "cluster-config").glob("*-config.json"):
        cluster = json.loads(config.read_text())
        prefix = cluster["name"][0]
        nodes = list(cluster.get("nodes", []))
        for k in range(1, copies):
            cluster["nodes"] += [dict(n, hostname=n["hostname"].replace(f"{prefix}-", f"{prefix}{k}-", 1))
                                 for n in nodes]  # fmt: skip
        config.write_text(json.dumps(cluster, indent=1))
    for path in sorted((base / "data").rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(base / "data")
        target = out / "data" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
        prefix = rel.parts[0][0]
        kind = next((k for k in ("0+sample-", "0+sysinfo-", "sysinfo-") if path.name.startswith(k)), "")
        if not path.name[len(kind):].startswith(f"{prefix}-"):
            continue  # Slurm and partition files: shared
        data = path.read_bytes()
        for k in range(1, copies):
            name = kind + path.name[len(kind):].replace(f"{prefix}-", f"{prefix}{k}-", 1)
            (target.parent / name).write_bytes(_renamed(data, prefix, k))


def selected_files(tree: Path, cluster: str, days: int, table: str) -> list[Path]:
    """The files a query of `table` over `days` days reads (as sonalyze selects them)."""
    last = end_date(days)
    out = []
    for day in sorted((tree / "data" / cluster).glob("*/*/*")):
        if not START <= "-".join(day.parts[-3:]) <= last:
            continue
        for f in sorted(day.iterdir()):
            n = f.name
            kind = ("sacct" if n in ("slurm-sacct.csv", "0+job-slurm.json")
                    else "sysinfo" if "sysinfo-" in n
                    else "partitions" if n == "0+cluzter-slurm.json"
                    else "sample")  # fmt: skip
            if kind == table:
                out.append(f)
    return out


TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int, bool]:
    """Wall seconds, CPU seconds, peak RSS (KiB) and success of one process.

    Peak RSS comes from GNU time where available: a child forked from this
    Python process would otherwise report this process's memory as its own.
    """
    report = tempfile.NamedTemporaryFile(suffix=".rss", delete=False)
    report.close()
    full = [TIME, "-f", "%M", "-o", report.name, *argv] if TIME else argv
    t0 = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(full, stdout=null, stderr=subprocess.DEVNULL, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    ok = os.waitstatus_to_exitcode(status) == 0
    try:
        rss = int(Path(report.name).read_text().split()[-1]) if TIME else usage.ru_maxrss
    except (ValueError, IndexError):
        rss = usage.ru_maxrss
    os.unlink(report.name)
    return wall, usage.ru_utime + usage.ru_stime, rss, ok


def count_lines(files: list[Path]) -> int:
    """Newlines in the files, read in chunks to keep this process small."""
    total = 0
    for f in files:
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                total += chunk.count(b"\n")
    return total


FLOOR = """
import io, sys, time
import polars as pl
files = sys.argv[1:]
t0 = time.perf_counter()
datas = [open(f, "rb").read() for f in files]
read = time.perf_counter() - t0
t0 = time.perf_counter()
for f, data in zip(files, datas):
    if data and f.endswith(".json"):
        pl.read_ndjson(io.BytesIO(data))
    elif data:
        pl.read_csv(io.BytesIO(data), has_header=False, separator="\\x1f", quote_char=None)
print(read, time.perf_counter() - t0)
"""


def floor(files: list[Path]) -> tuple[float, float]:
    """Seconds to read the bytes, and seconds for Polars' bare reader over them.

    Run in a separate process, so the bytes never swell this one.
    """
    out = subprocess.run([sys.executable, "-c", FLOOR, *map(str, files)], check=True,
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    return float(out[0]), float(out[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="50x7", help="NODESxDAYS, e.g. 50x7 or 200x30")
    ap.add_argument("--formats", default="old,new", help="old (cluster alpha), new (beta)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--reference", help="another sonalyze binary to time on the same lines")
    ap.add_argument("--sonalyze", default=str(Path(sys.executable).parent / "sonalyze"))
    ap.add_argument("--only", default="", help="regex: run only matching scenarios")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sonalyze-bench")
    a = ap.parse_args()
    nodes, days = (int(x) for x in a.scale.lower().split("x"))
    a.work.mkdir(parents=True, exist_ok=True)
    tree = make_tree(a.work, nodes, days, a.formats)
    binaries = [("ours", a.sonalyze)] + ([("ref", a.reference)] if a.reference else [])
    clusters = [c for c, f in (("alpha", "old"), ("beta", "new")) if f in a.formats]
    print(f"\ntree {tree} ({nodes} nodes x {days} days), {a.runs} runs each\n")
    print(f"{'scenario':<22}{'cluster':<7}{'bin':<5}{'median':>8}{'min':>7}{'max':>7}"
          f"{'cpu':>7}{'rss MiB':>8}{'MB':>7}{'Mlines':>7}{'Ml/s':>6}{'ratio':>7}")  # fmt: skip
    for cluster in clusters:
        cache = a.work / f"cache-{tree.name}-{cluster}"
        for sc in scenarios(days):
            if a.only and not re.search(a.only, sc.name):
                continue
            files = selected_files(tree, cluster, sc.days, sc.table)
            mb = sum(f.stat().st_size for f in files) / 1e6
            mlines = count_lines(files) / 1e6
            argv = [sc.argv[0], "--jobanalyzer-dir", str(tree), "--cluster", cluster,
                    "-f", START, "-t", end_date(sc.days), *sc.argv[1:]]  # fmt: skip
            medians: dict[str, float] = {}
            for label, binary in binaries:
                env = dict(os.environ)
                env["SONALYZE_CACHE_DIR"] = str(cache) if sc.warm else "off"
                if sc.warm:
                    run_once([binary, *argv], env)  # fill the cache
                runs = [run_once([binary, *argv], env) for _ in range(a.runs)]
                if not all(ok for *_, ok in runs):
                    print(f"{sc.name:<22}{cluster:<7}{label:<5}{'n/a (verb missing or failed)':>40}")
                    continue
                walls = [r[0] for r in runs]
                med = statistics.median(walls)
                medians[label] = med
                ratio = f"{med / medians['ref']:.2f}" if label == "ours" and "ref" in medians else ""
                if label == "ref" and "ours" in medians:
                    ratio = f"{medians['ours'] / med:.2f}"
                print(f"{sc.name:<22}{cluster:<7}{label:<5}{med:>8.2f}{min(walls):>7.2f}"
                      f"{max(walls):>7.2f}{statistics.median(r[1] for r in runs):>7.2f}"
                      f"{max(r[2] for r in runs) / 1024:>8.0f}{mb:>7.0f}{mlines:>7.2f}"
                      f"{mlines / med:>6.2f}{ratio:>7}", flush=True)  # fmt: skip
            if sc.name.startswith("parse-") and "job" not in sc.name and not sc.warm:
                read, bare = floor(files)
                print(f"{'  floor: read bytes':<22}{cluster:<7}{'':<5}{read:>8.2f}"
                      f"{'':>35}{mb / max(read, 1e-9):>7.0f} MB/s")  # fmt: skip
                print(f"{'  floor: polars bare':<22}{cluster:<7}{'':<5}{bare:>8.2f}"
                      f"{'':>35}{mb / max(bare, 1e-9):>7.0f} MB/s")  # fmt: skip


if __name__ == "__main__":
    main()
