"""`usage`: hand-computed charges per period and grouping; ground truth on the generated tree."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest


def record(job: str, raw: str, user: str, account: str, state: str, start: str, end: str,
           cpus: int, *, limit: str = "UNLIMITED", suspended: str = "00:00:00") -> str:  # fmt: skip
    return (f"v=0.1.0,JobID={job},JobIDRaw={raw},User={user},Account={account},State={state},"
            f"Start={start},End={end},ElapsedRaw=0,TimelimitRaw={limit},Suspended={suspended},"
            f'Partition=normal,"AllocTRES=billing={2 * cpus},cpu={cpus},mem=4G,node=1"\n')


JOBS = [
    # 200 crosses the month boundary: 2 h in March, 2 h in April, 4 cores.
    record("200", "200", "ann", "p1", "COMPLETED", "2025-03-31T22:00:00Z", "2025-04-01T02:00:00Z", 4),
    # 201 ran 2 h of which 1 h suspended, 2 cores: 2 core-hours.
    record("201", "201", "ann", "p1", "COMPLETED", "2025-03-10T10:00:00Z", "2025-03-10T12:00:00Z", 2,
           suspended="01:00:00"),
    # 202 is still running at --now (2 h so far), no time limit.
    record("202", "202", "bob", "p2", "RUNNING", "2025-04-30T20:00:00Z", "Unknown", 1),
    # 203_1 and 203_2: two array tasks of an hour each.
    record("203_1", "204", "bob", "p2", "COMPLETED", "2025-04-02T10:00:00Z", "2025-04-02T11:00:00Z", 1),
    record("203_2", "205", "bob", "p2", "COMPLETED", "2025-04-02T10:00:00Z", "2025-04-02T11:00:00Z", 1),
    # 206 was last seen RUNNING, with a 60-minute limit: it cannot have run longer.
    record("206", "206", "cat", "p2", "RUNNING", "2025-04-01T00:00:00Z", "Unknown", 8, limit="60"),
]  # fmt: skip
DUPLICATE = record("207", "207", "cat", "p1", "COMPLETED", "2025-03-15T10:00:00Z",
                   "2025-03-15T13:00:00Z", 1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("usage")
    inp = root / "sacct.csv"
    inp.write_text("".join(JOBS) + DUPLICATE)
    from conftest import run_cli

    assert run_cli(["add", "--data-dir", root / "tree", inp]).code == 0
    # The same record again in the next day's file, as a re-run sync job leaves it.
    (root / "tree/2025/03/16").mkdir(parents=True)
    (root / "tree/2025/03/16/slurm-sacct.csv").write_text(DUPLICATE)
    return root / "tree"


def charged(cli, tree: Path, *args: str) -> list[dict]:
    result = cli(["usage", "--data-dir", tree, "-f", "2025-03-01", "-t", "2025-04-30",
                  "--now", "2025-04-30T22:00:00Z", "--fmt=json,all", *args])  # fmt: skip
    assert result.code == 0, result.err
    return json.loads(result.out)


def by_month(rows: list[dict], key: str = "core_h") -> dict[str, float]:
    return {r["period_start"]: float(r[key]) for r in rows}


def test_month_boundary_in_every_mode(cli, tree) -> None:
    only = ["-u", "ann", "--by", "user", "--period", "month"]
    overlap = by_month(charged(cli, tree, *only))
    assert overlap == {"2025-03-01": 8 + 2, "2025-04-01": 8}
    assert by_month(charged(cli, tree, *only, "--prorate")) == overlap
    assert by_month(charged(cli, tree, *only, "--attribute", "end")) == {
        "2025-03-01": 2, "2025-04-01": 16}  # fmt: skip
    assert by_month(charged(cli, tree, *only, "--attribute", "start")) == {"2025-03-01": 18}


def test_suspended_time_is_not_charged(cli, tree) -> None:
    rows = charged(cli, tree, "-u", "ann", "--by", "user", "--period", "day")
    assert by_month(rows)["2025-03-10"] == 2


def test_running_and_vanished_jobs(cli, tree) -> None:
    rows = charged(cli, tree, "--by", "user", "--period", "month")
    cat_april = [r for r in rows if r["user"] == "cat" and r["period_start"] == "2025-04-01"]
    assert float(cat_april[0]["core_h"]) == 8  # 206: its 60-minute limit, not a month
    bob = [r for r in rows if r["user"] == "bob"]
    # 202: 2 h to --now; 203_1 and 203_2: an hour each -- three jobs, 4 core-hours.
    assert [(r["jobs_running"], float(r["core_h"])) for r in bob] == [("3", 4.0)]


def test_a_record_in_two_days_files_counts_once(cli, tree) -> None:
    rows = charged(cli, tree, "-u", "cat", "--by", "user", "--period", "day")
    assert by_month(rows)["2025-03-15"] == 3


def test_totals_equal_the_sum_of_the_parts(cli, tree) -> None:
    whole = charged(cli, tree, "--by", "cluster", "--period", "none")
    total = {k: float(whole[0][k]) for k in ("core_h", "billing_h", "node_h")}
    assert total["core_h"] == 8 + 8 + 2 + 2 + 1 + 1 + 8 + 3
    for by in ("account", "user", "account,user", "partition", "gpu_type"):
        for period in ("day", "week", "month", "none"):
            rows = charged(cli, tree, "--by", by, "--period", period)
            for key, value in total.items():
                assert sum(float(r[key]) for r in rows) == pytest.approx(value, abs=0.05), (by, period)


def test_units_and_shares(cli, tree) -> None:
    rows = charged(cli, tree, "--by", "account", "--period", "none", "--units", "percent")
    assert sum(float(r["core_h"]) for r in rows) == pytest.approx(100, abs=0.05)
    minutes = charged(cli, tree, "--by", "cluster", "--period", "none", "--units", "minutes")
    assert float(minutes[0]["core_h"]) == 33 * 60


def test_bad_options_are_usage_errors(cli, tree) -> None:
    for args, message in ((["--period", "fortnight"], "Invalid --period"),
                          (["--by", "colour"], "Invalid --by key"),
                          (["--attribute", "middle"], "Invalid --attribute"),
                          (["--prorate", "--attribute", "end"], "exclude each other")):  # fmt: skip
        result = cli(["usage", "--data-dir", tree, "-f", "2025-03-01", *args])
        assert result.code == 2 and message in result.err, args


@pytest.mark.parametrize("cluster", ["alpha", "beta"])
def test_core_hours_per_account_and_day_equal_the_truth(cli, cluster) -> None:
    root = Path(__file__).resolve().parent.parent / "testdata" / "tree"
    truth = pl.read_csv(root / "truth.csv").filter(pl.col("cluster") == cluster)
    expected: dict[tuple[str, str], float] = {}
    for account, start, cpus, elapsed in truth.select("account", "start", "cpus", "elapsed_s").iter_rows():
        t = datetime.fromisoformat(start.replace("Z", "+00:00"))
        end = t + timedelta(seconds=elapsed)
        while t < end:  # hand-rolled overlap with each UTC day
            midnight = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
            part = (min(end, midnight) - t).total_seconds()
            key = (t.date().isoformat(), account)
            expected[key] = expected.get(key, 0.0) + cpus * part / 3600
            t = min(end, midnight)
    result = cli(["usage", "--jobanalyzer-dir", root, "--cluster", cluster, "-f", "2025-03-01",
                  "-t", "2025-03-31", "--by", "account", "--fmt=json,period_start,account,core_h"])  # fmt: skip
    ours = {(r["period_start"], r["account"]): float(r["core_h"]) for r in json.loads(result.out)}
    assert ours.keys() == expected.keys()
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=0.005), key


def preset(cli, tree: Path, name: str, *args: str) -> list[dict]:
    result = cli(["usage", name, "--data-dir", tree, "-f", "2025-03-01", "-t", "2025-04-30",
                  "--now", "2025-04-30T22:00:00Z", "--fmt=json,all", *args])  # fmt: skip
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_account_by_user_puts_each_account_total_above_its_users(cli, tree) -> None:
    rows = preset(cli, tree, "account-by-user")
    assert [(r["account"], r["user"]) for r in rows] == [
        ("p1", ""), ("p1", "ann"), ("p1", "cat"), ("p2", ""), ("p2", "cat"), ("p2", "bob")]
    assert [float(r["core_h"]) for r in rows] == [21, 18, 3, 12, 8, 4]


def test_account_by_user_tree_indents_users(cli, tree) -> None:
    rows = preset(cli, tree, "account-by-user", "--tree")
    assert [r["account"] for r in rows] == ["p1", " p1", " p1", "p2", " p2", " p2"]
    bad = cli(["usage", "cluster", "--tree", "--data-dir", tree, "-f", "2025-03-01"])
    assert bad.code == 2 and "--tree goes with the account-by-user report" in bad.err


def test_user_by_account_and_top_users(cli, tree) -> None:
    assert [(r["user"], r["account"]) for r in preset(cli, tree, "user-by-account")] == [
        ("ann", "p1"), ("cat", "p2"), ("cat", "p1"), ("bob", "p2")]
    top = preset(cli, tree, "top-users", "--top", "2", "--fmt=json,user,accounts,core_h")
    assert [(r["user"], r["accounts"], float(r["core_h"])) for r in top] == [
        ("ann", "p1", 18.0), ("cat", "p1,p2", 11.0)]


def test_uppmax_corehour_long_forms(cli, tree) -> None:
    monthly = preset(cli, tree, "corehour-monthly", "--fmt=json,proj_id,month,used")
    assert monthly == [{"proj_id": "p1", "month": "2025-03", "used": "13"},
                       {"proj_id": "p1", "month": "2025-04", "used": "8"},
                       {"proj_id": "p2", "month": "2025-04", "used": "12"}]  # fmt: skip
    weekly = preset(cli, tree, "corehour-weekly", "--fmt=json,proj_id,week,used")
    # 31 March 2025 is a Monday: job 200 lies wholly in ISO week 14.
    assert {w["week"] for w in weekly} == {"2025-W11", "2025-W14", "2025-W18"}
    assert sum(float(w["used"]) for w in weekly) == 33


def test_unknown_report_is_a_usage_error(cli, tree) -> None:
    result = cli(["usage", "lunch", "--data-dir", tree, "-f", "2025-03-01"])
    assert result.code == 2 and "Unknown report 'lunch'" in result.err


GRANTS = ("project,pi,members,type,start,end,core_hours,gpu_hours\n"
          "p1,Ann,ann;cat,small,2025-03-01,2025-03-31,10,\n"
          "p2,Bob,bob,large,2025-04-01,2025-04-30,100,5\n")  # fmt: skip


def grant_rows(cli, tree: Path, path: Path) -> dict[str, dict]:
    result = cli(["usage", "grants", "--data-dir", tree, "--projects", path,
                  "--now", "2025-04-30T22:00:00Z", "--fmt=json,all"])  # fmt: skip
    assert result.code == 0, result.err
    return {r["project"]: r for r in json.loads(result.out)}


def test_grants_used_remaining_and_flags(cli, tree, tmp_path) -> None:
    path = tmp_path / "projects.csv"
    path.write_text(GRANTS)
    rows = grant_rows(cli, tree, path)
    # p1 in March: job 200's March part (8), 201 (2), 207 (3).
    p1 = rows["p1"]
    assert (p1["granted"], p1["used"], p1["remaining"]) == ("10", "13", "-3")
    assert p1["flags"] == "expired,over_use"
    # p2 in April: 202 up to now (2), the two array tasks (2), 206 capped by its limit (8).
    p2 = rows["p2"]
    assert (p2["used"], p2["used_30d"], p2["used_pct"], p2["gpu_used"]) == ("12", "12", "12", "0")
    assert p2["flags"] == "under_use" and p2["exhaustion"] == ""  # 0.4/day: lasts past the end


def test_grants_from_json_and_bad_files(cli, tree, tmp_path) -> None:
    path = tmp_path / "projects.json"
    path.write_text(json.dumps([{"project": "p1", "pi": "Ann", "members": ["ann"], "type": "small",
                                 "start": "2025-03-01", "end": "2025-03-31", "core_hours": 10}]))
    assert grant_rows(cli, tree, path)["p1"]["used"] == "13"
    bad = tmp_path / "bad.csv"
    bad.write_text("project,start,end\np1,2025-03-01,2025-03-31\n")
    result = cli(["usage", "grants", "--data-dir", tree, "--projects", bad])
    assert result.code == 1 and "missing column(s) core_hours" in result.err
    bad.write_text("project,start,end,core_hours\np1,2025-03-31,2025-03-01,5\n")
    result = cli(["usage", "grants", "--data-dir", tree, "--projects", bad])
    assert result.code == 1 and "needs a name, start <= end dates" in result.err


def test_capacity_share_uses_the_nodes_cores(cli) -> None:
    root = Path(__file__).resolve().parent.parent / "testdata" / "tree"
    result = cli(["usage", "cluster", "--jobanalyzer-dir", root, "--cluster", "alpha", "-f",
                  "2025-03-03", "-t", "2025-03-05", "--fmt=json,core_h,capacity_share"])  # fmt: skip
    (row,) = json.loads(result.out)
    # Two nodes of 128 cores and two of 64 (sysinfo), for 72 hours.
    assert float(row["capacity_share"]) == pytest.approx(
        100 * float(row["core_h"]) / (384 * 72), abs=0.05)


def test_capacity_share_is_unknown_without_node_data(cli, tree) -> None:
    rows = charged(cli, tree, "--by", "cluster", "--period", "none")
    assert rows[0]["capacity_share"] == "?"
