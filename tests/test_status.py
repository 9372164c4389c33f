"""`status`: newest records, how far behind, silent hosts -- values from a tree built by `add`."""

from __future__ import annotations

import json
from pathlib import Path

SAMPLE = "v=0.7.0,time={t},host={h},user=u,cmd=c,job=1,pid=1\n"
SYSINFO = '{{"version":"0.9.0","timestamp":"{t}","hostname":"{h}","cpu_cores":8,"mem_gb":16}}\n'
SACCT = "v=0.1.0,JobID={j},JobIDRaw={j},User=u,State=COMPLETED,Start={s},End={e}\n"


def build(cli, tmp_path: Path) -> Path:
    tree = tmp_path / "fox"
    text = (SAMPLE.format(t="2025-03-03T11:55:00Z", h="c1-1")      # fresh
            + SAMPLE.format(t="2025-03-03T09:00:00Z", h="c1-2")    # 3 h old: silent
            + SAMPLE.format(t="2025-03-01T12:00:00Z", h="c1-3")    # two days old: silent
            + SAMPLE.format(t="2025-03-03T18:00:00Z", h="c1-1")    # after --now: not counted
            + SYSINFO.format(t="2025-03-02T23:00:00Z", h="c1-1")   # 13 h: fine for sysinfo
            + SACCT.format(j=5, s="2025-03-02T10:00:00Z", e="2025-03-03T10:30:00Z"))  # fmt: skip
    inp = tmp_path / "in.txt"
    for i, chunk in enumerate(text.splitlines(keepends=True)):  # one format per input
        inp.with_suffix(f".{i}").write_text(chunk)
    files = sorted(tmp_path.glob("in.*"))
    assert cli(["add", "--data-dir", tree, *files]).code == 0
    return tree


def test_newest_records_behind_and_silent_hosts(cli, tmp_path) -> None:
    tree = build(cli, tmp_path)
    result = cli(["status", "--data-dir", tree, "--now", "2025-03-03T12:00:00Z", "--fmt", "json"])
    assert result.code == 0, result.err
    rows = {r["table"]: r for r in json.loads(result.out)}
    assert rows["sample"] == {"cluster": "fox", "table": "sample", "newest": "2025-03-03T11:55:00Z",
                              "behind": "0d0h5m", "hosts": "3", "silent": "2",
                              "silent_hosts": "c1-[2-3]"}  # fmt: skip
    assert (rows["sysinfo"]["silent"], rows["sysinfo"]["behind"]) == ("0", "0d13h0m")
    assert rows["sacct"]["newest"] == "2025-03-03T10:30:00Z"
    assert "partitions" not in rows  # no such files: no row


def test_one_row_per_host(cli, tmp_path) -> None:
    tree = build(cli, tmp_path)
    result = cli(["status", "--data-dir", tree, "--now", "2025-03-03T12:00:00Z", "--hosts",
                  "--silent-after", "4h", "--fmt", "csv,table,host,newest,silent"])  # fmt: skip
    assert result.out.splitlines()[:4] == [
        "sample,c1-1,2025-03-03T11:55:00Z,0",
        "sample,c1-2,2025-03-03T09:00:00Z,0",  # 3 h is within 4 h
        "sample,c1-3,2025-03-01T12:00:00Z,1",
        "sysinfo,c1-1,2025-03-02T23:00:00Z,0",
    ]


def test_hosts_outside_the_lookback_are_not_listed(cli, tmp_path) -> None:
    tree = build(cli, tmp_path)
    result = cli(["status", "--data-dir", tree, "--now", "2025-03-03T12:00:00Z", "--lookback", "1d",
                  "--fmt", "csv,table,hosts,silent_hosts", "-q", "table = sample"])  # fmt: skip
    assert result.out == "sample,2,c1-2\n"


def test_bad_durations_are_usage_errors(cli, tmp_path) -> None:
    tree = build(cli, tmp_path)
    result = cli(["status", "--data-dir", tree, "--silent-after", "soon"])
    assert result.code == 2 and "Invalid --silent-after value 'soon'" in result.err
