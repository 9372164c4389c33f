"""Storage schemas: the columns and dtypes every parser of a table produces.

These are the tables' physical columns.  The names users see (`Timestamp`,
`cpu%`, ...) are declared per verb in `sonalyze.verbs`, each pointing at one
of these columns.  Times are `Datetime("us", "UTC")`, memory is in KiB, and
a GPU set is a UInt32 bit mask (bit n = card n, 0 = none, 1<<31 = unknown).
"""

from __future__ import annotations

import polars as pl

UTC_TIME = pl.Datetime("us", "UTC")
GPUSET_UNKNOWN = 1 << 31

SAMPLE: dict[str, pl.DataType] = {
    "time": UTC_TIME,
    "version": pl.String(),
    "cluster": pl.String(),
    "host": pl.String(),
    "cores": pl.UInt32(),
    "memtotal_kib": pl.UInt64(),
    "user": pl.String(),
    "pid": pl.UInt64(),
    "ppid": pl.UInt64(),
    "job": pl.UInt64(),
    "epoch": pl.UInt64(),
    "cmd": pl.String(),
    "cpu_pct": pl.Float32(),
    "cpu_kib": pl.UInt64(),
    "rssanon_kib": pl.UInt64(),
    "gpus": pl.UInt32(),
    "gpu_pct": pl.Float32(),
    "gpumem_pct": pl.Float32(),
    "gpu_kib": pl.UInt64(),
    "gpufail": pl.UInt8(),
    "cputime_sec": pl.UInt64(),
    "rolledup": pl.UInt32(),
    "flags": pl.UInt8(),
    "threads": pl.UInt32(),
    "in_container": pl.Boolean(),
    "cpu_sampled_util_pct": pl.Float32(),
    "data_read_kib": pl.UInt64(),
    "data_written_kib": pl.UInt64(),
    "data_cancelled_kib": pl.UInt64(),
    "load": pl.String(),
    "gpuinfo": pl.String(),
}

# Bit in `flags`: the record is a heartbeat (`_heartbeat_` or a sample with no jobs).
FLAG_HEARTBEAT = 1

# Node-level data from the new format's `system` block, one row per sample time.
NODE_SAMPLE: dict[str, pl.DataType] = {
    "time": UTC_TIME,
    "host": pl.String(),
    "boot": UTC_TIME,
    "used_memory_kib": pl.UInt64(),
    "load1": pl.Float64(),
    "load5": pl.Float64(),
    "load15": pl.Float64(),
    "runnable_entities": pl.UInt64(),
    "existing_entities": pl.UInt64(),
    "cpus": pl.List(pl.UInt64()),
}

# Per-card GPU data from the new format's `system.gpus`, one row per card per time.
GPU_SAMPLE: dict[str, pl.DataType] = {
    "time": UTC_TIME,
    "host": pl.String(),
    "index": pl.UInt64(),
    "uuid": pl.String(),
    "failing": pl.UInt64(),
    "fan": pl.UInt64(),
    "compute_mode": pl.String(),
    "performance_state": pl.UInt64(),
    "memory_kib": pl.UInt64(),
    "ce_util": pl.UInt64(),
    "memory_util": pl.UInt64(),
    "temperature": pl.Int64(),
    "power": pl.UInt64(),
    "power_limit": pl.UInt64(),
    "ce_clock": pl.UInt64(),
    "memory_clock": pl.UInt64(),
}


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A zero-row frame with the schema."""
    return pl.DataFrame(schema=schema)


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select exactly the schema's columns in order, adding missing ones as null.

    Casts never raise: a value that does not fit becomes null (parsers that
    must not lose such values use `out_of_range` first).
    """
    if frame.width == 0:
        return empty(schema)
    missing = [pl.lit(None).alias(n) for n in schema if n not in frame.columns]
    # with_columns broadcasts to the frame's height, also for a zero-row frame.
    return frame.with_columns(missing).select(
        [pl.col(name).cast(dtype, strict=False) for name, dtype in schema.items()]
    )


