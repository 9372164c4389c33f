"""Sysinfo (old and new) and partition snapshots."""

from __future__ import annotations

import base64
import json

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from sonalyze.ingest.cluzter_json import parse_cluzter_json
from sonalyze.ingest.schemas import PARTITION, SYSINFO
from sonalyze.ingest.sysinfo_json import parse_sysinfo_json
from sonalyze.ingest.sysinfo_old import parse_sysinfo_old

OLD = {"version": "0.11", "timestamp": "2025-03-03T08:00:00+01:00", "hostname": "n1",
       "description": "2x14 (hyperthreaded) Intel Xeon, 125 GiB, 4x NVIDIA RTX @ 11GiB",
       "cpu_cores": 56, "mem_gb": 125, "gpu_cards": 4, "gpumem_gb": 44}  # fmt: skip


def test_old_sysinfo_recovers_topology_from_the_description() -> None:
    data = (json.dumps(OLD, indent=2) + "\n" + json.dumps(OLD | {"hostname": "n2"})).encode()
    frame = parse_sysinfo_old(data).frame
    row = frame.row(0, named=True)
    assert frame["host"].to_list() == ["n1", "n2"]
    assert (row["sockets"], row["cores_per_socket"], row["threads_per_core"]) == (2, 14, 2)
    assert row["cpu_model"] == "Intel Xeon" and row["memory_kib"] == 125 * 1024 * 1024
    assert [c["model"] for c in row["cards"]] == ["NVIDIA RTX"] * 4
    assert row["cards"][0]["memory_kib"] == 11 * 1024 * 1024


def test_old_sysinfo_skips_a_broken_object_and_keeps_the_next() -> None:
    data = (json.dumps(OLD) + '\n{"hostname": \n' + json.dumps(OLD | {"hostname": "n3"})).encode()
    parsed = parse_sysinfo_old(data)
    assert parsed.frame["host"].to_list() == ["n1", "n3"] and parsed.soft_errors == 1


def test_new_sysinfo_decodes_topology_and_defaults_distances() -> None:
    attrs = {"time": "2025-03-03T08:00:00Z", "node": "n1", "sockets": 2, "cores_per_socket": 8,
             "threads_per_core": 1, "memory": 1024, "topo_text": base64.b64encode(b"tree").decode(),
             "cards": [{"index": 0, "model": "A100", "memory": 40}]}  # fmt: skip
    line = json.dumps({"meta": {"version": "1"}, "data": {"type": "sysinfo", "attributes": attrs}})
    row = parse_sysinfo_json(line.encode()).frame.row(0, named=True)
    assert row["topo_text"] == "tree" and row["distances"] == [[10]]
    assert row["cards"][0]["memory_kib"] == 40 and row["timestamp"] == "2025-03-03T08:00:00Z"


def test_partitions_and_node_states() -> None:
    attrs = {"time": "2025-03-03T08:00:00Z", "cluster": "c",
             "partitions": [{"name": "gpu", "nodes": ["g[1-2]"]}],
             "nodes": [{"names": ["g1"], "states": ["IDLE", "DRAIN"]}]}  # fmt: skip
    line = json.dumps({"meta": {"version": "1"}, "data": {"type": "cluster", "attributes": attrs}})
    parsed = parse_cluzter_json((line + "\nnonsense\n").encode())
    assert parsed.frame.row(0, named=True)["nodes"] == ["g[1-2]"]
    assert parsed.extra["nodes"].row(0, named=True)["states"] == ["IDLE", "DRAIN"]
    assert parsed.soft_errors == 1


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    assert parse_sysinfo_old(data).frame.schema == pl.Schema(SYSINFO)
    assert parse_sysinfo_json(data).frame.schema == pl.Schema(SYSINFO)
    assert parse_cluzter_json(data).frame.schema == pl.Schema(PARTITION)
