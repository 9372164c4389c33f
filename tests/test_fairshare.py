"""`fairshare`: flux-accounting's, Slurm Fair Tree's and classic values on their own
published test trees (flux-accounting t1098 and weighted_tree tests, Slurm test24.1/24.4)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sonalyze.verbs.fairshare import compute, parse_tree


def bank(name: str, shares, usage, *children) -> dict:
    node = {"bank": name, "shares": shares, "children": list(children)}
    if usage is not None:
        node["usage"] = usage
    return node


def user(name: str, shares, usage) -> dict:
    return {"username": name, "shares": shares, "usage": usage}


def leaves(tree: dict, algorithm: str) -> dict[str, float]:
    root = parse_tree({"root": tree})
    compute(root, algorithm)
    return {u.name: round(u.fairshare, 6) for u in root.users()}


SMALL_NO_TIE = bank(
    "root", 1000, 133,
    bank("account1", 1000, 121, user("leaf.1.1", 10000, 100), user("leaf.1.2", 1000, 11),
         user("leaf.1.3", 100000, 10)),
    bank("account2", 100, 11, user("leaf.2.1", 100000, 8), user("leaf.2.2", 10000, 3)),
    bank("account3", 10, 1, user("leaf.3.1", 100, 0), user("leaf.3.2", 10, 1)),
)  # fmt: skip


def test_flux_small_no_tie() -> None:
    assert leaves(SMALL_NO_TIE, "flux") == {
        "leaf.3.1": 1.0, "leaf.3.2": 0.857143, "leaf.2.1": 0.714286, "leaf.2.2": 0.571429,
        "leaf.1.3": 0.428571, "leaf.1.1": 0.285714, "leaf.1.2": 0.142857}  # fmt: skip


def tied_banks(shares_2_1: int = 10000, shares_2_2: int = 1000) -> list[dict]:
    """account1 and account2 of flux's small_tie trees: equal weights, to within rounding."""
    return [
        bank("account1", 1000, 120, user("leaf.1.1", 10000, 100), user("leaf.1.2", 1000, 10),
             user("leaf.1.3", 100000, 10)),
        bank("account2", 100, 12, user("leaf.2.1", shares_2_1, 10), user("leaf.2.2", shares_2_2, 1),
             user("leaf.2.3", 100000, 1)),
    ]  # fmt: skip


SMALL_ACCOUNT3 = bank("account3", 10, 1, user("leaf.3.1", 100, 0), user("leaf.3.2", 10, 1))


def test_flux_small_tie_pools_tied_banks() -> None:
    tree = bank("root", 1000, 133, *tied_banks(), SMALL_ACCOUNT3)
    assert leaves(tree, "flux") == {
        "leaf.3.1": 1.0, "leaf.3.2": 0.875, "leaf.1.3": 0.75, "leaf.2.3": 0.75,
        "leaf.1.2": 0.5, "leaf.2.2": 0.5, "leaf.1.1": 0.5, "leaf.2.1": 0.5}  # fmt: skip


def test_flux_small_tie_all() -> None:
    tree = bank(
        "root", 1000, 1332, *tied_banks(),
        bank("account3", 10000, 1200, user("leaf.3.1", 10000, 1000), user("leaf.3.2", 1000, 100),
             user("leaf.3.3", 100000, 100)),
    )  # fmt: skip
    got = leaves(tree, "flux")
    assert {k for k, v in got.items() if v == 1.0} == {"leaf.1.3", "leaf.2.3", "leaf.3.3"}
    assert {v for k, v in got.items() if v != 1.0} == {0.666667}


def test_flux_after_a_usage_update() -> None:
    tree = json.loads(json.dumps(SMALL_NO_TIE))
    tree["usage"] = 180
    tree["children"][1]["usage"] = 58
    tree["children"][1]["children"][0]["usage"] = 55
    assert leaves(tree, "flux") == {
        "leaf.1.1": 0.571429, "leaf.1.2": 0.428571, "leaf.1.3": 0.714286, "leaf.2.1": 0.142857,
        "leaf.2.2": 0.285714, "leaf.3.1": 1.0, "leaf.3.2": 0.857143}  # fmt: skip


