"""`metadata` and the stream views of `sample`, on hand-written samples."""

from __future__ import annotations

from pathlib import Path

import pytest


def line(t: str, host: str, job: int, pid: int, cputime: int, cpu: float = 0.0,
         user: str = "u", epoch: int = 1) -> str:  # fmt: skip
    return (f"v=0.12.0,time=2024-03-04T{t}Z,host={host},cores=8,user={user},job={job},"
            f"pid={pid},cmd=x,cpu%={cpu},cputime_sec={cputime},epoch={epoch}")  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Job 5 on n1 and n2 (cluster-wide), job 6 on n2 only, by user v."""
    rows = [
        line("10:00:00", "n1.x", 5, 10, 0, cpu=50, epoch=0),
        line("10:05:00", "n1.x", 5, 10, 300, epoch=0),
        line("10:00:02", "n2.x", 5, 20, 0, cpu=70, epoch=0),
        line("10:05:02", "n2.x", 5, 20, 600, epoch=0),
        line("10:05:02", "n2.x", 5, 20, 999, epoch=0),  # repeated timestamp: dropped
        line("11:00:00", "n2.x", 6, 30, 0, user="v"),
    ]
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_bounds_per_host_and_per_job(cli, data) -> None:
    plain = cli(["metadata", "--bounds", "--", data])
    assert plain.out.splitlines() == ["n1.x,2024-03-04 10:00,2024-03-04 10:05",
                                      "n2.x,2024-03-04 10:00,2024-03-04 11:00"]  # fmt: skip
    # Filters choose the jobs; the span is the job's hosts' whole span.
    merged = cli(["metadata", "--bounds", "--merge-by-job", "-u", "u", "--", data])
    assert merged.out.splitlines() == ["n[1-2].x,2024-03-04 10:00,2024-03-04 11:00"]


def test_times_and_files(cli, data) -> None:
    r = cli(["metadata", "--times", "--files", "-f", "2024-03-04", "-t", "2024-03-04", "--", data])
    assert r.out.splitlines() == ["From: 2024-03-04T00:00:00Z", "To:   2024-03-04T23:59:59Z",
                                  str(data)]  # fmt: skip


def test_nothing_selected_prints_nothing(cli, data) -> None:
    r = cli(["metadata", "--", data])
    assert (r.code, r.out) == (0, "")


def test_clean_streams_with_cpu_utilisation(cli, data) -> None:
    r = cli(["sample", "--clean", "--fmt=csv,separator,host,job,cputime_sec,cpu_util_pct",
             "--", data])  # fmt: skip
    assert r.out.splitlines() == [
        "*", "n1.x,5,0,50", "n1.x,5,300,100",
        "*", "n2.x,5,0,70", "n2.x,5,600,200",
        "*", "n2.x,6,0,0",
    ]


def test_streams_merged_by_job_across_hosts(cli, data) -> None:
    r = cli(["sample", "--merge-by-job", "--fmt=csv,separator,host,job,localtime,cpu_util_pct",
             "--", data])  # fmt: skip
    assert r.out.splitlines() == [
        "*", "n2.x,6,2024-03-04 11:00,0",
        "*", "n[1-2].x,5,2024-03-04 10:00,120", "n[1-2].x,5,2024-03-04 10:05,300",
    ]
    last = cli(["sample", "--merge-by-host-and-job", "--last", "1", "--fmt=csv,host,job", "--",
                data])  # fmt: skip
    assert last.out.splitlines() == ["n1.x,5", "n2.x,5", "n2.x,6"]


def test_stream_view_options_are_checked(cli, data) -> None:
    both = cli(["sample", "--clean", "--merge-by-job", "--", data])
    assert both.code == 2 and "Pick one" in both.err
    last = cli(["sample", "--last", "2", "--", data])
    assert last.code == 2 and "--last requires" in last.err
