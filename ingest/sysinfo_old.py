"""Old-format sysinfo (`sysinfo-<host>.json`): concatenated JSON objects.

Each object has `version`, `timestamp`, `hostname`, `description`,
`cpu_cores`, `mem_gb`, `gpu_cards`, `gpumem_gb` and optionally `gpu_info`.
Sockets, cores and the CPU model are recovered from the description
(`2x16 (hyperthreaded) AMD EPYC 7282, 256 GiB, 8x NVIDIA ... @ 11GiB`) as
the Go sonalyze does.  These files hold one object per node per day, so a
decoding loop per object (not per sample) is cheap enough; line numbers are
counted incrementally so it stays linear in the input.
"""

from __future__ import annotations

import json
import re

import polars as pl

from sonalyze.ingest.numbers import checked_time
from sonalyze.ingest.parsed import Parsed, Problem
from sonalyze.ingest.schemas import SYSINFO, conform

_DESC = re.compile(r"^(\d{1,9})x(\d{1,9})( \(hyperthreaded\))?(.*?), \d+ GiB")
_GPU = re.compile(r", \d+x (.*) @ (\d{1,9})GiB$")
_KIB_PER_GIB = 1024 * 1024


_U64_LIMIT = 1 << 64


def _uint(value: object, scale: int = 1) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value if value * scale < _U64_LIMIT else None


def _cards(obj: dict, description: str) -> list[dict]:
    info = obj.get("gpu_info")
    if isinstance(info, list) and info:
        return [
            {
                "index": i,
                "uuid": g.get("uuid"),
                "address": g.get("bus_addr"),
                "manufacturer": g.get("manufacturer"),
                "model": g.get("model"),
                "architecture": g.get("arch"),
                "driver": g.get("driver"),
                "firmware": g.get("firmware"),
                "memory_kib": _uint(g.get("mem_size_kib")),
                "power_limit": _uint(g.get("power_limit_watt")),
                "max_power_limit": _uint(g.get("max_power_limit_watt")),
                "min_power_limit": _uint(g.get("min_power_limit_watt")),
                "max_ce_clock": _uint(g.get("max_ce_clock_mhz")),
                "max_memory_clock": _uint(g.get("max_mem_clock_mhz")),
            }
            for i, g in enumerate(info)
            if isinstance(g, dict)
        ]
    count = min(_uint(obj.get("gpu_cards")) or 0, 1024)
    model, maker, mem = "", "", 0
    if m := _GPU.search(description):
        model, mem = m.group(1), int(m.group(2)) * _KIB_PER_GIB
        maker = next((v for v in ("NVIDIA", "AMD", "Intel") if v in model), "")
    return [
        {"index": i, "model": model, "manufacturer": maker, "memory_kib": mem}
        for i in range(count)
    ]


def _row(obj: dict) -> dict | str:
    """A SYSINFO row, or the reason the object is unusable."""
    host, stamp = obj.get("hostname"), obj.get("timestamp")
    if not isinstance(host, str) or not host:
        return "missing hostname"
    if not isinstance(stamp, str) or not stamp:
        return "missing timestamp"
    mem_gb = _uint(obj.get("mem_gb"), _KIB_PER_GIB)
    if mem_gb is None and "mem_gb" in obj:
        return "bad mem_gb"
    raw_desc = obj.get("description")
    desc = raw_desc if isinstance(raw_desc, str) else ""
    sockets = cores = threads = 0
    model = ""
    if m := _DESC.match(desc):
        sockets, cores = int(m.group(1)), int(m.group(2))
        threads = 2 if m.group(3) else 1
        model = m.group(4).strip()
    arch = "x86_64" if ("Intel" in desc or "AMD" in desc) else "aarch64"
    return {
        "timestamp": stamp,
        "host": host,
        "os_name": "Linux",
        "architecture": arch,
        "numa_nodes": 0,
        "sockets": sockets,
        "cores_per_socket": cores,
        "threads_per_core": threads,
        "cpu_model": model,
        "memory_kib": (mem_gb or 0) * _KIB_PER_GIB,
        "cards": _cards(obj, desc),
    }


def object_spans(text: str) -> tuple[list[tuple[int, int, int, dict]], list[Problem]]:
    """Each JSON object in `text`: (1-based line, start, end offset, object), and what is not one."""
    decoder = json.JSONDecoder()
    found: list[tuple[int, int, int, dict]] = []
    problems: list[Problem] = []
    pos = 0
    line, counted_to = 1, 0  # line number of `pos`, counted incrementally
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        try:
            obj, end = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError):
            problems.append(Problem(line, "not a JSON object"))
            nxt = text.find("\n{", pos + 1)
            if nxt < 0:
                break
            pos = nxt + 1
            continue
        if isinstance(obj, dict):
            found.append((line, pos, end, obj))
        else:
            problems.append(Problem(line, "not a JSON object"))
        pos = end
    return found, problems


def parse_sysinfo_old(data: bytes) -> Parsed:
    """Parse an old-format sysinfo file into `sysinfo` rows."""
    text = data.decode("utf-8", errors="replace")
    spans, problems = object_spans(text)
    rows: list[dict] = []
    for line, _, _, obj in spans:
        row = _row(obj)
        if isinstance(row, str):
            problems.append(Problem(line, row))
        else:
            rows.append(row | {"_line": line})
    schema = {k: v for k, v in SYSINFO.items() if k not in ("time",)} | {"_line": pl.Int64()}
    frame = pl.DataFrame(rows, schema=schema)
    time, bad = checked_time(pl.col("timestamp"))
    frame = frame.with_columns(time.alias("time"), bad.alias("_bad"))
    problems += [Problem(n, "bad timestamp") for n in frame.filter("_bad")["_line"].to_list()]
    frame = frame.filter(~pl.col("_bad"))
    lines = (frame["_line"] - 1).cast(pl.UInt32)
    problems.sort(key=lambda p: p.line)
    return Parsed(conform(frame, SYSINFO), tuple(problems), lines={"": lines})