def test_flux_user_tied_with_a_bank_goes_first_and_zero_shares_go_last() -> None:
    tree = bank("root", 1000, 133, user("leaf.0.1", 100, 12), tied_banks()[0], SMALL_ACCOUNT3)
    got = leaves(tree, "flux")
    order = sorted(got, key=lambda k: -got[k])
    assert order[:4] == ["leaf.3.1", "leaf.3.2", "leaf.0.1", "leaf.1.3"]
    zero = bank("root", 1000, 133, *tied_banks(0, 0), SMALL_ACCOUNT3)
    got = leaves(zero, "flux")
    assert (got["leaf.2.1"], got["leaf.2.2"]) == (0.25, 0.25)  # weight 0: tied, last


def test_bank_usage_is_the_sum_of_its_children_when_absent() -> None:
    tree = bank("root", 1, None, bank("A", 1, None, user("a", 1, 5)), bank("B", 1, 3, user("b", 1, 3)))
    root = parse_tree({"root": tree})
    assert [c.usage for c in root.children] == [5.0, 3.0]
    compute(root, "flux")
    assert {u.name: u.fairshare for u in root.users()} == {"a": 0.5, "b": 1.0}


# Slurm's test24.4: Fair Tree, with FairShare=parent, zero shares and ties.
FAIR_TREE = bank(
    "root", 1, None,
    user("u1", 10, 0), user("u2", 10, 10),
    bank("aA", 40, None, bank("aAA", 30, None, user("uAA1", 1, 20)),
         bank("aAB", 10, None, user("uAB1", 1, 25), user("uAB2", 1, 0))),
    bank("aB", 60, None, bank("aBA", 25, None, user("uBA1", 1, 25)),
         bank("aBB", 35, None, user("uBB1", 1, 0))),
    bank("aC", 0, None, user("uC1", 0, 30)),
    bank("aD", 50, None, user("uD1", "parent", 20), user("uD2", 40, 20), user("uD3", 50, 25),
         bank("aDA", "parent", None, user("uDA1", "parent", 10), user("uDA2", 30, 10),
              user("uDA3", 50, 25))),
    bank("aE", 10, None, user("aE1", 10, 0), user("aE2", 10, 0)),
    bank("aF", 20, None, user("uF1", 10, 0), user("uF2", 20, 0)),
    bank("aG", 8, None, user("uG1", 10, 10),
         bank("aGA", 10, None, user("uGA1", 20, 4), user("uGA2", 20, 6))),
)  # fmt: skip


def test_fair_tree_matches_slurm_test24_4() -> None:
    expected = {
        "u1": 1.0, "u2": 0.666667, "uAA1": 0.619048, "uAB1": 0.523810, "uAB2": 0.571429,
        "uBA1": 0.714286, "uBB1": 0.761905, "uC1": 0.047619, "uD1": 0.476190, "uD2": 0.238095,
        "uD3": 0.333333, "uDA1": 0.476190, "uDA2": 0.380952, "uDA3": 0.333333, "aE1": 1.0,
        "aE2": 1.0, "uF1": 1.0, "uF2": 1.0, "uG1": 0.190476, "uGA1": 0.190476, "uGA2": 0.095238,
    }  # fmt: skip
    assert leaves(FAIR_TREE, "fairtree") == expected


def test_fair_tree_sshare_columns(cli, tmp_path) -> None:
    path = tmp_path / "tree.json"
    path.write_text(json.dumps({"root": FAIR_TREE}))
    result = cli(["fairshare", "--tree", path, "--algorithm", "fairtree", "--fmt=json"])
    rows = {(r["Account"].strip(), r["User"]): r for r in json.loads(result.out)}
    assert rows[("aD", "uD2")] | {} == {
        "Account": "aD", "User": "uD2", "RawShares": "40", "NormShares": "0.235294",
        "RawUsage": "20", "NormUsage": "0.083333", "EffectvUsage": "0.181818",
        "FairShare": "0.238095", "LevelFS": "1.294118", "LevelFSInf": "no",
        "FSPriority": "23810"}  # fmt: skip
    assert rows[("root", "u1")]["LevelFS"] is None and rows[("root", "u1")]["LevelFSInf"] == "yes"
    assert rows[("aD", "")]["LevelFS"] == "0.524476" and rows[("aD", "")]["FairShare"] == ""
    text = cli(["fairshare", "--tree", path, "--fmt=fixed,Account,User,LevelFS"]).out.splitlines()
    assert text[1].rstrip() == "root" and " aA" in text[4] and text[2].split()[-1] == "inf"


