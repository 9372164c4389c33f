"""`efficiency`: hand-computed jobs, end to end through `add` and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from sonalyze.verbs.efficiency import Thresholds, summarize

GIB = 1024 * 1024  # KiB


def sacct(job: str, state: str, start: str, end: str, elapsed: int, tres: str, *,
          user_cpu: str = "00:00:00", limit: str = "120", extra: str = "") -> str:  # fmt: skip
    return (f"v=0.1.0,JobID={job},JobIDRaw={job},User=ann,Account=p1,JobName=sim,State={state},"
            f"Start=2025-03-03T{start}:00Z,End={end},ElapsedRaw={elapsed},TimelimitRaw={limit},"
            f'UserCPU={user_cpu},SystemCPU=00:00:00,Partition=normal,"AllocTRES={tres}"{extra}\n')


def step(job: str, max_rss: str, user_cpu: str = "00:00:00") -> str:
    return (f"v=0.1.0,JobID={job},JobIDRaw={job},State=COMPLETED,ElapsedRaw=60,"
            f"Start=2025-03-03T10:00:00Z,End=2025-03-03T10:01:00Z,MaxRSS={max_rss},"
            f"UserCPU={user_cpu}\n")


def sample(t: str, host: str, job: int, pid: int, cputime: int, rss_kib: int, *,
           cpu: float = 100.0, gpus: str = "", gpu_pct: float = 0.0) -> str:  # fmt: skip
    gpu = f",gpus={gpus},gpu%={gpu_pct},gpukib={10 * GIB}" if gpus else ""
    return (f"v=0.7.0,time=2025-03-03T{t}:00Z,host={host},user=ann,cmd=app,job={job},pid={pid},"
            f"cpu%={cpu},cputime_sec={cputime},rssanonkib={rss_kib}{gpu}\n")


def every_5_minutes(first: str, count: int) -> list[str]:
    h, m = (int(x) for x in first.split(":"))
    out = []
    for k in range(count):
        total = h * 60 + m + 5 * k
        out.append(f"{total // 60:02d}:{total % 60:02d}")
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Ten hand-made jobs, each testing one rule; values in the test that reads them."""
    root = tmp_path_factory.mktemp("eff")
    jobs = "".join([
        # 100: two nodes, 8 cores for an hour, 4 core-hours of CPU time: 50 %.
        sacct("100", "COMPLETED", "10:00", "2025-03-03T11:00:00Z", 3600,
              "billing=8,cpu=8,mem=16G,node=2", user_cpu="04:00:00"),
        step("100.0", "2G"),
        # 101: one step of two tasks; MaxRSS is one task's peak (5 GiB), the samples see
        # both tasks' resident memory at once: 3 + 5 = 8 GiB of 16.
        sacct("101", "COMPLETED", "10:00", "2025-03-03T11:00:00Z", 3600,
              "cpu=2,mem=16G,node=1", user_cpu="01:00:00"),
        step("101.0", "5G"),
        # 102: Slurm says no CPU time at all; the samples' counter reached 1800 s: 50 %.
        sacct("102", "COMPLETED", "10:00", "2025-03-03T11:00:00Z", 3600, "cpu=1,mem=4G,node=1"),
        # 103: no step records and no samples: memory unknown, not 0.
        sacct("103", "COMPLETED", "10:00", "2025-03-03T11:00:00Z", 3600, "cpu=1,mem=4G,node=1",
              user_cpu="00:30:00"),
        # 104: four GPUs, three busy at 80 %: 240 / 4 = 60 %, one card idle.
        sacct("104", "COMPLETED", "10:00", "2025-03-03T11:00:00Z", 3600,
              "cpu=4,mem=32G,node=1,gres/gpu=4", user_cpu="03:00:00"),
        step("104.batch", "8G"),
        # 105: two minutes: shorter than one sample interval.
        sacct("105", "COMPLETED", "10:00", "2025-03-03T10:02:00Z", 120, "cpu=1,mem=1G,node=1",
              user_cpu="00:01:00"),
        # 106: no time limit.
        sacct("106", "COMPLETED", "10:00", "2025-03-03T11:00:00Z", 3600, "cpu=1,mem=1G,node=1",
              user_cpu="00:30:00", limit="UNLIMITED"),
        # 107: still running at --now 12:00, two hours after it started.
        sacct("107", "RUNNING", "10:00", "Unknown", 0, "cpu=2,mem=2G,node=1"),
        # 108, 109: out of memory, timed out.
        sacct("108", "OUT_OF_MEMORY", "10:00", "2025-03-03T10:30:00Z", 1800, "cpu=1,mem=2G,node=1",
              user_cpu="00:29:00"),
        step("108.batch", "2G"),
        sacct("109", "TIMEOUT", "10:00", "2025-03-03T11:00:00Z", 3600, "cpu=1,mem=2G,node=1",
              user_cpu="00:59:00", limit="60"),
    ])  # fmt: skip
    samples = []
    for k, t in enumerate(every_5_minutes("10:00", 12)):
        for host, pid in (("n1", 11), ("n2", 12)):
            samples.append(sample(t, host, 100, pid, 600 * k, 1 * GIB, cpu=200))
        samples.append(sample(t, "n3", 101, 21, 150 * k, (3 if k != 6 else 3) * GIB))
        samples.append(sample(t, "n3", 101, 22, 150 * k, (5 if k == 6 else 2) * GIB))
        samples.append(sample(t, "n4", 102, 31, 1800 * k // 11, GIB // 2))
        for card, pid in enumerate((41, 42, 43)):
            samples.append(sample(t, "n5", 104, pid, 300 * k, 2 * GIB, gpus=str(card), gpu_pct=80))
        samples.append(sample(t, "n6", 107, 71, 300 * k, GIB))
        # Outside Slurm, 3 cores busy on job 102's node from 10:30 on.
        if k >= 6:
            samples.append(sample(t, "n4", 0, 99, 900 * (k - 6), GIB, cpu=300))
    inputs = root / "in"
    inputs.mkdir()
    (inputs / "sacct.csv").write_text(jobs)
    (inputs / "samples.csv").write_text("".join(samples))
    (inputs / "sysinfo.json").write_text(json.dumps({  # n5: four cards of 40 GiB
        "version": "0.11.1", "timestamp": "2025-03-03T06:00:00Z", "hostname": "n5",
        "description": "2x16 (hyperthreaded) AMD EPYC 7543, 256 GiB, 4x NVIDIA A100 @ 40GiB",
        "cpu_cores": 64, "mem_gb": 256, "gpu_cards": 4, "gpumem_gb": 160}) + "\n")
    from conftest import run_cli

    added = run_cli(["add", "--data-dir", root / "tree", *sorted(inputs.iterdir())])
    assert added.code == 0, added.err
    return root / "tree"


def rows(cli, tree: Path, *extra: str) -> dict[str, dict]:
    result = cli(["efficiency", "--data-dir", tree, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--now", "2025-03-03T12:00:00Z", "--fmt=json,all", *extra])  # fmt: skip
    assert result.code == 0, result.err
    return {r["job"]: r for r in json.loads(result.out)}


def test_multi_node_job_cpu_from_sacct(cli, tree) -> None:
    job = rows(cli, tree)["100"]
    assert (job["cpus"], job["nodes"], job["core_h"], job["cpu_used_h"]) == ("8", "2", "8", "4")
    assert (job["cpu_eff"], job["cpu_source"], job["idle_core_h"]) == ("50", "sacct", "4")
    assert job["hosts"] == "n[1-2]" and job["cores_mean"] != "?"


def test_multi_task_memory_is_the_sum_of_task_peaks(cli, tree) -> None:
    job = rows(cli, tree)["101"]
    assert (job["mem_peak_gb"], job["mem_gb"], job["mem_eff"]) == ("8", "16", "50")
    assert job["unused_mem_gb_h"] == "8"  # (16 - 8) GiB for an hour


def test_cpu_time_falls_back_to_sonar_when_slurm_has_none(cli, tree) -> None:
    job = rows(cli, tree)["102"]
    assert (job["cpu_source"], job["cpu_used_h"], job["cpu_eff"]) == ("sonar", "0.5", "50")


def test_no_step_records_means_unknown_memory_not_zero(cli, tree) -> None:
    job = rows(cli, tree)["103"]
    assert (job["mem_eff"], job["mem_peak_gb"], job["unused_mem_gb_h"]) == ("?", "?", "?")
    assert job["quality"] == "no_sonar" and job["advice"] == ""
    assert job["cpu_eff"] == "50"  # 30 minutes of one core for an hour


def test_four_gpus_one_idle(cli, tree) -> None:
    job = rows(cli, tree)["104"]
    assert (job["gpus"], job["gpu_eff"], job["idle_gpus"], job["gpu_h"]) == ("4", "60", "1", "4")
    assert job["idle_gpu_h"] == "1.6" and "idle_gpus" in job["flags"].split(",")
    # Three processes of 10 GiB on four cards of 40 GiB.
    assert (job["gpu_mem_peak_gb"], job["gpu_mem_eff"]) == ("30", "18.8")


def test_job_shorter_than_a_sample_interval(cli, tree) -> None:
    job = rows(cli, tree)["105"]
    assert job["quality"] == "no_sonar" and "short" in job["flags"]
    assert job["elapsed"] == "0d0h2m"


def test_unlimited_time_limit_has_no_time_efficiency(cli, tree) -> None:
    job = rows(cli, tree)["106"]
    assert (job["time_eff"], job["time_limit"]) == ("?", "?")
    assert rows(cli, tree)["100"]["time_eff"] == "50"  # an hour of two


def test_running_job_is_measured_up_to_now(cli, tree) -> None:
    job = rows(cli, tree)["107"]
    assert (job["state"], job["end"], job["elapsed"], job["core_h"]) == ("RUNNING", "", "0d2h0m", "4")
    assert job["time_eff"] == "100"  # two hours of a 120-minute limit


def test_oom_and_timeout_are_flagged(cli, tree) -> None:
    found = rows(cli, tree)
    assert "oom" in found["108"]["flags"].split(",")
    assert "near_mem_limit" in found["108"]["flags"].split(",")  # 2 GiB of 2
    assert "timeout" in found["109"]["flags"].split(",")


def test_non_slurm_processes_hogging_a_node(cli, tree) -> None:
    found = rows(cli, tree)
    assert "non_slurm_hog" in found["102"]["flags"].split(",")
    assert "non_slurm_hog" not in found["100"]["flags"]
    assert "non_slurm_hog" not in rows(cli, tree, "--threshold", "hog_cores=4")["102"]["flags"]


def test_selection_by_job_state_and_runtime(cli, tree) -> None:
    assert list(rows(cli, tree, "-j", "104,108")) == ["104", "108"]
    assert list(rows(cli, tree, "--state", "timeout")) == ["109"]
    assert "105" not in rows(cli, tree, "--min-runtime", "5m")


def test_summary_weights_by_allocation(cli, tree) -> None:
    result = cli(["efficiency", "--data-dir", tree, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--now", "2025-03-03T12:00:00Z", "--summary", "--by", "account",
                  "--fmt=json,account,jobs,core_h,cpu_used_h,cpu_eff"])  # fmt: skip
    (row,) = json.loads(result.out)
    # Core-hours: 8+2+1+1+4+1/30+1+4+0.5+1; CPU hours known for all ten jobs.
    assert row["account"] == "p1" and row["jobs"] == "10"
    assert float(row["cpu_eff"]) == pytest.approx(
        100 * float(row["cpu_used_h"]) / float(row["core_h"]), abs=0.06)


def test_summary_ranks_by_idle_core_hours() -> None:
    frame = pl.DataFrame({
        "user": ["a", "b", "b"], "core_h": [10.0, 4.0, 4.0], "cpu_used_h": [9.0, 1.0, 1.0],
        "mem_gb_h": [1.0, 1.0, 1.0], "mem_peak_gb": [1.0, 0.5, None], "elapsed_s": [3600] * 3,
        "gpu_h": [0.0] * 3, "gpu_eff": [None, None, None], "idle_core_h": [1.0, 3.0, 3.0],
        "unused_mem_gb_h": [0.0, 0.5, None], "idle_gpu_h": [None] * 3,
        "flags": [[], ["low_cpu"], ["low_cpu", "oom"]], "account": ["x"] * 3,
        "partition": ["p"] * 3, "job_name": ["j"] * 3, "cmd": ["c"] * 3,
    }, schema_overrides={"gpu_eff": pl.Float64, "idle_gpu_h": pl.Float64})  # fmt: skip
    out = summarize(frame, "user")
    assert out["user"].to_list() == ["b", "a"]
    b = out.row(0, named=True)
    assert (b["jobs"], b["cpu_eff"], b["flagged"], b["flag_counts"]) == (2, 25.0, 2, "low_cpu:2,oom:1")
    assert b["mem_eff"] == 50.0  # only the job with a known peak counts


def test_thresholds_are_configurable_and_checked(cli, tree) -> None:
    assert "low_cpu" not in rows(cli, tree)["100"]["flags"]
    assert "low_cpu" in rows(cli, tree, "--threshold", "low_cpu=60")["100"]["flags"]
    bad = cli(["efficiency", "--data-dir", tree, "--threshold", "lowcpu=3"])
    assert bad.code == 2 and "Unknown threshold 'lowcpu'" in bad.err
    assert Thresholds.parse(["near_mem=80"]).near_mem == 80.0


@pytest.mark.parametrize("cluster", ["alpha", "beta"])
def test_generated_tree_matches_its_ground_truth(cli, cluster) -> None:
    """The generator records every job's true CPU seconds and memory peak (truth.csv)."""
    root = Path(__file__).resolve().parent.parent / "testdata" / "tree"
    truth = pl.read_csv(root / "truth.csv").filter(pl.col("cluster") == cluster)
    result = cli(["efficiency", "--jobanalyzer-dir", root, "--cluster", cluster, "-f", "2025-03-03",
                  "-t", "2025-03-06", "--fmt=json,job,cpu_eff,mem_eff,quality"])  # fmt: skip
    ours = pl.DataFrame(json.loads(result.out)).with_columns(
        pl.col("job").cast(pl.Int64), pl.col("cpu_eff", "mem_eff").cast(pl.Float64))
    both = truth.join(ours, on="job", how="left").with_columns(
        (100 * pl.col("cpu_s") / (pl.col("cpus") * pl.col("elapsed_s"))).alias("true_cpu"),
        (100 * pl.col("peak_kib") / pl.col("mem_kib")).alias("true_mem"),
    )
    assert both["cpu_eff"].null_count() == 0  # every job found
    for ours_col, true_col in (("cpu_eff", "true_cpu"), ("mem_eff", "true_mem")):
        off = both.filter((pl.col(ours_col) - pl.col(true_col)).abs() > 0.02 * pl.col(true_col) + 0.05)
        assert off.height == 0, off.select("job", ours_col, true_col).head()


def test_single_job_card(cli, tree) -> None:
    result = cli(["efficiency", "--data-dir", tree, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--now", "2025-03-03T12:00:00Z", "-j", "104"])  # fmt: skip
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == "Job 104  ann  p1  normal  COMPLETED"
    assert "1h00m of a 2h00m limit  on n5" in lines[1]
    assert lines[4].startswith("  GPU     [############--------]  60.0%  4 card(s), 1 never busy")
    assert "Node n5: 3.0 cores busy on average, 6.0 GiB at peak" in result.out
    assert "  Flags   idle_gpus\n" in result.out  # three busy cores of four is fine
    assert lines[-1] == "  Evidence: 12 samples, coverage 1.00, quality ok; CPU time from sacct"


def test_colour_only_marks_cells_and_keeps_alignment() -> None:
    from sonalyze.output.colour import GREEN, RED, RESET, colourize, percent_rule

    text = "job  cpu_eff  flags\n1    5        low_cpu\n22   80\n"
    out = colourize(text, {"cpu_eff": percent_rule(25, 50)})
    assert out.splitlines()[1] == f"1    {RED}5{RESET}        low_cpu"
    assert out.splitlines()[2] == f"22   {GREEN}80{RESET}"
    plain = out.replace(RED, "").replace(GREEN, "").replace(RESET, "")
    assert plain == text


def test_no_colour_when_piped(cli, tree) -> None:
    result = cli(["efficiency", "--data-dir", tree, "-f", "2025-03-03", "-t", "2025-03-03",
                  "--now", "2025-03-03T12:00:00Z"])  # fmt: skip
    assert "\x1b[" not in result.out and result.out.startswith("job")
