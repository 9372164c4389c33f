"""Append throughput: `add` and `ingest` as whole processes, and concurrent writers.

    python bench/append.py [--nodes 50] [--writers 8] [--batches 100] [--work DIR]

Scenarios, each on a fresh copy so nothing is a duplicate unless meant to be:
  add-day      one day of N nodes (every file of the day) into an empty tree
  add-again    the same input again: every record is already there
  ingest       a spool of one file per host and sample time (what collectors
               drop), N nodes x 12 samples, in one `ingest` run
  writers      W processes x B batches of one host's one sample, all at once,
               into the same tree; then checks every record is there once
               (records counts what was submitted, repeats included)
Prints wall and CPU seconds, peak RSS and records/s per scenario.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import START, make_tree, run_once  # noqa: E402

SONALYZE = [sys.executable, "-m", "sonalyze"]

WRITER = """
import sys
from pathlib import Path
from sonalyze.tables.add import Target, commit, prepare
tree, spool, me, writers, batches = Path(sys.argv[1]), Path(sys.argv[2]), *map(int, sys.argv[3:])
files = sorted(spool.iterdir())
target = Target.of(tree, None, None)
for b in range(batches):
    f = files[(me + b * writers) % len(files)]
    commit(prepare([(f.name, f.read_bytes())], target), target)
"""


def day_files(tree: Path, cluster: str) -> list[Path]:
    day = tree / "data" / cluster / START.replace("-", "/")
    return sorted(p for p in day.iterdir() if p.is_file())


def per_sample_spool(tree: Path, cluster: str, spool: Path, samples: int) -> int:
    """Split the first `samples` sample times of each host into one file each; record count."""
    spool.mkdir(parents=True)
    count = 0
    for f in day_files(tree, cluster):
        if "sample" not in f.name and not (f.suffix == ".csv" and f.name != "slurm-sacct.csv"):
            continue
        by_time: dict[str, list[str]] = defaultdict(list)
        for line in f.read_text().splitlines():
            key = line.split("time=")[1][:19] if "time=" in line else line.split('"time":"')[1][:19]
            by_time[key].append(line)
        for i, stamp in enumerate(sorted(by_time)[:samples]):
            (spool / f"{f.stem}-{i:03d}{f.suffix}").write_text("\n".join(by_time[stamp]) + "\n")
            count += len(by_time[stamp])
    old = time.time() - 60
    for p in spool.iterdir():
        os.utime(p, (old, old))
    return count


def records(paths: list[Path]) -> int:
    return sum(p.read_bytes().count(b"\n") for p in paths)


def report(name: str, wall: float, cpu: float, rss: int, n: int, ok: bool) -> None:
    status = "" if ok else "  FAILED"
    print(f"{name:<22} {wall:8.2f} {cpu:8.2f} {rss // 1024:8d} {n:10d} {n / wall:12.0f}{status}",
          flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=50)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sonalyze-bench")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    tree = make_tree(args.work, args.nodes, 1, "old,new")
    env = dict(os.environ, SONALYZE_CACHE_DIR="off")
    print(f"{'scenario':<22} {'wall s':>8} {'cpu s':>8} {'RSS MiB':>8} {'records':>10} {'records/s':>12}")
    for cluster in ("alpha", "beta"):
        scratch = Path(tempfile.mkdtemp(dir=args.work))
        try:
            inputs = day_files(tree, cluster)
            n = records(inputs)
            argv = [*SONALYZE, "add", "--data-dir", str(scratch / "tree"), *map(str, inputs)]
            report(f"add-day {cluster}", *_timed(argv, env, n))
            report(f"add-again {cluster}", *_timed(argv, env, n))
            spool = scratch / "spool"
            n = per_sample_spool(tree, cluster, spool, 12)
            argv = [*SONALYZE, "ingest", str(spool), "--data-dir", str(scratch / "ingested")]
            report(f"ingest {cluster} ({len(list(spool.iterdir()))} files)", *_timed(argv, env, n))
            shutil.rmtree(spool)
            n = per_sample_spool(tree, cluster, spool, 12)
            _writers(scratch, spool, args.writers, args.batches, cluster, env)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _timed(argv: list[str], env: dict[str, str], n: int) -> tuple[float, float, int, int, bool]:
    wall, cpu, rss, ok = run_once(argv, env)
    return wall, cpu, rss, n, ok


def _writers(scratch: Path, spool: Path, writers: int, batches: int, cluster: str,
             env: dict[str, str]) -> None:  # fmt: skip
    tree = scratch / "concurrent"
    tree.mkdir()
    env = dict(env, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    files = sorted(spool.iterdir())
    used = {files[(w + b * writers) % len(files)] for w in range(writers) for b in range(batches)}
    t0 = time.perf_counter()
    before = os.times()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tree), str(spool), str(w),
                               str(writers), str(batches)], env=env)  # fmt: skip
             for w in range(writers)]
    ok = all(p.wait() == 0 for p in procs)
    wall = time.perf_counter() - t0
    after = os.times()
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    written = sorted(line for f in tree.rglob("*") if f.is_file() for line in f.read_text().splitlines())
    expected = sorted(line for f in used for line in f.read_text().splitlines())
    ok = ok and written == expected  # every record once, none lost
    submitted = writers * batches * (len(expected) // max(1, len(used)))
    print(f"  ({writers * batches / wall:.0f} batches/s; every record stored once: {ok})")
    report(f"writers {cluster} {writers}x{batches}", wall, cpu, 0, submitted, ok)


if __name__ == "__main__":
    main()