def test_classic_matches_slurm_test24_1() -> None:
    tree = bank(
        "root", 1, None,
        bank("A", 40, None, bank("B", 30, None, user("User1", 1, 20)),
             bank("C", 10, None, user("User2", 1, 25), user("User3", 1, 0))),
        bank("D", 60, None, bank("E", 25, None, user("User4", 1, 25)),
             bank("F", 35, None, user("User5", 1, 0))),
        bank("G", 0, None, user("User6", 0, 30)),  # no shares: fair-share 0
    )  # fmt: skip
    got = leaves(tree, "classic")
    assert got == {"User1": 0.408479, "User2": 0.022097, "User3": 0.125, "User4": 0.5,
                   "User5": 0.749154, "User6": 0.0}  # fmt: skip


@pytest.mark.parametrize(
    ("doc", "message"),
    [({"tree": {}}, '"root" bank'), ({"root": {"bank": "r", "children": []}}, "no users"),
     ({"root": {"bank": "r", "children": [{"shares": 1}]}}, "'username' or 'bank'"),
     ({"root": {"bank": "r", "children": [{"username": "u", "shares": -1}]}}, "shares must be"),
     ({"root": {"bank": "r", "children": [{"username": "u", "usage": "lots"}]}}, "usage must be")],
)  # fmt: skip
def test_bad_trees_are_one_clear_error(cli, tmp_path, doc, message) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    result = cli(["fairshare", "--tree", path])
    assert result.code == 2 and message in result.err and "Traceback" not in result.err


def test_unreadable_tree_files(cli, tmp_path) -> None:
    missing = cli(["fairshare", "--tree", tmp_path / "none.json"])
    assert missing.code == 1 and "No such tree file" in missing.err
    (tmp_path / "bad.json").write_text("{")
    assert "is not valid JSON" in cli(["fairshare", "--tree", tmp_path / "bad.json"]).err
    assert Path(tmp_path / "bad.json").exists()


# --- usage from job records ---------------------------------------------------------------

DAY = 86400


