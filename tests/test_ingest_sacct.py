"""Slurm job records, old CSV and new JSON: units, ids, TRES and bad values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from sonalyze.ingest.sacct_csv import parse_sacct_csv
from sonalyze.ingest.sacct_json import parse_job_json
from sonalyze.ingest.schemas import SACCT

CSV = (
    'v=0.1.0,JobID=12_3.batch,JobIDRaw=15.batch,User=ann,Account=p1,JobName=j,'
    'State=CANCELLED by 99,Start=2025-03-03T10:00:00+01:00,End=2025-03-03T11:00:00+01:00,'
    'ElapsedRaw=3600,ReqCPUS=8,ReqNodes=2,ReqMem=4Gn,TimelimitRaw=90,ExitCode=2:9,'
    'UserCPU=1-02:03:04,SystemCPU=05:06,AveCPU=00:01.5,MaxRSS=1.5M,'
    '"AllocTRES=billing=8,cpu=8,gres/gpu:a100=2,gres/gpu=2,gres/gpumem=40G,mem=8G,node=2"'
)


def test_csv_units_and_ids() -> None:
    row = parse_sacct_csv(CSV.encode()).frame.row(0, named=True)
    assert (row["job_id"], row["job_step"]) == (15, "batch")
    assert (row["array_job_id"], row["array_task_id"], row["het_job_id"]) == (12, 3, None)
    assert row["state"] == "CANCELLED"
    assert row["start"] == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert row["user_cpu"] == 86400 + 2 * 3600 + 3 * 60 + 4
    assert row["system_cpu"] == 5 * 60 + 6 and row["ave_cpu"] == 1
    assert row["max_rss_kib"] == 1536
    assert row["req_mem_kib"] == 4 * 1024 * 1024  # per node, as in the JSON records
    assert row["timelimit_raw"] == 90 * 60 and row["exit_code"] == 2
    assert row["req_gpus"] == "a100=2,*=2"  # gres/gpumem is not a GPU count


def test_unlimited_time_limit_and_het_ids() -> None:
    line = "v=1,JobID=40+1,JobIDRaw=41,User=u,TimelimitRaw=UNLIMITED,End=2025-01-01T00:00:00Z"
    row = parse_sacct_csv(line.encode()).frame.row(0, named=True)
    assert row["timelimit_raw"] is None
    assert (row["het_job_id"], row["het_job_offset"]) == (40, 1)


def test_csv_bad_values_drop_their_record_only() -> None:
    good = "v=1,JobIDRaw=5,User=u,End=2025-01-01T00:00:00Z"
    data = "\n".join([good, good.replace("5", "x"), "v=1,JobIDRaw=6,MaxRSS=12Q", "User=nov",
                      "v=1,JobID=7_[1-3],JobIDRaw=7", good.replace("5", "8")])  # fmt: skip
    parsed = parse_sacct_csv(data.encode())
    assert parsed.frame["job_id"].to_list() == [5, 8]
    assert [p.line for p in parsed.problems] == [2, 3, 4, 5]


def test_json_jobs_map_extended_values_and_sacct_block() -> None:
    job = {"job_id": 9, "job_state": "COMPLETED", "user_name": "ann", "account": "p",
           "start_time": "2025-03-03T10:00:00Z", "end_time": "", "time_limit": 62,
           "priority": 1, "nodes": ["c1-[1-2]", "gpu-3"], "requested_cpus": 4,
           "allocated_resources": "cpu=4,gres/gpu=1", "requested_memory_per_node": 1024,
           "sacct": {"UserCPU": 100, "MaxRSS": 77, "ElapsedRaw": 3600}}  # fmt: skip
    line = json.dumps({"meta": {"version": "0.16.0"}, "data": {"type": "job", "attributes": {
        "time": "2025-03-03T12:00:00Z", "cluster": "c", "slurm_jobs": [job]}}})  # fmt: skip
    row = parse_job_json(line.encode()).frame.row(0, named=True)
    assert row["timelimit_raw"] == 3600 and row["priority"] == 0  # 60 minutes, in seconds
    assert row["end"] is None and row["node_list"] == "c1-[1-2],gpu-3"
    assert (row["user_cpu"], row["max_rss_kib"], row["elapsed_raw"]) == (100, 77, 3600)
    assert row["req_gpus"] == "*=1" and row["array_job_id"] is None


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    assert parse_sacct_csv(data).frame.schema == pl.Schema(SACCT)
    assert parse_job_json(data).frame.schema == pl.Schema(SACCT)
