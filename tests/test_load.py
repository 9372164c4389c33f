"""`load` through the CLI on a small hand-written sample file with known answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest


def line(t: str, host: str, pid: int, cmd: str, *, cpu: float = 0.0, cputime: int = 0,
         kib: int = 0, gpus: str = "none", gpu: float = 0.0, user: str = "u") -> str:  # fmt: skip
    return (f"v=0.12.0,time=2024-03-04T{t}Z,host={host},cores=8,user={user},job={pid},pid={pid},"
            f"cmd={cmd},cpu%={cpu},cpukib={kib},rssanonkib={kib},\"gpus={gpus}\",gpu%={gpu},"
            f"gpukib={kib},cputime_sec={cputime}")  # fmt: skip


GIB = 1024 * 1024


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """h1: 100% then 300% CPU in the 10:00 hour, 30% at 11:10; h2: 400% at 10:20 and
    12:40.  A bash process on h1 must not count."""
    rows = [
        line("10:05:00", "h1.x", 1, "sim", cpu=100, kib=2 * GIB, gpus="0", gpu=50),
        line("10:35:00", "h1.x", 1, "sim", cputime=5400, kib=4 * GIB, gpus="0", gpu=150),
        line("11:10:00", "h1.x", 1, "sim", cputime=6030, kib=2 * GIB),
        line("10:05:00", "h1.x", 9, "bash", cpu=900),
        line("10:20:00", "h2.x", 2, "md", cpu=400, kib=GIB),
        line("12:40:00", "h2.x", 2, "md", cputime=33600, kib=3 * GIB),
    ]
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def csv_of(cli, *args) -> list[str]:
    r = cli(["load", *args])
    assert r.code == 0, r.err
    return r.out.splitlines()


def test_hourly_means_with_empty_hours_filled(cli, data) -> None:
    rows = csv_of(cli, "--fmt=csv,host,time,cpu,mem,gpu,gpus", "--", data)
    assert rows == [
        # 10:00: mean of 100% and 300% (5400 s over 1800 s); 3 GiB; GPU 100%.
        "h1.x,10:00,200,3,100,0", "h1.x,11:00,30,2,0,none", "h1.x,12:00,0,0,0,none",
        "h2.x,10:00,400,1,0,none", "h2.x,11:00,0,0,0,none", "h2.x,12:00,400,3,0,none",
    ]


def test_buckets_compact_last_and_none(cli, data) -> None:
    assert csv_of(cli, "--daily", "--fmt=csv,host,date,cpu", "--", data) == [
        "h1.x,2024-03-04,143", "h2.x,2024-03-04,400"]  # (100 + 300 + 30) / 3, truncated
    assert csv_of(cli, "--compact", "--fmt=csv,host,time", "--", data) == [
        "h1.x,10:00", "h1.x,11:00", "h2.x,10:00", "h2.x,12:00"]
    assert csv_of(cli, "--last", "--fmt=csv,host,time,cpu", "--", data) == [
        "h1.x,11:00,30", "h2.x,12:00,400"]
    assert csv_of(cli, "--none", "--fmt=csv,host,datetime,cpu", "--", data)[:2] == [
        "h1.x,2024-03-04 10:05,100", "h1.x,2024-03-04 10:35,300"]


def test_group_sums_hosts(cli, data) -> None:
    rows = csv_of(cli, "--group", "--compact", "--fmt=csv,host,time,cpu", "--", data)
    assert rows == ["h[1-2].x,10:00,600", "h[1-2].x,11:00,30", "h[1-2].x,12:00,400"]


def test_relative_values_round_half_away_from_zero(cli, data, tmp_path) -> None:
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps({"name": "x", "nodes": [
        {"hostname": "h1.x", "cpu_cores": 16, "mem_gb": 8, "gpu_cards": 2, "gpumem_gb": 8},
        {"hostname": "h2.x", "cpu_cores": 32, "mem_gb": 64}]}))
    rows = csv_of(cli, "--compact", "--config-file", config,
                  "--fmt=csv,host,time,rcpu,rmem,rgpu", "--", data)  # fmt: skip
    # 200/16 = 12.5 -> 13; 3 GiB of 8 = 37.5 -> 38; 100/2 cards = 50; 30/16 = 1.9 -> 2.
    assert rows[:2] == ["h1.x,10:00,13,38,50", "h1.x,11:00,2,25,0"]
    assert rows[2] == "h2.x,10:00,13,2,0"  # 400/32 = 12.5 -> 13; 1/64 GiB -> 1.6 -> 2


def test_fixed_has_a_block_per_host_and_json_a_system_per_host(cli, data) -> None:
    fixed = cli(["load", "--compact", "--fmt=time,cpu", "--", data]).out.splitlines()
    assert fixed[0] == "HOST: h1.x" and fixed[1].split() == ["time", "cpu"]
    assert "HOST: h2.x" in fixed
    doc = json.loads(cli(["load", "--compact", "--fmt=json,time,cpu", "--", data]).out)
    assert [d["system"]["hostname"] for d in doc] == ["h1.x", "h2.x"]
    assert doc[0]["system"]["description"] == "Unknown"
    assert doc[1]["records"] == [{"time": "10:00", "cpu": "400"}, {"time": "12:00", "cpu": "400"}]


def test_terminal_chart_and_svg(cli, data, tmp_path) -> None:
    picture = tmp_path / "load.svg"
    r = cli(["load", "--chart", "--chart-file", picture, "--", data])
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith("h1.x  2024-03-04 10:00 .. 2024-03-04 12:00  (3 points)")
    cpu = next(x for x in lines if x.strip().startswith("CPU %"))
    # 200, 30, 0 against the peak 200: full block, the lowest block, empty.
    assert "|█▁ |" in cpu and "max 200" in cpu
    text = picture.read_text()
    assert text.startswith("<svg") and text.count("<polyline") == 8  # 4 metrics x 2 hosts


@pytest.mark.parametrize(("args", "message"), [
    (["--daily", "--weekly"], "Too many bucketing options"),
    (["--all", "--last"], "both --all and --last"),
    (["--group", "--none"], "requires first bucketing"),
    (["--chart-file", "x.png"], "only SVG"),
])  # fmt: skip
def test_bad_option_combinations(cli, data, args, message) -> None:
    r = cli(["load", *args, "--", data])
    assert r.code == 2 and message in r.err


def test_unwritable_chart_file_is_one_clear_error(cli, data, tmp_path) -> None:
    r = cli(["load", "--chart-file", tmp_path / "no" / "such" / "dir.svg", "--", data])
    assert r.code == 1
    assert r.err.startswith("sonalyze: error: Cannot write") and "internal" not in r.err


@pytest.mark.parametrize("cluster", ["alpha", "beta"])
@pytest.mark.parametrize("shape", [
    ["--fmt=csv,host,time,cpu,rcpu,mem,rmem,gpu,rgpu,gpus"],
    ["--daily", "--group", "--fmt=csv,host,time,cpu,rcpu,res,rres"],
    ["--none", "--fmt=json"],
])  # fmt: skip
def test_reading_a_few_hosts_at_a_time_changes_no_figure(per_host_and_whole, tree, cluster,
                                                         shape) -> None:  # fmt: skip
    argv = ["load", "--jobanalyzer-dir", tree, "--cluster", cluster, "-f", "2025-03-03",
            "-t", "2025-03-06", *shape]  # fmt: skip
    whole, per_host, runs = per_host_and_whole(argv)
    assert whole.code == per_host.code == 0, (whole.err, per_host.err)
    assert runs == 4  # the tree's four hosts, one at a time
    assert re.search(r"\b[1-9]\d{3}\b", whole.out)  # some host ran over 10 cores
    assert per_host.out == whole.out


def test_a_file_holding_another_hosts_records_is_read_with_it(per_host_and_whole, tmp_path) -> None:
    # h1's file also holds h2's first record; two hosts are bucketed at once, in two
    # threads, so the split must be noticed and everything read together.
    day = tmp_path / "data" / "2024" / "03" / "04"
    day.mkdir(parents=True)
    h2 = [line("10:05:00", "h2.x", 2, "md", cpu=400, kib=GIB),
          line("10:35:00", "h2.x", 2, "md", cputime=720, kib=GIB)]  # fmt: skip
    (day / "h1.x.csv").write_text(line("10:05:00", "h1.x", 1, "sim", cpu=100) + "\n" + h2[0] + "\n")
    (day / "h2.x.csv").write_text(h2[1] + "\n")
    argv = ["load", "--data-dir", tmp_path / "data", "-f", "2024-03-04", "-t", "2024-03-04",
            "--compact", "--fmt=csv,host,time,cpu,mem"]  # fmt: skip
    whole, per_host, _ = per_host_and_whole(argv)
    assert per_host.code == 0, per_host.err
    # h2: 400% then 720 s over 1800 s = 40%, mean 220; split, its second record would
    # open a stream of its own (400% again).
    assert per_host.out.splitlines() == ["h1.x,10:00,100,0", "h2.x,10:00,220,1"]
    assert per_host.out == whole.out


def test_skipped_records_are_listed_by_file_and_line(cli, tmp_path, monkeypatch) -> None:
    import sonalyze.cli.samples as samples

    day = tmp_path / "data" / "2024" / "03" / "04"
    day.mkdir(parents=True)
    for host in ("h1.x", "h2.x", "h3.x"):
        rows = [line("10:05:00", host, 1, "sim", cpu=100), "v=0.12.0,time=garbage", "\xff\xfe"]
        (day / f"{host}.csv").write_text("\n".join(rows) + "\n", encoding="latin-1")
    monkeypatch.setattr(samples, "CHUNK_BYTES", 1)  # one host at a time, two in flight
    r = cli(["load", "--data-dir", tmp_path / "data", "-f", "2024-03-04", "-t", "2024-03-04",
             "--compact", "-v", "--fmt=csv,host,cpu"])  # fmt: skip
    assert r.code == 0, r.err
    assert r.out.splitlines() == ["h1.x,100", "h2.x,100", "h3.x,100"]
    listed = [ln.split(": ")[1] for ln in r.err.splitlines() if ln.startswith("sonalyze: skipped /")]
    assert [p.rsplit("/", 1)[1] for p in listed] == [
        f"{h}.csv:{n}" for h in ("h1.x", "h2.x", "h3.x") for n in (2, 3)]
    assert "skipped 6 bad record(s) in 3 file(s)" in r.err