def job(raw: str, user: str, account: str, start: str, end: str) -> str:
    return (f"v=0.1.0,JobID={raw},JobIDRaw={raw},User={user},Account={account},State=COMPLETED,"
            f'Start={start},End={end},ElapsedRaw=0,"AllocTRES=billing=2,cpu=2,node=1"\n')


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store with one cluster: two jobs of two billing units, a day each."""
    root = tmp_path_factory.mktemp("fs")
    (root / "cluster-config").mkdir()
    (root / "cluster-config" / "c1-shares.csv").write_text(
        "account,parent,user,shares\nphys,,,60\nbio,,,40\nphys,,ann,1\nbio,,cat,1\n")
    inp = root / "jobs.csv"
    inp.write_text(job("1", "ann", "phys", "2025-03-08T00:00:00Z", "2025-03-09T00:00:00Z")
                   + job("2", "zed", "chem", "2025-03-09T00:00:00Z", "2025-03-10T00:00:00Z"))
    from conftest import run_cli

    assert run_cli(["add", "--jobanalyzer-dir", root, "--cluster", "c1", inp]).code == 0
    return root


def usage_of(cli, store: Path, *args: str) -> tuple[dict[str, float], str]:
    result = cli(["fairshare", "--jobanalyzer-dir", store, "--cluster", "c1", "--now",
                  "2025-03-10T00:00:00Z", "--half-life", "1d", "--fmt=json", *args])  # fmt: skip
    assert result.code == 0, result.err
    rows = json.loads(result.out)
    return {r["User"] or r["Account"].strip(): float(r["RawUsage"]) for r in rows}, result.err


def test_slurm_decay_integrates_the_half_life(cli, store) -> None:
    got, err = usage_of(cli, store)
    # ann's job ran from two half-lives ago to one: 2 units x hl/ln2 x (1/2 - 1/4).
    expected = 2 * DAY / math.log(2) * (0.5 - 0.25)
    assert got["ann"] == pytest.approx(expected, rel=1e-6) and got["phys"] == got["ann"]
    assert got["cat"] == 0 and got["root"] == got["ann"]
    assert "usage of zed in account chem, which the share tree does not have" in err


def test_flux_bins_and_no_decay(cli, store) -> None:
    flux, _ = usage_of(cli, store, "--decay", "flux", "--charge", "flux")
    assert flux["ann"] == pytest.approx(1 * DAY * 0.5)  # one node, a day in the previous bin
    flat, _ = usage_of(cli, store, "--decay", "none", "-f", "2025-03-08T12:00:00Z")
    assert flat["ann"] == pytest.approx(2 * DAY / 2)  # the half inside the window
    weighted, _ = usage_of(cli, store, "--decay", "none", "--charge", "cpus=1,nodes=10")
    assert weighted["ann"] == pytest.approx((2 + 10) * DAY)


def test_share_tree_csv_errors(tmp_path) -> None:
    from sonalyze.errors import ConfigError
    from sonalyze.tables.shares import read_shares

    path = tmp_path / "c-shares.csv"
    path.write_text("account,parent,user,shares\nphys,science,,10\n")
    with pytest.raises(ConfigError, match="parent science is not listed"):
        read_shares(path)
    path.write_text("account,parent,user,shares\nphys,,,10\nphys,,ann,lots\n")
    with pytest.raises(ConfigError, match="shares must be"):
        read_shares(path)
    path.write_text("account,parent,user,shares\nsci,,,10\nphys,sci,,parent\nphys,,ann,1\n")
    tree = read_shares(path)["root"]
    assert tree["children"][0]["children"][0] == {
        "bank": "phys", "children": [{"username": "ann", "shares": 1}], "shares": "parent"}


def test_what_if_reproduces_flux_after_a_usage_update_and_view_bank(cli, tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"root": SMALL_NO_TIE}))
    result = cli(["fairshare", "--tree", path, "--algorithm", "flux", "--what-if",
                  "account2/leaf.2.1=+47", "--fmt", "view-bank"])  # fmt: skip
    lines = result.out.splitlines()
    assert lines[0].split() == ["Bank", "Username", "Active", "RawShares", "RawUsage", "Fairshare"]
    # flux-accounting's expected view-bank lines after leaf.2.1's usage went from 8 to 55.
    assert ("  account1                      leaf.1.1                true               10000"
            "               100.0            0.571429") in lines  # fmt: skip
    assert ("  account2                      leaf.2.1                true              100000"
            "                55.0            0.142857") in lines  # fmt: skip
    assert ("  account3                      leaf.3.1                true                 100"
            "                 0.0                 1.0") in lines  # fmt: skip
    bad = cli(["fairshare", "--tree", path, "--what-if", "account9/nobody=+1"])
    assert bad.code == 2 and "no user nobody in account account9" in bad.err


def test_priority_preview_and_sshare_round_trip(cli, tmp_path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"root": FAIR_TREE}))
    parsable = cli(["fairshare", "--tree", path, "--fmt=csv,Account,User,FairShare,FSPriority",
                    "--priority-weight", "1000"]).out  # fmt: skip
    assert "aD,uD2,0.238095,238\n" in parsable.replace(" ", "").replace('"', "")
    assert "\naD,,,\n" in parsable.replace(" ", "").replace('"', "")  # accounts: no priority
    # Written as sshare -P writes it (indented account names), then read back.
    rows = json.loads(cli(["fairshare", "--tree", path, "--fmt=json"]).out)
    csv_text = cli(["fairshare", "--tree", path,
                    "--fmt=csv,header,Account,User,RawShares,NormShares,RawUsage,FairShare"]).out
    sshare = tmp_path / "sshare.txt"
    sshare.write_text(csv_text.replace('"', "").replace(",", "|"))
    again = json.loads(cli(["fairshare", "--sshare", sshare, "--fmt=json"]).out)
    assert [(r["User"], r["FairShare"]) for r in again if r["User"]] == [
        (r["User"], r["FairShare"]) for r in rows if r["User"]]


def test_flux_export_db_tables_give_the_same_tree(cli, tmp_path) -> None:
    (tmp_path / "bank_table.csv").write_text(
        "bank_id,bank,active,parent_bank,shares,job_usage,priority,ignore_older_than\r\n"
        "1,root,1,,1000,0.0,0.0,0\r\n2,account1,1,root,1000,0.0,0.0,0\r\n"
        "3,account2,1,root,100,0.0,0.0,0\r\n4,account3,1,root,10,0.0,0.0,0\r\n"
        "5,old,0,root,500,0.0,0.0,0\r\n")
    users = [("leaf.1.1", "account1", 10000, 100), ("leaf.1.2", "account1", 1000, 11),
             ("leaf.1.3", "account1", 100000, 10), ("leaf.2.1", "account2", 100000, 8),
             ("leaf.2.2", "account2", 10000, 3), ("leaf.3.1", "account3", 100, 0),
             ("leaf.3.2", "account3", 10, 1)]  # fmt: skip
    header = ("creation_time,mod_time,active,username,userid,bank,default_bank,shares,job_usage,"
              "fairshare,max_running_jobs,max_active_jobs,max_nodes,max_cores,queues,projects,"
              "default_project,max_sched_jobs\r\n")  # fmt: skip
    lines = [f"0,0,1,{u},{5000 + i},{b},{b},{s},{x}.0,0.5,5,7,,,,*,*,10\r\n"
             for i, (u, b, s, x) in enumerate(users)]  # fmt: skip
    lines.append("0,0,0,gone,6000,account1,account1,1,999.0,0.5,5,7,,,,*,*,10\r\n")  # inactive
    (tmp_path / "association_table.csv").write_text(header + "".join(lines))
    result = cli(["fairshare", "--flux-export", tmp_path, "--algorithm", "flux",
                  "--fmt=json,User,FairShare"])  # fmt: skip
    got = {r["User"]: r["FairShare"] for r in json.loads(result.out) if r["User"]}
    assert got == {"leaf.3.1": "1.000000", "leaf.3.2": "0.857143", "leaf.2.1": "0.714286",
                   "leaf.2.2": "0.571429", "leaf.1.3": "0.428571", "leaf.1.1": "0.285714",
                   "leaf.1.2": "0.142857"}  # fmt: skip
    both = cli(["fairshare", "--flux-export", tmp_path, "--tree", tmp_path / "x.json"])
    assert both.code == 2 and "exclude each other" in both.err


def test_usage_reset_periods(cli, store) -> None:
    from datetime import UTC, datetime

    from sonalyze.verbs.fairshare import last_reset

    monday = datetime(2025, 3, 10, 15, tzinfo=UTC)
    assert last_reset(monday, "weekly") == datetime(2025, 3, 9, tzinfo=UTC)  # Sunday
    assert last_reset(monday, "quarterly") == datetime(2025, 1, 1, tzinfo=UTC)
    assert last_reset(monday, "none") is None
    # ann's job ended on the 9th at midnight: a daily reset on the 10th forgets it.
    got, _ = usage_of(cli, store, "--decay", "none", "--reset", "daily")
    assert got["ann"] == 0
    kept, _ = usage_of(cli, store, "--decay", "none", "--reset", "monthly")
    assert kept["ann"] == pytest.approx(2 * DAY)


@pytest.mark.parametrize(
    ("text", "message"),
    [("Account|User|Shares\nroot||1\n", "header must start"),
     ("Account|User|RawShares|NormShares\nroot||1|1\n", "needs the Account, User, RawShares"),
     ("Account|User|RawShares|RawUsage\nroot|||10\n a|u\n", "line 3: 2 fields"),
     ("Account|User|RawShares|RawUsage\nroot|||10\n a|u|lots|3\n", "bad RawShares or RawUsage"),
     ("Account|User|RawShares|RawUsage\n", "no rows")],
)  # fmt: skip
def test_bad_sshare_output_is_one_clear_error(cli, tmp_path, text, message) -> None:
    path = tmp_path / "sshare.txt"
    path.write_text(text)
    result = cli(["fairshare", "--sshare", path])
    assert result.code == 2 and message in result.err


def test_bad_flux_export_is_one_clear_error(cli, tmp_path) -> None:
    (tmp_path / "bank_table.csv").write_text("bank_id,bank,active,shares\n1,root,1,1\n")
    (tmp_path / "association_table.csv").write_text("username,bank,active,shares,job_usage\n")
    result = cli(["fairshare", "--flux-export", tmp_path])
    assert result.code == 1 and "needs the columns active, bank, parent_bank, shares" in result.err
    missing = cli(["fairshare", "--flux-export", tmp_path / "nowhere"])
    assert missing.code == 1 and "Cannot read" in missing.err


@pytest.mark.parametrize("fmt", ["fixed", "csv", "csvnamed", "json", "awk"])
def test_every_format_has_a_row_per_account_and_user(cli, fmt) -> None:
    path = Path(__file__).resolve().parent.parent / "testdata" / "fairshare" / "example.json"
    result = cli(["fairshare", "--tree", path, f"--fmt={fmt}"])
    assert result.code == 0 and result.err == ""
    count = len(json.loads(result.out)) if fmt == "json" else len(result.out.splitlines())
    assert count == 7 + (fmt == "fixed")  # root, 2 accounts, 4 users (+ the header)
