"""Every verb through the CLI, in every format, with values checked against the data."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from sonalyze.verbs import VERBS

FORMATS = ["fixed", "csv", "csvnamed", "json", "awk"]


def verb_args(verb: str, tree: Path) -> list[str]:
    store = ["--jobanalyzer-dir", tree]
    window = ["-f", "2025-03-03", "-t", "2025-03-04"]
    return {
        "sample": ["sample", *store, "--cluster", "alpha", *window, "--host", "a-gpu1"],
        "sacct": ["sacct", *store, "--cluster", "beta", *window],
        "node": ["node", *store, "--cluster", "beta", *window],
        "config": ["config", *store, "--cluster", "alpha", *window],
        "cluster": ["cluster", *store],
        "spart": ["spart", *store, "--cluster", "beta", *window],
        "snode": ["snode", *store, "--cluster", "beta", *window],
        "jobs": ["jobs", *store, "--cluster", "alpha", *window, "-u", "-"],
        "load": ["load", *store, "--cluster", "alpha", *window, "--host", "a-gpu1"],
        "uptime": ["uptime", *store, "--cluster", "alpha", *window, "--interval", "5"],
        "metadata": ["metadata", *store, "--cluster", "alpha", *window, "--bounds"],
        "status": ["status", *store, "--now", "2025-03-04"],
        "efficiency": ["efficiency", *store, "--cluster", "alpha", *window, "--now", "2025-03-06"],
        "usage": ["usage", *store, "--cluster", "alpha", *window, "--now", "2025-03-06"],
    }[verb]


def rows_of(fmt: str, text: str) -> list[dict[str, str]] | list[list[str]]:
    if fmt == "json":
        return json.loads(text)
    if fmt == "csv":
        return list(csv.reader(io.StringIO(text)))
    return [line for line in text.splitlines() if line]


@pytest.mark.parametrize("verb", [v.name for v in VERBS])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_verb_in_every_format_agrees_on_row_count(cli, tree, verb: str, fmt: str) -> None:
    base = verb_args(verb, tree)
    reference = cli([*base, "--fmt=csv,all" if verb != "sacct" else "--fmt=csv,default"])
    assert reference.code == 0, reference.err
    expected_rows = len(reference.out.splitlines())
    assert expected_rows > 0
    result = cli([*base, f"--fmt={fmt},default"])
    assert result.code == 0 and result.err == ""
    header = 1 if fmt == "fixed" else 0
    if verb == "load" and fmt in ("fixed", "json"):
        # One table per host: fixed adds a HOST: line, JSON wraps the rows with the host.
        rows = result.out.splitlines() if fmt == "fixed" else json.loads(result.out)[0]["records"]
        assert len(rows) == expected_rows + 2 * header
        return
    assert len(rows_of(fmt, result.out)) == expected_rows + header


@pytest.mark.parametrize("verb", [v.name for v in VERBS])
def test_empty_window_prints_valid_empty_output(cli, tree, verb: str) -> None:
    if verb == "cluster":
        return  # not time-bounded
    base = [a if a != "2025-03-03" else "2024-01-01" for a in verb_args(verb, tree)]
    base = [a if a != "2025-03-04" else "2024-01-02" for a in base]
    if verb in ("node", "config"):
        # With a store, an empty window falls back to the config file; a bare tree has none.
        base = [verb, "--data-dir", tree / "data" / "beta", "-f", "2024-01-01", "-t", "2024-01-02"]
    if verb == "uptime":
        # Every host the cluster config names is down throughout an empty window.
        rows = json.loads(cli([*base, "--fmt=json,host,state"]).out)
        assert rows and {r["state"] for r in rows} == {"down"}
        return
    for fmt, expected in (("json", "[]\n"), ("csv", ""), ("awk", "")):
        result = cli([*base, f"--fmt={fmt}"])
        assert (result.code, result.out) == (0, expected)


@pytest.mark.parametrize("verb", [v.name for v in VERBS])
def test_fmt_help_lists_every_field(cli, verb: str) -> None:
    info = next(v for v in VERBS if v.name == verb)
    result = cli([verb, "--fmt=help"])
    assert result.code == 0
    for field in info.fields.fields:
        assert f"  {field.name} - " in result.out


def test_sacct_values_from_hand_written_records(cli, edge) -> None:
    result = cli(["sacct", "--data-dir", edge, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--fmt=json,JobID,User,State,ReqCPUS,ReqMem,MaxRSS,rcpu,rmem,Timelimit,Wait"])
    (job,) = json.loads(result.out)
    # 4 CPUs x 3600 s requested; 1h30m user + 10m system used = 6000 s -> 42 %.
    # MaxRSS 4 GiB (batch step) of 8 GiB requested -> 50 %.
    assert job == {"JobID": "900", "User": "ann", "State": "COMPLETED", "ReqCPUS": "4",
                   "ReqMem": "8388608", "MaxRSS": "4194304", "rcpu": "42", "rmem": "50",
                   "Timelimit": "7200", "Wait": "600"}  # fmt: skip
    assert "skipped 2 bad record(s)" in result.err


def test_sacct_array_jobs_are_grouped(cli, edge) -> None:
    result = cli(["sacct", "--data-dir", edge, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--array", "--fmt=csv,JobID,ArrayJobID,ArrayTaskID,State"])
    assert result.out == "\n902 array bob 1 elements CANCELLED\n905,902,3,CANCELLED\n"


def test_sample_filters_and_window_use_utc(cli, edge) -> None:
    base = ["sample", "--data-dir", edge, "--fmt=csv,cmd"]
    # Directories are chosen by the window, records by their UTC time: the +01:00
    # record filed under the 3rd is from 23:10 UTC on the 2nd, so a window over
    # both days finds it, and one over the 3rd alone does not.
    both = cli([*base, "-f", "2025-03-02", "-t", "2025-03-03", "--host", "e1"]).out.split()
    assert both[:2] == ["day-before", "good-local-offset"]
    third = cli([*base, "-f", "2025-03-03", "-t", "2025-03-03", "--host", "e1"]).out.split()
    assert "good-local-offset" not in third and "good-utc" in third
    only_bob = cli([*base, "-f", "2025-03-03", "-t", "2025-03-03", "-u", "bob"]).out.split()
    assert only_bob == ["also-good", "untagged"]
    by_job = cli([*base, "-f", "2025-03-03", "-t", "2025-03-03", "-j", "70,71"]).out.split()
    assert by_job == ["good", "also-good"]
    hosts = cli([*base, "-f", "2025-03-03", "-t", "2025-03-03", "--host", "e2",
                 "--exclude-command", "good"]).out.split()  # fmt: skip
    assert hosts == ["also-good"]


def test_bad_records_are_summarised_and_listed_with_v(cli, edge) -> None:
    args = ["sample", "--data-dir", edge, "-f", "2025-03-03", "-t", "2025-03-03"]
    quiet, loud = cli(args), cli([*args, "-v"])
    assert quiet.err == "sonalyze: skipped 11 bad record(s) in 2 file(s) (use -v to list them)\n"
    assert "e1.csv:4: bad value for cores" in loud.err
    assert quiet.out == loud.out and "good-utc" in quiet.out


def test_query_filters_output_rows(cli, tree) -> None:
    base = verb_args("sample", tree)
    all_rows = cli([*base, "--fmt=csv,cpu%"]).out.split()
    busy = cli([*base, "--fmt=csv,cpu%", "-q", "CpuPct > 100"]).out.split()
    assert busy == [x for x in all_rows if float(x) > 100] and 0 < len(busy) < len(all_rows)


def test_node_newest_and_config_fallback(cli, tree, tmp_path) -> None:
    node = cli(["node", "--jobanalyzer-dir", tree, "--cluster", "beta", "-f", "2025-03-03",
                "-t", "2025-03-06", "--newest", "--fmt=csv,host,timestamp"])  # fmt: skip
    assert node.out.splitlines()[0] == "b-cpu2,2025-03-05T06:17:00Z"
    empty = tmp_path / "data"
    (empty / "2025/03/03").mkdir(parents=True)
    conf = tree / "cluster-config" / "alpha-config.json"
    fallback = cli(["config", "--data-dir", empty, "--config-file", conf, "--fmt=csv,host,cores"])
    assert fallback.out.splitlines() == ["a-cpu2,128", "a-cpu4,128", "a-gpu1,64", "a-gpu3,64"]


def test_go_style_single_dash_options(cli, tree) -> None:
    a = cli(["cluster", "-jobanalyzer-dir", tree, "-fmt=csv,cluster,aliases"])
    assert a.out == "alpha,a\nbeta,b\n"


def test_file_list_source(cli, edge) -> None:
    f = edge / "2025/03/03/e1.csv"
    result = cli(["sample", "--fmt=csv,pid", "--", f])
    assert result.out.split() == ["10", "11", "12", "99", "0", "18"]
