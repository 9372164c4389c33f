"""Time whole `sonalyze` processes over named scenarios and print a table.

    python bench/run.py TREE [--runs N] [--reference PATH]

TREE is a Jobanalyzer store, e.g. one made by
`python testdata/generate.py /tmp/bench-tree --nodes 50 --days 7 --interval 5`.
For each scenario: median/min/max wall seconds over N runs, CPU seconds and
peak RSS of the child, bytes of the files the query selects, and MB/s.
With --reference, the same command lines are also timed with that binary.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SCENARIOS = {
    "sample-1d": ["sample", "--cluster", "{c}", "-f", "{d0}", "-t", "{d0}", "--fmt=csv,all"],
    "sample-all": ["sample", "--cluster", "{c}", "-f", "{d0}", "-t", "{d1}", "--fmt=csv,all"],
    "sacct-all": ["sacct", "--cluster", "{c}", "-f", "{d0}", "-t", "{d1}", "--fmt=csv,default"],
    "node-all": ["node", "--cluster", "{c}", "-f", "{d0}", "-t", "{d1}"],
}


def days(tree: Path, cluster: str) -> tuple[str, str]:
    dirs = sorted(p for p in (tree / "data" / cluster).glob("*/*/*") if p.is_dir())
    first, last = dirs[0].relative_to(tree / "data" / cluster), dirs[-1].relative_to(
        tree / "data" / cluster)  # fmt: skip
    return str(first).replace("/", "-"), str(last).replace("/", "-")


def one_run(argv: list[str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=subprocess.PIPE)
        _, err = proc.communicate()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(argv)}\n{err.decode()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss


def selected_bytes(tree: Path, cluster: str, d0: str, d1: str, verb: str) -> int:
    total = 0
    for day in sorted((tree / "data" / cluster).glob("*/*/*")):
        stamp = "-".join(day.parts[-3:])
        if not d0 <= stamp <= d1:
            continue
        for f in day.iterdir():
            n = f.name
            wanted = {"sample": n.endswith(".csv") and n != "slurm-sacct.csv" or "sample-" in n,
                      "sacct": n in ("slurm-sacct.csv", "0+job-slurm.json"),
                      "node": "sysinfo-" in n}[verb]  # fmt: skip
            total += f.stat().st_size if wanted else 0
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cluster", default="alpha")
    ap.add_argument("--reference", help="another sonalyze binary to time on the same lines")
    ap.add_argument("--sonalyze", default=str(Path(sys.executable).parent / "sonalyze"))
    a = ap.parse_args()
    d0, d1 = days(a.tree, a.cluster)
    print(f"tree {a.tree} cluster {a.cluster} days {d0}..{d1}, {a.runs} runs")
    print(f"{'scenario':<12} {'binary':<10} {'median s':>9} {'min s':>7} {'max s':>7} "
          f"{'cpu s':>7} {'MB read':>8} {'MB/s':>7}")  # fmt: skip
    binaries = [("sonalyze", a.sonalyze)] + ([("reference", a.reference)] if a.reference else [])
    for name, template in SCENARIOS.items():
        args = [x.format(c=a.cluster, d0=d0, d1=d1) for x in template]
        mb = selected_bytes(a.tree, a.cluster, d0, d1 if "1d" not in name else d0,
                            args[0]) / 1e6  # fmt: skip
        for label, binary in binaries:
            argv = [binary, args[0], "--jobanalyzer-dir", str(a.tree), *args[1:]]
            runs = [one_run(argv) for _ in range(a.runs)]
            walls = [r[0] for r in runs]
            med = statistics.median(walls)
            print(f"{name:<12} {label:<10} {med:>9.2f} {min(walls):>7.2f} {max(walls):>7.2f} "
                  f"{statistics.median(r[1] for r in runs):>7.2f} {mb:>8.1f} {mb / med:>7.1f}")
    print(f"peak RSS of any child: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
