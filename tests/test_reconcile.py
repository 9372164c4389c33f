"""`reconcile`: each kind of inconsistency, made by hand, found and turned into a correction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def record(job: str, state: str, start: str, end: str, *, cpus: int = 2, limit: str = "600",
           node: str = "n1", account: str = "p1") -> str:  # fmt: skip
    elapsed = 0
    if end != "Unknown":
        elapsed = (int(end[11:13]) - int(start[11:13])) * 3600 + (int(end[14:16]) - int(start[14:16])) * 60
    return (f"v=0.1.0,JobID={job},JobIDRaw={job},User=ann,Account={account},State={state},"
            f"Start={start},End={end},ElapsedRaw={elapsed},TimelimitRaw={limit},NodeList={node},"
            f'"AllocTRES=billing={cpus},cpu={cpus},mem=4G,node=1"\n')


def samples(job: int, host: str, first: str, count: int) -> str:
    h, m = int(first[:2]), int(first[3:])
    lines = []
    for k in range(count):
        t = h * 60 + m + 5 * k
        lines.append(f"v=0.7.0,time=2025-03-03T{t // 60:02d}:{t % 60:02d}:00Z,host={host},user=ann,"
                     f"cmd=app,job={job},pid={job},cpu%=100,cputime_sec={300 * k},rssanonkib=1000\n")
    return "".join(lines)


D = "2025-03-03T"


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rec")
    day1 = [
        record("300", "COMPLETED", D + "01:00:00Z", D + "02:00:00Z"),  # also in the next file
        record("301", "RUNNING", D + "03:00:00Z", "Unknown"),  # completed in the next file
        "v=0.1.0,JobID=302.batch,JobIDRaw=302.batch,State=COMPLETED,"
        f"Start={D}04:00:00Z,End={D}05:00:00Z,ElapsedRaw=3600,MaxRSS=1G\n",  # no job record
        record("303", "RUNNING", D + "10:00:00Z", "Unknown", limit="60", node="n2"),
        record("305", "COMPLETED", D + "10:00:00Z", D + "11:00:00Z", node="n1"),  # not sampled
        record("306", "COMPLETED", D + "10:00:00Z", D + "13:00:00Z", node="n1"),  # 3 h, seen 1
    ]
    inp = root / "in"
    inp.mkdir()
    (inp / "sacct.csv").write_text("".join(day1))
    (inp / "samples.csv").write_text(
        samples(303, "n2", "10:00", 5) + samples(304, "n3", "12:00", 6) + samples(306, "n1", "10:00", 12))
    from conftest import run_cli

    assert run_cli(["add", "--data-dir", root / "tree", *sorted(inp.iterdir())]).code == 0
    later = root / "tree/2025/03/04"
    later.mkdir(parents=True)
    (later / "slurm-sacct.csv").write_text(
        day1[0] + record("301", "COMPLETED", D + "03:00:00Z", D + "04:30:00Z"))
    return root / "tree"


@pytest.fixture(scope="module")
def found(tree) -> list[dict]:
    from conftest import run_cli

    result = run_cli(["reconcile", "--data-dir", tree, "--since", "2025-03-03", "--until",
                      "2025-03-04", "--now", "2025-03-04T12:00:00Z", "--fmt=json,all"])  # fmt: skip
    assert result.code == 0, result.err
    assert result.err.startswith("sonalyze: reconcile 2025-03-03..2025-03-04: ")
    return json.loads(result.out)


def of(found: list[dict], kind: str) -> list[tuple[str, str, str, str]]:
    return [(r["job"], r["field"], r["old"], r["new"]) for r in found if r["kind"] == kind]


def test_duplicated_and_conflicting_records(found) -> None:
    assert of(found, "duplicate") == [("300", "record", "2", "1")]
    assert of(found, "conflict") == [("301", "state", "RUNNING", "COMPLETED"),
                                     ("301", "end", "", "2025-03-03T04:30:00Z"),
                                     ("301", "elapsed_raw", "0", "5400")]  # fmt: skip


def test_step_without_a_job(found) -> None:
    assert of(found, "orphan_step") == [("302.batch", "record", "step without job", "")]


def test_job_left_running_gets_the_end_the_samples_give(found) -> None:
    # Samples of 303 from 10:00 to 10:20, every 5 minutes: it ended by 10:25, before its limit.
    ((job, field, old, new),) = of(found, "stale_state")
    assert (job, field, old, new) == ("303", "end", "", "2025-03-03T10:25:00Z")
    assert "its samples stopped" in [r for r in found if r["kind"] == "stale_state"][0]["reason"]


def test_jobs_in_one_source_only(found) -> None:
    assert of(found, "no_slurm_record") == [("304", "record", "", "")]
    assert of(found, "no_samples") == [("305", "record", "", "")]


def test_charges_that_differ(found) -> None:
    # 306: Slurm charges 2 cores x 3 h; the samples saw 12 x 5 minutes = 1 h: 2 core-hours.
    assert of(found, "charge_difference") == [("306", "core_h", "6", "2"), ("", "core_h", "6", "2")]


def test_consistent_data_gives_nothing(cli) -> None:
    root = Path(__file__).resolve().parent.parent / "testdata" / "tree"
    result = cli(["reconcile", "--jobanalyzer-dir", root, "--cluster", "beta", "--since",
                  "2025-03-03", "--until", "2025-03-05", "--now", "2025-03-06"])  # fmt: skip
    assert result.code == 0 and result.out.splitlines()[1:] == []
    assert result.err.endswith(": nothing\n")


@pytest.mark.parametrize("fmt", ["fixed", "csv", "csvnamed", "json", "awk"])
def test_every_format_lists_every_correction(cli, tree, found, fmt) -> None:
    result = cli(["reconcile", "--data-dir", tree, "--since", "2025-03-03", "--until",
                  "2025-03-04", "--now", "2025-03-04T12:00:00Z", f"--fmt={fmt}"])  # fmt: skip
    assert result.code == 0
    count = len(json.loads(result.out)) if fmt == "json" else len(result.out.splitlines())
    assert count == len(found) + (fmt == "fixed")