def out_of_range(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.Expr:
    """The first column (by name) whose value does not fit the schema's type, else null.

    Catches numbers too large for their column and non-finite floats, so a
    parser can count such a record as bad instead of storing a wrong value.
    """
    checks = []
    for name, dtype in schema.items():
        if name not in frame.columns or frame.schema[name] == dtype or not dtype.is_numeric():
            continue
        col, cast = pl.col(name), pl.col(name).cast(dtype, strict=False)
        bad = col.is_not_null() & cast.is_null()
        if dtype.is_float():
            bad = bad | (col.is_not_null() & ~cast.is_finite().fill_null(True))
        checks.append(pl.when(bad).then(pl.lit(f"value out of range for {name}")))
    return pl.coalesce(checks) if checks else pl.lit(None, pl.String)

SYSINFO_CARD = pl.Struct(
    {
        "index": pl.UInt64(),
        "uuid": pl.String(),
        "address": pl.String(),
        "manufacturer": pl.String(),
        "model": pl.String(),
        "architecture": pl.String(),
        "driver": pl.String(),
        "firmware": pl.String(),
        "memory_kib": pl.UInt64(),
        "power_limit": pl.UInt64(),
        "max_power_limit": pl.UInt64(),
        "min_power_limit": pl.UInt64(),
        "max_ce_clock": pl.UInt64(),
        "max_memory_clock": pl.UInt64(),
    }
)

# One row per sysinfo reading of a node.  `timestamp` is the text as the node
# wrote it (with its UTC offset); `time` is the same instant in UTC.
SYSINFO: dict[str, pl.DataType] = {
    "time": UTC_TIME,
    "timestamp": pl.String(),
    "cluster": pl.String(),
    "host": pl.String(),
    "os_name": pl.String(),
    "os_release": pl.String(),
    "architecture": pl.String(),
    "numa_nodes": pl.UInt64(),
    "sockets": pl.UInt64(),
    "cores_per_socket": pl.UInt64(),
    "threads_per_core": pl.UInt64(),
    "cpu_model": pl.String(),
    "memory_kib": pl.UInt64(),
    "topo_svg": pl.String(),
    "topo_text": pl.String(),
    "distances": pl.List(pl.List(pl.UInt64())),
    "cards": pl.List(SYSINFO_CARD),
}

# One row per Slurm job or step record.  Times are UTC; durations are seconds;
# memory is KiB.  `job_step` is "" for the job's own record.
SACCT: dict[str, pl.DataType] = {
    "time": UTC_TIME,
    "version": pl.String(),
    "cluster": pl.String(),
    "job_id": pl.UInt64(),
    "job_step": pl.String(),
    "array_job_id": pl.UInt64(),
    "array_task_id": pl.UInt64(),
    "het_job_id": pl.UInt64(),
    "het_job_offset": pl.UInt64(),
    "user": pl.String(),
    "job_name": pl.String(),
    "account": pl.String(),
    "state": pl.String(),
    "partition": pl.String(),
    "reservation": pl.String(),
    "layout": pl.String(),
    "node_list": pl.String(),
    "submit": UTC_TIME,
    "start": UTC_TIME,
    "end": UTC_TIME,
    "elapsed_raw": pl.UInt64(),
    "suspended": pl.UInt64(),
    "timelimit_raw": pl.UInt64(),
    "exit_code": pl.UInt64(),
    "req_cpus": pl.UInt64(),
    "req_nodes": pl.UInt64(),
    "req_mem_kib": pl.UInt64(),
    "req_gpus": pl.String(),
    "alloc_tres": pl.String(),
    "req_tres": pl.String(),
    "priority": pl.UInt64(),
    "min_cpu": pl.UInt64(),
    "ave_cpu": pl.UInt64(),
    "user_cpu": pl.UInt64(),
    "system_cpu": pl.UInt64(),
    "ave_disk_read_kib": pl.UInt64(),
    "ave_disk_write_kib": pl.UInt64(),
    "ave_rss_kib": pl.UInt64(),
    "ave_vmsize_kib": pl.UInt64(),
    "max_rss_kib": pl.UInt64(),
    "max_vmsize_kib": pl.UInt64(),
}

# Slurm partitions and node states (`0+cluzter-slurm.json`), one row per
# partition or per node-state group per snapshot.  Node lists stay compressed.
PARTITION: dict[str, pl.DataType] = {
    "time": UTC_TIME,
    "timestamp": pl.String(),
    "cluster": pl.String(),
    "partition": pl.String(),
    "nodes": pl.List(pl.String()),
}
NODE_STATE: dict[str, pl.DataType] = {
    "time": UTC_TIME,
    "timestamp": pl.String(),
    "cluster": pl.String(),
    "nodes": pl.List(pl.String()),
    "states": pl.List(pl.String()),
}
