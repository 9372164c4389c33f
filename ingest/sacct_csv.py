"""Old Slurm job records (`slurm-sacct.csv`): tagged free CSV written by `sacctd`.

Keys are sacct's column names (`JobIDRaw`, `State`, `AllocTRES`, ...).
`v` and a numeric `JobIDRaw` are required.  A value that does not parse
drops its record; absent fields mean zero, as the producer omits zeros.
Unlike the Go sonalyze we keep records without `End` (running jobs),
accept `T`/`P` sizes and `UNLIMITED` time limits, and keep `AllocTRES`.
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.freecsv import syntax_ok, tagged_fields
from sonalyze.ingest.lines import split_lines
from sonalyze.ingest.numbers import checked_time, checked_uint
from sonalyze.ingest.parsed import Parsed, line_index, problems_from
from sonalyze.ingest.schemas import SACCT, conform
from sonalyze.ingest.slurm import elapsed_seconds, gpus_from_tres, size_kib, split_job_id

KEYS = [
    "v", "JobID", "JobIDRaw", "User", "Account", "JobName", "Layout", "NodeList",
    "Partition", "Reservation", "State", "Start", "End", "Submit", "ElapsedRaw",
    "ReqCPUS", "ReqNodes", "TimelimitRaw", "ExitCode", "AveCPU", "MinCPU", "SystemCPU",
    "UserCPU", "Suspended", "AveDiskRead", "AveDiskWrite", "AveRSS", "AveVMSize",
    "MaxRSS", "MaxVMSize", "ReqMem", "AllocTRES", "ReqTRES", "Priority",
]  # fmt: skip

_STRINGS = {
    "User": "user", "Account": "account", "JobName": "job_name", "Layout": "layout",
    "NodeList": "node_list", "Partition": "partition", "Reservation": "reservation",
    "AllocTRES": "alloc_tres", "ReqTRES": "req_tres", "v": "version",
}  # fmt: skip
_UINTS = {"ElapsedRaw": "elapsed_raw", "ReqCPUS": "req_cpus", "ReqNodes": "req_nodes",
          "Priority": "priority"}  # fmt: skip
_TIMES = {"Start": "start", "End": "end", "Submit": "submit"}
_ELAPSED = {"AveCPU": "ave_cpu", "MinCPU": "min_cpu", "SystemCPU": "system_cpu",
            "UserCPU": "user_cpu", "Suspended": "suspended"}  # fmt: skip
_SIZES = {
    "AveDiskRead": "ave_disk_read_kib", "AveDiskWrite": "ave_disk_write_kib",
    "AveRSS": "ave_rss_kib", "AveVMSize": "ave_vmsize_kib", "MaxRSS": "max_rss_kib",
    "MaxVMSize": "max_vmsize_kib",
}  # fmt: skip
# COMPAT(sacct-csv): these mean "no limit" here; the reference drops the record.
_UNLIMITED = ("UNLIMITED", "Partition_Limit", "INVALID")


def _typed(raw: pl.DataFrame) -> pl.DataFrame:
    cols: list[pl.Expr] = [pl.col("lineno")]
    bads: list[pl.Expr] = []

    def add(value: pl.Expr, bad: pl.Expr | None, name: str) -> None:
        cols.append(value.alias(name))
        if bad is not None:
            bads.append(pl.when(bad).then(pl.lit(f"bad value for {name}")))

    for key, name in _STRINGS.items():
        add(pl.col(key), None, name)
    for key, name in _UINTS.items():
        add(*checked_uint(pl.col(key), pl.UInt64()), name)
    for key, name in _TIMES.items():
        text = pl.when(pl.col(key) != "Unknown").then(pl.col(key))
        add(*checked_time(text), name)
    for key, name in _ELAPSED.items():
        add(*elapsed_seconds(pl.col(key)), name)
    for key, name in _SIZES.items():
        value, _, bad = size_kib(pl.col(key))
        add(value, bad, name)

    raw_id = pl.col("JobIDRaw").str.splitn(".", 2)
    job_id, bad_id = checked_uint(raw_id.struct.field("field_0"), pl.UInt64())
    add(job_id, bad_id | pl.col("JobIDRaw").is_null(), "job_id")
    add(raw_id.struct.field("field_1").fill_null(""), None, "job_step")
    parts = split_job_id(pl.col("JobID"))
    for name in ("array_job_id", "array_task_id", "het_job_id", "het_job_offset"):
        add(parts[name], None, name)
    bads.append(pl.when(parts["_bad"]).then(pl.lit("bad value for JobID")))

    add(pl.col("State").str.split(" ").list.first(), None, "state")
    limit = pl.when(~pl.col("TimelimitRaw").is_in(_UNLIMITED)).then(pl.col("TimelimitRaw"))
    minutes, bad_limit = checked_uint(limit, pl.UInt64())
    add(minutes * 60, bad_limit, "timelimit_raw")
    code = pl.col("ExitCode").str.extract(r"^(\d+)(?::\d+)?$", 1)
    add(code.cast(pl.UInt64, strict=False), pl.col("ExitCode").is_not_null() & code.is_null(),
        "exit_code")
    # ReqMem is per node, as in the JSON records: `n` is already per node, `c` per CPU
    # (times the CPUs of one node), no suffix (Slurm 21.08 and later) per node too.
    mem, per, bad_mem = size_kib(pl.col("ReqMem"))
    cpus = pl.col("ReqCPUS").cast(pl.UInt64, strict=False).fill_null(1)
    nodes = pl.col("ReqNodes").cast(pl.UInt64, strict=False).fill_null(1).clip(1)
    per_node = pl.when(per == "c").then(mem * ((cpus + nodes - 1) // nodes)).otherwise(mem)
    add(per_node, bad_mem, "req_mem_kib")
    add(gpus_from_tres(pl.col("AllocTRES")), None, "req_gpus")

    missing = (
        pl.when(pl.col("v").is_null() | (pl.col("v") == ""))
        .then(pl.lit("missing v"))
        .when(pl.col("JobIDRaw").is_null())
        .then(pl.lit("missing JobIDRaw"))
    )
    return raw.select(*cols, pl.coalesce(missing, *bads).alias("_bad"))


def parse_sacct_csv(data: bytes) -> Parsed:
    """Parse an old `slurm-sacct.csv` file into `sacct` rows."""
    lines, problems = split_lines(data)
    lines = lines.with_columns(syntax_ok().alias("_ok"))
    problems += problems_from(lines.filter(~pl.col("_ok"))["lineno"], "CSV syntax error")
    raw = tagged_fields(lines.filter(pl.col("_ok")), KEYS)
    typed = _typed(raw)
    bad = typed.filter(pl.col("_bad").is_not_null())
    problems += problems_from(bad["lineno"], bad["_bad"])
    good = typed.filter(pl.col("_bad").is_null() & (pl.col("job_id") > 0))
    zero_id = typed.filter(pl.col("_bad").is_null() & (pl.col("job_id") == 0))
    problems += problems_from(zero_id["lineno"], "job id 0")
    zero_fill = [c for c, t in SACCT.items() if t == pl.UInt64() and c not in (
        "array_job_id", "array_task_id", "het_job_id", "het_job_offset", "timelimit_raw")]
    frame = conform(good, SACCT).with_columns(
        pl.col(zero_fill).fill_null(0),
        pl.col("user", "account", "job_name", "layout", "node_list", "partition",
               "reservation", "state").fill_null(""),
    )
    problems.sort(key=lambda p: p.line)
    return Parsed(frame, tuple(problems), lines={"": line_index(good)})
