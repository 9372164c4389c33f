"""Regression tests for bugs found in review: each failed before its fix."""

from __future__ import annotations

import json

import pytest

from sonalyze.ingest.lines import split_lines
from sonalyze.ingest.sacct_json import parse_job_json
from sonalyze.ingest.sample_csv import parse_sample_csv
from sonalyze.ingest.sample_json import parse_sample_json
from sonalyze.ingest.sysinfo_old import parse_sysinfo_old


def sample_line(process: dict) -> str:
    attrs = {"time": "2025-03-03T10:00:00Z", "node": "n", "system": {"cpus": [1]},
             "jobs": [{"job": 1, "user": "u", "processes": [process]}]}  # fmt: skip
    return json.dumps({"meta": {"version": "1"}, "data": {"type": "sample", "attributes": attrs}})


def test_out_of_range_json_numbers_are_counted_not_fatal() -> None:
    lines = [sample_line({"pid": 1, "cmd": "ok"}), sample_line({"pid": 2, "rolledup": 5 << 30}),
             sample_line({"pid": 3, "cpu_avg": 1e300}),
             sample_line({"pid": 4, "num_threads": 4294967295})]  # fmt: skip
    parsed = parse_sample_json("\n".join(lines).encode())
    assert parsed.frame["pid"].to_list() == [1]
    assert [p.line for p in parsed.problems] == [2, 3, 4]


def test_huge_sysinfo_numbers_and_deep_nesting_are_counted() -> None:
    good = {"timestamp": "2025-03-03T08:00:00Z", "hostname": "n1", "mem_gb": 8}
    data = "\n".join([json.dumps(good | {"mem_gb": 2**60}), "[" * 100_000,
                      json.dumps(good | {"description": "2x" + "9" * 30 + ", 8 GiB"}),
                      json.dumps(good)]).encode()  # fmt: skip
    parsed = parse_sysinfo_old(data)
    assert parsed.frame.height == 2 and parsed.soft_errors == 2


def test_repeated_key_keeps_the_first_value_with_or_without_quotes() -> None:
    base = "v=1,time=2025-01-01T00:00:00Z,host=h,user=u,cmd=c,job=1,job=2"
    plain = parse_sample_csv(base.encode()).frame["job"].to_list()
    quoted = parse_sample_csv((base + ',"gpus=0,1"').encode()).frame["job"].to_list()
    assert plain == quoted == [1]


def test_blank_lines_and_byte_order_mark_are_not_errors() -> None:
    frame, problems = split_lines(b"\xef\xbb\xbfv=1\n   \n\t\r\nx\n")
    assert frame["line"].to_list() == ["v=1", "x"] and problems == []


def test_gpu_request_falls_back_when_the_allocation_has_no_gpus() -> None:
    job = {"job_id": 1, "user_name": "u", "allocated_resources": "cpu=4,mem=1G",
           "requested_resources": "cpu=4,gres/gpu=2"}  # fmt: skip
    line = json.dumps({"meta": {"version": "1"}, "data": {"type": "job", "attributes": {
        "time": "2025-03-03T00:00:00Z", "slurm_jobs": [job]}}})  # fmt: skip
    assert parse_job_json(line.encode()).frame["req_gpus"].to_list() == ["*=2"]


def test_torn_json_line_does_not_cost_the_good_ones() -> None:
    good = sample_line({"pid": 7, "cmd": "x"})
    parsed = parse_sample_json(f"{good}\n{good[:40]}\n{good}".encode())
    assert parsed.frame["pid"].to_list() == [7, 7] and [p.line for p in parsed.problems] == [2]


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["sample", "--data-dir", "{edge}", "-f", "99999999d"], 2),
        (["sample", "--data-dir", "{edge}", "-f", "0001-01-01T00:00:00+01:00"], 2),
        (["sample", "--data-dir", "{edge}", "-j", "\u00b2"], 2),
        (["sacct", "--data-dir", "{edge}", "--min-runtime", "\u00b2"], 2),
        (["sample", "--data-dir", "{edge}", "-q", "(" * 2000 + "Job = 1" + ")" * 2000], 2),
        (["sample", "--data-dir", "{edge}", "-q", " or ".join(["Job = 1"] * 3000)], 2),
        (["sample", "--data-dir", "{edge}", "-q", "Cmd =~ '(?=x)'"], 2),
        (["sample", "--data-dir", "{edge}", "-q", "localtime > '0001-01-01T00:30+01:00'"], 2),
        (["sample", "--data-dir", "{edge}", "--host", ";".join(["a[1-9999]"] * 60)], 2),
        (["cluster", "--data-dir", "/nonexistent"], 1),
        (["sacct", "--jobanalyzer-dir", "{tree}", "--cluster", ".."], 1),
        (["sacct", "--data-dir", "{edge}", "--min-reserved-mem", "-1"], 2),
    ],
)
def test_bad_input_is_one_clear_line(cli, tree, edge, args: list[str], code: int) -> None:
    result = cli([a.format(edge=edge, tree=tree) for a in args])
    assert result.code == code
    assert result.err.startswith("sonalyze: error: ") and result.err.count("\n") == 1


def test_query_regex_uses_the_engine_that_runs_it(cli, edge) -> None:
    result = cli(["sample", "--data-dir", edge, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--fmt=csv,cmd", "-q", r"Cmd =~ '\p{Ll}+-utc'"])  # fmt: skip
    assert result.out.split() == ["good-utc"]


def test_wide_window_lists_directories_instead_of_probing_dates(cli, edge) -> None:
    result = cli(["sample", "--data-dir", edge, "-f", "0001-01-01", "-t", "9999-12-31",
                  "--fmt=csv,cmd", "--host", "e1"])  # fmt: skip
    assert result.code == 0 and result.out.split()[0] == "day-before"


def test_spart_host_filter_survives_malformed_ranges_in_the_data(cli, tmp_path) -> None:
    day = tmp_path / "2025/03/03"
    day.mkdir(parents=True)
    attrs = {"time": "2025-03-03T08:00:00Z", "partitions": [
        {"name": "p", "nodes": ["bad[x]", "c1"]}, {"name": "q", "nodes": ["c2"]}]}  # fmt: skip
    line = json.dumps({"meta": {"version": "1"}, "data": {"type": "cluster", "attributes": attrs}})
    (day / "0+cluzter-slurm.json").write_text(line + "\n")
    result = cli(["spart", "--data-dir", tmp_path, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--host", "c1", "--fmt=csv,part"])  # fmt: skip
    assert (result.code, result.out) == (0, "p\n")


def test_a_file_read_twice_reports_its_bad_records_once(cli, tmp_path) -> None:
    # jobs and top read the same files more than once; the summary counted each read.
    good = "v=0.12.0,time=2024-03-04T10:00:00Z,host=h,cores=8,user=u,job=1,pid=1,cmd=x,cpu%=1"
    data = tmp_path / "samples.csv"
    data.write_text(good + "\nv\n")
    r = cli(["jobs", "-u", "-", "--fmt=csv,job", "--", data])
    assert r.out == "1\n"
    assert "skipped 1 bad record(s) in 1 file(s)" in r.err
