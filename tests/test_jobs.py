"""`jobs` through the CLI on small hand-written sample files with known answers."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

DAY = "2024-05-06"


def line(t: str, host: str, user: str, job: int, cmd: str, pid: int, *, cpu: float = 0.0,
         cputime: int = 0, kib: int = 1048576, gpus: str = "none", gpu: float = 0.0,
         epoch: int | None = None) -> str:  # fmt: skip
    text = (f"v=0.12.0,time={DAY}T{t}Z,host={host},cores=8,user={user},job={job},pid={pid},"
            f"cmd={cmd},cpu%={cpu},cpukib={kib},rssanonkib={kib // 2},\"gpus={gpus}\",gpu%={gpu},"
            f"cputime_sec={cputime}")  # fmt: skip
    return text + (f",epoch={epoch}" if epoch is not None else "")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """alice: job 10 on n1 (two processes, 2 cores busy), still running at the end.
    bob: job 20 on n2 (python, ended early); job 30 on n1+n2 with a cluster-wide id.
    root: sshd (a system command); carol: a zombie."""
    rows = [
        line("10:00:00", "n1.x", "alice", 10, "python", 100, cpu=100, cputime=0),
        line("10:00:00", "n1.x", "alice", 10, "worker", 101, cpu=100, cputime=0),
        line("10:05:00", "n1.x", "alice", 10, "python", 100, cputime=300),
        line("10:05:00", "n1.x", "alice", 10, "worker", 101, cputime=300),
        line("10:10:00", "n1.x", "alice", 10, "python", 100, cputime=600, gpus="0,1", gpu=150),
        line("10:10:00", "n1.x", "alice", 10, "worker", 101, cputime=600),
        line("10:00:00", "n2.x", "bob", 20, "python", 200, cpu=50, cputime=0),
        line("10:05:00", "n2.x", "bob", 20, "python", 200, cputime=150),
        line("10:00:03", "n1.x", "bob", 30, "mpi", 300, cpu=400, epoch=0),
        line("10:00:00", "n2.x", "bob", 30, "mpi", 301, cpu=400, epoch=0),
        line("10:05:03", "n1.x", "bob", 30, "mpi", 300, cputime=1200, epoch=0),
        line("10:05:00", "n2.x", "bob", 30, "mpi", 301, cputime=1200, epoch=0),
        line("10:05:00", "n2.x", "root", 40, "sshd", 400, cpu=1),
        line("10:05:00", "n2.x", "carol", 50, "app <defunct>", 500, cpu=0),
        line("10:10:00", "n2.x", "carol", 50, "app <defunct>", 500, cpu=0),
    ]
    path = tmp_path / "samples.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_default_user_is_the_invoking_one(cli, data, monkeypatch) -> None:
    monkeypatch.setenv("LOGNAME", "alice")
    r = cli(["jobs", "--fmt=csv,job,user", "--", data])
    assert r.code == 0, r.err
    assert r.out == "10,alice\n"


def test_no_user_known_is_a_clear_error(cli, data, monkeypatch) -> None:
    monkeypatch.setenv("LOGNAME", "")
    monkeypatch.setenv("USER", "")
    r = cli(["jobs", "--", data])
    assert r.code == 2
    assert "Not able to determine user" in r.err


def test_all_users_sorted_by_start_with_system_commands_left_out(cli, data) -> None:
    r = cli(["jobs", "-u", "-", "--fmt=csv,job,user,cmd,start", "--", data])
    assert r.code == 0, r.err
    assert csv_rows(r.out) == [
        ["10", "alice", "python,worker", "2024-05-06 10:00"],
        ["20", "bob", "python", "2024-05-06 10:00"],
        ["30", "bob", "mpi", "2024-05-06 10:00"],
        ["50", "carol", "app <defunct>", "2024-05-06 10:05"],
    ]


def test_averages_and_peaks_of_a_two_process_job(cli, data) -> None:
    r = cli(["jobs", "-u", "alice", "--fmt=json,job,cpu-avg,cpu-peak,mem-avg,res-peak,gpu-peak,"
             "gpus,duration/sec,cputime/sec,host", "--", data])  # fmt: skip
    assert r.code == 0, r.err
    [job] = json.loads(r.out)
    # Each process: 100% at the first sample (cpu%), then 300 s of CPU per 300 s.
    assert job["cpu-avg"] == "200" and job["cpu-peak"] == "200"
    assert job["mem-avg"] == "2" and job["res-peak"] == "1"  # 2 x 1 GiB virtual, 2 x 0.5 resident
    assert job["gpu-peak"] == "150" and job["gpus"] == "0,1"
    assert job["duration/sec"] == "600"
    assert job["cputime/sec"] == "1200"  # 600 s per process, each counted once
    assert job["host"] == "n1.x"


def test_cluster_wide_job_is_one_row_over_both_hosts(cli, data) -> None:
    r = cli(["jobs", "-j", "30", "--fmt=csv,job,cpu-avg,host", "--", data])
    assert r.code == 0, r.err
    # Samples 3 s apart on the two hosts are one step: 400 + 400, then 400 + 400.
    assert r.out == "30,800,n[1-2].x\n"
    fixed = cli(["jobs", "-j", "30", "--fmt=noheader,job,host", "--", data])
    assert fixed.out.split() == ["30", "n[1-2]"]
    apart = cli(["jobs", "-j", "30", "--merge-none", "--fmt=csv,job,host", "--", data])
    assert apart.out.splitlines() == ["30,n2.x", "30,n1.x"]  # n2 started 3 s earlier


def test_marks_and_running_completed_filters(cli, data) -> None:
    r = cli(["jobs", "-u", "-", "--fmt=csv,jobm", "--", data])
    # n1's data spans 10:00-10:10, n2's too; job 20 ended at 10:05 on n2.
    assert r.out.splitlines() == ["10!", "20<", "30<", "50>"]
    running = cli(["jobs", "-u", "-", "--running", "--fmt=csv,job", "--", data])
    assert running.out.splitlines() == ["10", "50"]
    completed = cli(["jobs", "-u", "-", "--completed", "--fmt=csv,job", "--", data])
    assert completed.out.splitlines() == ["20", "30"]


def test_aggregate_limits(cli, data) -> None:
    r = cli(["jobs", "-u", "-", "--min-cpu-avg", "150", "--max-cpu-peak", "500",
             "--fmt=csv,job", "--", data])  # fmt: skip
    assert r.out.splitlines() == ["10"]
    gpu = cli(["jobs", "-u", "-", "--some-gpu", "--fmt=csv,job", "--", data])
    assert gpu.out.splitlines() == ["10"]
    samples = cli(["jobs", "-u", "-", "--min-samples", "3", "--fmt=csv,job", "--", data])
    assert samples.out.splitlines() == ["10"]
    runtime = cli(["jobs", "-u", "-", "--min-runtime", "6m", "--fmt=csv,job", "--", data])
    assert runtime.out.splitlines() == ["10"]


def test_zombie_hunts_across_users(cli, data, monkeypatch) -> None:
    monkeypatch.setenv("LOGNAME", "alice")
    r = cli(["jobs", "--zombie", "--fmt=csv,job,user", "--", data])
    assert r.out == "50,carol\n"


def test_numjobs_keeps_each_users_latest(cli, data) -> None:
    r = cli(["jobs", "-u", "bob", "-n", "1", "--fmt=csv,job", "--", data])
    assert r.out == "30\n"


def test_query_on_job_fields(cli, data) -> None:
    r = cli(["jobs", "-q", "CpuAvgPct > 100 and user = bob", "--fmt=csv,job", "--", data])
    assert r.out == "30\n"


def test_relative_fields_need_a_configuration(cli, data, tmp_path) -> None:
    r = cli(["jobs", "-u", "alice", "--fmt=csv,rcpu-avg", "--", data])
    assert r.code == 2 and "configuration" in r.err
    config = tmp_path / "cluster.json"
    config.write_text(json.dumps({"name": "x", "nodes": [
        {"hostname": "n[1-2].x", "cpu_cores": 8, "mem_gb": 16, "gpu_cards": 2, "gpumem_gb": 20}]}))
    r = cli(["jobs", "-u", "-", "--config-file", config,
             "--fmt=csv,job,rcpu-avg,rmem-avg,sgpu-peak", "--", data])  # fmt: skip
    assert r.code == 0, r.err
    rows = {row[0]: row[1:] for row in csv_rows(r.out)}
    assert rows["10"] == ["25", "13", "75"]  # 200/8 cores; 2 GiB/16 GiB; 150% over 2 cards
    assert rows["30"][0] == "50"  # 800% over the 16 cores of two nodes


def test_slurm_fields_are_question_marks_without_records(cli, data) -> None:
    r = cli(["jobs", "-u", "alice", "--fmt=csv,job,Account,ReqMem", "--", data])
    assert r.out == "10,?,?\n"


@pytest.mark.parametrize(("fmt", "expected"), [
    ("json", "[]\n"), ("csv", ""), ("fixed", "job  user\n"),
])  # fmt: skip
def test_empty_input(cli, tmp_path, fmt, expected) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    r = cli(["jobs", "-u", "-", f"--fmt={fmt},job,user", "--", empty])
    assert r.code == 0, r.err
    assert r.out == expected


def test_bad_options_are_usage_errors(cli, data) -> None:
    both = cli(["jobs", "--merge-all", "--merge-none", "--", data])
    assert both.code == 2 and "merge" in both.err
    runtime = cli(["jobs", "--min-runtime", "soon", "--", data])
    assert runtime.code == 2 and "--min-runtime" in runtime.err


def test_jobs_from_the_tree_with_slurm_fields(cli, tree) -> None:
    r = cli(["jobs", "--jobanalyzer-dir", tree, "--cluster", "beta", "-f", "2025-03-03",
             "-t", "2025-03-03", "-u", "-", "--fmt=csv,job,user,Account,State"])  # fmt: skip
    assert r.code == 0, r.err
    rows = csv_rows(r.out)
    assert rows, "expected jobs"
    with_slurm = [row for row in rows if row[2] != "?"]
    assert with_slurm, "the beta cluster has Slurm records for its jobs"
    assert all(row[3] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY",
                          "RUNNING", "PENDING") for row in with_slurm)  # fmt: skip


def test_slurm_state_filter_keeps_matching_and_unrecorded_jobs(cli, tree) -> None:
    base = ["jobs", "--jobanalyzer-dir", tree, "--cluster", "beta", "-f", "2025-03-03",
            "-t", "2025-03-05", "-u", "-", "--fmt=csv,job,State"]  # fmt: skip
    every = dict(csv_rows(cli(base).out))
    kept = dict(csv_rows(cli([*base, "--state", "COMPLETED"]).out))
    assert "FAILED" in every.values()
    assert kept == {job: s for job, s in every.items() if s in ("COMPLETED", "?")}



def _outputs(per_host_and_whole, argv: list) -> tuple[str, str, int]:
    whole, per_host, runs = per_host_and_whole(argv)
    assert whole.code == per_host.code == 0, (whole.err, per_host.err)
    return whole.out, per_host.out, runs


@pytest.mark.parametrize("cluster", ["alpha", "beta"])
def test_reading_a_few_hosts_at_a_time_changes_no_job(per_host_and_whole, tree, cluster) -> None:
    argv = ["jobs", "--jobanalyzer-dir", tree, "--cluster", cluster, "-f", "2025-03-03",
            "-t", "2025-03-06", "-u", "-",  # every figure; `all` would add the clock (`now`)
            "--fmt=csv,jobm,user,host,duration/sec,start,end,cpu,rcpu,mem,rmem,res,rres,gpu,"
            "rgpu,sgpu,gpumem,rgpumem,sgpumem,threads,gpus,gpufail,cmd,cputime/sec,gputime/sec"]
    whole, per_host, runs = _outputs(per_host_and_whole, argv)
    assert runs == 4  # the tree's four hosts
    assert len(whole.splitlines()) > 50
    assert per_host == whole


def _host_files(root: Path, rows_by_file: dict[str, list[str]]) -> Path:
    day = root / "2024" / "05" / "06"
    day.mkdir(parents=True)
    for name, rows in rows_by_file.items():
        (day / f"{name}.csv").write_text("\n".join(rows) + "\n")
    return root


def _spread_job(host: str, pid: int, cpu: float) -> list[str]:
    return [line(f"10:{m:02}:00", host, "bob", 30, "mpi", pid, cpu=cpu + m / 10, epoch=0)
            for m in (0, 5, 10)]  # fmt: skip


def test_a_job_on_several_hosts_read_one_host_at_a_time(per_host_and_whole, tmp_path) -> None:
    rows = {f"n{i}.x": _spread_job(f"n{i}.x", 100 + i, 97.3 * i) for i in (1, 2, 3)}
    rows["n2.x"] += [line("10:00:00", "n2.x", "ann", 40, "r", 500, cpu=12.5)]
    data = _host_files(tmp_path / "data", rows)
    argv = ["jobs", "--data-dir", data, "-f", "2024-05-06", "-t", "2024-05-07", "-u", "-",
            "--fmt=csv,job,user,host,cpu-avg,cpu-peak,mem-avg"]  # fmt: skip
    whole, per_host, runs = _outputs(per_host_and_whole, argv)
    assert runs == 3
    # Old Sonar's cpu% counts only at a stream's first record (no CPU time after):
    # 97.3 + 194.6 + 291.9 = 583.8 at 10:00, then 0 twice.
    assert csv_rows(per_host) == [["30", "bob", "n[1-3].x", "195", "584", "3"],
                                  ["40", "ann", "n2.x", "13", "13", "1"]]  # fmt: skip
    assert per_host == whole


def test_a_file_holding_another_hosts_records_is_read_with_it(per_host_and_whole, tmp_path) -> None:
    # n1's file also holds n2's records: reading one file at a time would split n2.
    rows = {"n1.x": _spread_job("n1.x", 101, 10.0) + _spread_job("n2.x", 102, 20.0)[:1],
            "n2.x": _spread_job("n2.x", 102, 20.0)[1:]}  # fmt: skip
    data = _host_files(tmp_path / "data", rows)
    argv = ["jobs", "--data-dir", data, "-f", "2024-05-06", "-t", "2024-05-07", "-u", "-",
            "--fmt=csv,job,host,cpu-avg,duration/sec"]  # fmt: skip
    whole, per_host, _ = _outputs(per_host_and_whole, argv)
    # (10 + 20) / 3: a split n2 would count its first record in n2.x.csv again (17).
    assert csv_rows(per_host) == [["30", "n[1-2].x", "10", "600"]]
    assert per_host == whole


def _upgraded_node(root: Path) -> Path:
    """n1.x had 8 cores on 2024-05-06 and 16 from 2024-05-08 (sysinfo those days); job 1
    ran on the 6th, job 2 on the 8th, each with 4 cores busy."""
    for day, cores, job in (("06", 8, 1), ("08", 16, 2)):
        where = root / "2024" / "05" / day
        where.mkdir(parents=True)
        info = {"version": "0.11.1", "timestamp": f"2024-05-{day}T00:00:00Z", "hostname": "n1.x",
                "description": f"1x{cores} Xeon, 64 GiB", "cpu_cores": cores, "mem_gb": 64,
                "gpu_cards": 0, "gpumem_gb": 0}  # fmt: skip
        (where / "sysinfo-n1.x.json").write_text(json.dumps(info) + "\n")
        rows = [line(f"10:0{m}:00", "n1.x", "bob", job, "sim", job, cpu=400).replace(DAY, f"2024-05-{day}")
                for m in (0, 5)]  # fmt: skip
        (where / "n1.x.csv").write_text("\n".join(rows) + "\n")
    return root


def test_relative_figures_use_the_configuration_at_each_jobs_start(cli, tmp_path) -> None:
    data = _upgraded_node(tmp_path / "data")
    r = cli(["jobs", "--data-dir", data, "-f", "2024-05-06", "-t", "2024-05-09", "-u", "-",
             "--fmt=csv,job,cpu-peak,rcpu-peak"])  # fmt: skip
    assert r.code == 0, r.err
    assert csv_rows(r.out) == [["1", "400", "50"], ["2", "400", "25"]]


def test_a_later_lookup_past_the_readings_read_reads_more(tmp_path) -> None:
    from sonalyze.cli.samples import Invocation

    data = _upgraded_node(tmp_path / "data")
    options = dict.fromkeys(["files", "jobanalyzer_dir", "cluster_name", "config_file", "cache",
                             "cache_dir", "host"])  # fmt: skip
    run = Invocation({**options, "data_dir": data, "from_": "2024-05-06", "to": "2024-05-09"})

    def cores_at(day: str) -> int:
        t = int(datetime.fromisoformat(f"2024-05-{day}T12:00:00+00:00").timestamp())
        return run.capacity_at(pl.DataFrame({"host": ["n1.x"], "t": [t]}))["cpu_cores"][0]

    # The first lookup needs only the 6th's reading; the second must still see the 8th's.
    assert cores_at("06") == 8
    assert cores_at("08") == 16
    assert cores_at("07") == 8
