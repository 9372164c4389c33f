"""`uptime` through the CLI on hand-written samples with known up and down periods."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def line(t: str, host: str, gpufail: int = 0) -> str:
    return (f"v=0.12.0,time=2024-03-04T{t}Z,host={host},cores=8,user=u,job=1,pid=1,cmd=x,"
            f"cpu%=1,cputime_sec=0,gpufail={gpufail}")  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """h1 samples every 5 min 10:00-10:20 with a 20-min hole, GPU failing at 10:10.
    h2 only at 10:00 and 10:40."""
    rows = [line("10:00:00", "h1"), line("10:05:00", "h1"), line("10:10:00", "h1", 1),
            line("10:15:00", "h1"), line("10:35:00", "h1"), line("10:40:00", "h1"),
            line("10:00:00", "h2"), line("10:40:00", "h2")]  # fmt: skip
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_gaps_longer_than_twice_the_interval_are_down(cli, data) -> None:
    r = cli(["uptime", "--interval", "5", "--fmt=csv,device,host,state,start,end", "--", data])
    assert r.code == 0, r.err
    day = "2024-03-04 "
    assert r.out.replace(day, "").splitlines() == [
        "host,h1,up,10:00,10:15",
        "gpu,h1,up,10:00,10:10",
        "gpu,h1,down,10:10,10:15",
        "host,h1,down,10:15,10:35",
        "gpu,h1,up,10:15,10:15",
        "host,h1,up,10:35,10:40",
        "gpu,h1,up,10:35,10:40",
        "host,h2,up,10:00,10:00",
        "host,h2,down,10:00,10:40",
        "gpu,h2,up,10:00,10:00",
        "host,h2,up,10:40,10:40",
        "gpu,h2,up,10:40,10:40",
    ]


def test_a_longer_interval_forgives_the_hole(cli, data) -> None:
    r = cli(["uptime", "--interval", "10", "--only-down", "--fmt=csv,host,start,end", "--",
             data])  # fmt: skip
    # 20 minutes is within 2 x 10: only h2's 40-minute hole and h1's GPU failure remain.
    assert r.out.replace("2024-03-04 ", "").splitlines() == ["h1,10:10,10:15", "h2,10:00,10:40"]


def test_window_edges_and_silent_hosts_from_the_config(cli, data, tmp_path) -> None:
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps({"name": "x", "nodes": [
        {"hostname": "h[1-3]", "cpu_cores": 8, "mem_gb": 16}]}))
    r = cli(["uptime", "--interval", "5", "--only-down", "--config-file", config,
             "-f", "2024-03-04", "-t", "2024-03-04", "--host", "h1,h3",
             "--fmt=csv,device,host,start,end", "--", data])  # fmt: skip
    assert r.code == 0, r.err
    assert r.out.replace("2024-03-04 ", "").splitlines() == [
        "host,h1,00:00,10:00",
        "gpu,h1,10:10,10:15",
        "host,h1,10:15,10:35",
        "host,h1,10:40,23:59",
        "host,h3,00:00,23:59",
    ]


def test_json_and_only_up(cli, data) -> None:
    r = cli(["uptime", "--interval", "5", "--only-up", "--host", "h2", "--fmt=json,all", "--",
             data])  # fmt: skip
    rows = json.loads(r.out)
    assert {row["state"] for row in rows} == {"up"}
    assert [row["device"] for row in rows] == ["host", "gpu", "host", "gpu"]


@pytest.mark.parametrize(("args", "message"), [
    ([], "--interval is required"),
    (["--interval", "5", "--only-up", "--only-down"], "Nonsensical"),
])  # fmt: skip
def test_bad_options(cli, data, args, message) -> None:
    r = cli(["uptime", *args, "--", data])
    assert r.code == 2 and message in r.err


def test_reading_one_host_at_a_time_finds_the_same_periods(cli, tree, monkeypatch) -> None:
    import sonalyze.cli.samples as samples

    argv = ["uptime", "--jobanalyzer-dir", tree, "--cluster", "beta", "-f", "2025-03-03",
            "-t", "2025-03-06", "--interval", "5", "--fmt=csv,device,host,state,start,end"]  # fmt: skip
    monkeypatch.setattr(samples, "CHUNK_BYTES", 1 << 40)
    whole = cli(argv)
    monkeypatch.setattr(samples, "CHUNK_BYTES", 1)
    per_host = cli(argv)
    assert whole.code == per_host.code == 0, (whole.err, per_host.err)
    assert "up" in whole.out and len(whole.out.splitlines()) >= 4
    assert per_host.out == whole.out
