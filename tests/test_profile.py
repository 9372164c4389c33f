"""`profile` through the CLI on a hand-written job with known values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

GIB = 1024 * 1024


def line(t: str, host: str, pid: int, cmd: str, *, cpu: float = 0.0, cputime: int = 0,
         kib: int = GIB, rolledup: int = 0, job: int = 42) -> str:  # fmt: skip
    return (f"v=0.12.0,time=2024-03-04T{t}Z,host={host},cores=8,user=ann,job={job},pid={pid},"
            f"cmd={cmd},cpu%={cpu},cpukib={kib},rssanonkib={kib},cputime_sec={cputime},"
            f"rolledup={rolledup}")  # fmt: skip


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rows = [
        line("10:00:10", "n1", 10, "solver", cpu=150, kib=3 * GIB),
        line("10:05:10", "n1", 10, "solver", cputime=600, kib=4 * GIB),  # 200%
        line("10:10:40", "n1", 10, "solver", cputime=660),  # 60 s in 330 s: 18%, at 10:11
        line("10:05:05", "n1", 0, "helper", cpu=300, rolledup=2),
        line("10:05:00", "n1", 99, "other", cpu=100, job=43),
    ]
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_fixed_lines_per_process_per_minute(cli, data) -> None:
    r = cli(["profile", "-j", "42", "--", data])
    assert r.code == 0, r.err
    assert [x.split() for x in r.out.splitlines()] == [
        ["time", "cpu", "mem", "gpu", "gpumem", "nproc", "cmd"],
        ["2024-03-04", "10:00", "150", "3", "0", "0", "solver"],
        ["2024-03-04", "10:05", "200", "4", "0", "0", "solver"],
        ["300", "1", "0", "0", "3", "helper"],
        ["2024-03-04", "10:10", "18", "1", "0", "0", "solver"],
    ]


def test_matrix_of_one_quantity(cli, data) -> None:
    r = cli(["profile", "-j", "42", "--fmt=csv,cpu", "--", data])
    assert r.out.splitlines() == [
        "time,solver (10),helper (0)",
        "2024-03-04 10:00,150,", "2024-03-04 10:05,200,300", "2024-03-04 10:11,18,",
    ]
    bucketed = cli(["profile", "-j", "42", "--bucket", "2", "--fmt=csv,cpu", "--", data])
    # Rows 10:00+10:05 average to 175 for solver; the bucket is labelled by its 2nd row.
    assert bucketed.out.splitlines()[1:] == ["2024-03-04 10:05,175,300", "2024-03-04 10:11,18,"]


def test_max_clamps_noise(cli, data) -> None:
    r = cli(["profile", "-j", "42", "--max", "140", "--fmt=csv,cpu", "--", data])
    # 150 and 200 are clamped to 140; helper's 300, over twice the limit, is dropped to 0.
    assert r.out.splitlines()[1:3] == ["2024-03-04 10:00,140,", "2024-03-04 10:05,140,0"]


def test_json_and_html(cli, data) -> None:
    doc = json.loads(cli(["profile", "-j", "42", "--fmt=json", "--", data]).out)
    assert [row["time"] for row in doc] == ["2024-03-04 10:00", "2024-03-04 10:05",
                                            "2024-03-04 10:11"]  # fmt: skip
    assert doc[1]["points"][1] == {"command": "helper", "pid": 0, "cpu": 300, "mem": 1, "res": 1,
                                   "gpu": 0, "gpumem": 0, "nproc": 3}  # fmt: skip
    page = cli(["profile", "-j", "42", "--fmt=html,cpu", "--", data]).out
    assert '{label: "solver (10)", data: [1.5,2.0,0.2]}' in page
    assert "`cpu` profile of job 42 on `n1`, user `ann`" in page and page.endswith("</html>\n")


@pytest.mark.parametrize(("args", "message"), [
    (["-j", "42,43"], "Exactly one specific job"),
    (["-j", "42", "--max", "-1"], "nonnegative"),
    (["-j", "42", "--fmt=csv,cpu,mem"], "exactly one of the fields"),
    (["-j", "42", "--fmt=html,csv,cpu"], "Multiple output formats"),
])  # fmt: skip
def test_bad_options(cli, data, args, message) -> None:
    r = cli(["profile", *args, "--", data])
    assert r.code == 2 and message in r.err


def test_unknown_job_is_an_error(cli, data) -> None:
    r = cli(["profile", "-j", "7", "--", data])
    assert r.code == 1 and "No processes matching job ID(s): [7]" in r.err


def test_fmt_help_lists_the_fields(cli) -> None:
    r = cli(["profile", "--fmt=help"])
    assert r.code == 0
    for name in ("Timestamp", "CpuUtilPct", "ResidentMemGB", "NumProcs", "Command"):
        assert f"  {name} - " in r.out


def test_awk_matrix_marks_absent_cells_with_dots(cli, data) -> None:
    r = cli(["profile", "-j", "42", "--fmt=awk,header,cpu", "--", data])
    assert r.out.splitlines() == [
        "time solver(10) helper(0)",
        "2024-03-04_10:00 150 .", "2024-03-04_10:05 200 300", "2024-03-04_10:11 18 .",
    ]
