"""New-format sample envelopes: processes, heartbeats, node and GPU frames, bad lines."""

from __future__ import annotations

import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from sonalyze.ingest.sample_json import parse_sample_json
from sonalyze.ingest.schemas import FLAG_HEARTBEAT, SAMPLE


def envelope(jobs: list, *, time: str = "2025-03-03T10:00:00+01:00", gpus: list | None = None
             ) -> str:  # fmt: skip
    system = {"cpus": [10, 20, 30, 40], "used_memory": 5000, "load1": 1.5}
    if gpus is not None:
        system["gpus"] = gpus
    return json.dumps({
        "meta": {"producer": "sonar", "version": "0.16.0"},
        "data": {"type": "sample", "attributes": {
            "time": time, "cluster": "c", "node": "n1", "system": system, "jobs": jobs}},
    })  # fmt: skip


PROC = {"pid": 5, "ppid": 1, "cmd": "train", "cpu_avg": 150.0, "cpu_time": 600,
        "resident_memory": 2048, "virtual_memory": 4096, "num_threads": 3,
        "gpus": [{"index": 1, "gpu_util": 40.0, "gpu_memory": 100, "gpu_memory_util": 5.0},
                 {"index": 2, "gpu_util": 20.0, "gpu_memory": 50, "gpu_memory_util": 1.0}]}


def test_process_fields_map_like_the_reference() -> None:
    line = envelope([{"job": 77, "user": "ann", "epoch": 0, "processes": [PROC]}],
                    gpus=[{"index": 1, "failing": 1}, {"index": 2}])  # fmt: skip
    parsed = parse_sample_json(line.encode())
    row = parsed.frame.row(0, named=True)
    assert (row["job"], row["user"], row["epoch"], row["cmd"]) == (77, "ann", 0, "train")
    assert (row["cores"], row["threads"]) == (4, 4)
    assert (row["cpu_pct"], row["cputime_sec"], row["rssanon_kib"], row["cpu_kib"]) == (
        150.0, 600, 2048, 4096)  # fmt: skip
    assert row["gpus"] == 0b110 and row["gpu_pct"] == 60.0 and row["gpu_kib"] == 150
    assert row["gpufail"] == 1
    assert str(row["time"]) == "2025-03-03 09:00:00+00:00"


def test_sample_without_jobs_is_one_heartbeat_row() -> None:
    parsed = parse_sample_json(envelope([]).encode())
    assert parsed.frame["flags"].to_list() == [FLAG_HEARTBEAT]
    assert parsed.frame["cmd"].to_list() == [""]


def test_node_level_data_lands_in_extra_frames() -> None:
    line = envelope([], gpus=[{"uuid": "u0", "ce_util": 30}, {"index": 1, "uuid": "u1"}])
    parsed = parse_sample_json(line.encode())
    node = parsed.extra["node"].row(0, named=True)
    assert node["used_memory_kib"] == 5000 and node["cpus"] == [10, 20, 30, 40]
    assert parsed.extra["gpu"]["index"].to_list() == [0, 1]  # omitted index means 0


def test_error_envelopes_and_broken_lines_are_counted_not_fatal() -> None:
    good = envelope([{"job": 1, "user": "a", "processes": [{"pid": 1, "cmd": "x"}]}])
    errored = json.dumps({"meta": {"version": "1"}, "errors": [{"detail": "boom"}]})
    wrong_type = envelope([{"job": "one", "user": "a", "processes": []}])
    data = "\n".join([good, "{not json", errored, wrong_type, good[:50], good]).encode()
    parsed = parse_sample_json(data)
    assert parsed.frame.height == 2
    assert [p.line for p in parsed.problems] == [2, 3, 4, 5]


def test_bad_time_is_skipped() -> None:
    parsed = parse_sample_json(envelope([], time="noon").encode())
    assert parsed.frame.height == 0 and parsed.problems[0].reason == "bad or missing time"


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    assert parse_sample_json(data).frame.schema == pl.Schema(SAMPLE)
