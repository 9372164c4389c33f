"""Batch parsing gives every file exactly what parsing it alone gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonalyze.ingest.cluzter_json import parse_cluzter_json
from sonalyze.ingest.sacct_csv import parse_sacct_csv
from sonalyze.ingest.sample_csv import parse_sample_csv
from sonalyze.ingest.sample_json import parse_sample_json
from sonalyze.ingest.sysinfo_json import parse_sysinfo_json
from sonalyze.ingest.sysinfo_old import parse_sysinfo_old
from sonalyze.tables.batch import batches, parse_batch

EDGE = Path(__file__).resolve().parent.parent / "testdata" / "edge" / "2025" / "03" / "03"
TREE = Path(__file__).resolve().parent.parent / "testdata" / "tree" / "data"


@pytest.mark.parametrize(
    ("parser", "files"),
    [
        (parse_sample_csv, [EDGE / "e1.csv", EDGE / "empty.csv", TREE / "alpha/2025/03/03/a-gpu1.csv",
                            EDGE / "e1.csv"]),
        (parse_sample_json, [EDGE / "0+sample-e2.json", TREE / "beta/2025/03/03/0+sample-b-gpu1.json",
                             EDGE / "0+sample-e2.json"]),
        (parse_sacct_csv, [EDGE / "slurm-sacct.csv", TREE / "alpha/2025/03/04/slurm-sacct.csv"]),
        (parse_sysinfo_old, [EDGE / "sysinfo-e1.json", TREE / "alpha/2025/03/03/sysinfo-a-gpu1.json"]),
        (parse_sysinfo_json, [TREE / "beta/2025/03/03/0+sysinfo-b-gpu1.json",
                              TREE / "beta/2025/03/04/0+sysinfo-b-gpu1.json"]),
        (parse_cluzter_json, [TREE / "beta/2025/03/03/0+cluzter-slurm.json",
                              TREE / "beta/2025/03/04/0+cluzter-slurm.json"]),
    ],
)  # fmt: skip
def test_batch_equals_one_by_one(parser, files: list[Path]) -> None:
    datas = [f.read_bytes() for f in files]
    together = parse_batch(datas, parser)
    for data, got in zip(datas, together, strict=True):
        alone = parser(data)
        assert got.frame.equals(alone.frame)
        assert got.problems == alone.problems
        assert got.extra.keys() == alone.extra.keys()
        assert all(got.extra[k].equals(alone.extra[k]) for k in alone.extra)


def test_file_without_final_newline_does_not_merge_with_the_next() -> None:
    line = "v=1,time=2025-01-01T00:00:00Z,host=h,user=u,cmd=c,pid={}"
    a, b = parse_batch([line.format(1).encode(), line.format(2).encode()], parse_sample_csv)
    assert a.frame["pid"].to_list() == [1] and b.frame["pid"].to_list() == [2]


def test_new_sysinfo_reports_its_bad_lines() -> None:
    good = json.dumps({"meta": {"version": "1"}, "data": {"type": "sysinfo", "attributes": {
        "time": "2025-03-03T08:00:00Z", "node": "n1"}}})  # fmt: skip
    parsed = parse_sysinfo_json(f"{good}\nbroken\n{good}\n".encode())
    assert parsed.frame.height == 2
    assert [(p.line, p.reason) for p in parsed.problems] == [(2, "not a JSON object")]


def test_batches_respect_the_byte_limit() -> None:
    assert batches([5, 5, 5, 20, 1], limit=10) == [[0, 1], [2], [3], [4]]
