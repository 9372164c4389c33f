"""`top` and the base-45 per-core CPU time decoder."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from sonalyze.ingest.cpuload import FIRST_DIGITS, LATER_DIGITS, decode_load


def encode(values: list[int]) -> str:
    """Sonar's encoding: the smallest value as base, then each value's offset from it."""
    base = min(values)

    def number(n: int) -> str:
        out = FIRST_DIGITS[n % 45]
        n //= 45
        while n:
            out += LATER_DIGITS[n % 45]
            n //= 45
        return out

    return number(base) + "".join(number(v - base) for v in values)


def test_decoding_round_trips_and_rejects_bad_fields() -> None:
    values = [[1, 30, 89, 12], [897], [10**12, 10**12 + 45**3, 7]]
    frame = pl.DataFrame({"load": [encode(v) for v in values] + ["a=b", "", None]})
    assert decode_load(frame)["cpus"].to_list() == [*values, None, None, None]


def csv_line(t: str, host: str, cpus: list[int]) -> str:
    return (f"v=0.12.0,time=2024-03-04T{t}Z,host={host},cores=4,user=u,job=1,pid=1,cmd=x,"
            f"cpu%=1,load={encode(cpus)}")  # fmt: skip


def test_strips_from_csv_and_json(cli, tmp_path: Path) -> None:
    csv = tmp_path / "h1.csv"
    csv.write_text("\n".join([
        csv_line("10:00:00", "h1", [1000, 2000, 3000, 4000]),
        csv_line("10:01:00", "h1", [1000, 2005, 3010, 4060]),  # 0, 5, 10, 60 s in 60 s
        csv_line("10:03:00", "h1", [900, 2011, 3016, 4074]),  # reboot on core 0; 6, 6, 14 in 120 s
    ]) + "\n")  # fmt: skip
    envelope = {"meta": {"producer": "sonar", "version": "0.16.0"}, "data": {
        "type": "sample", "attributes": {"time": "2024-03-04T10:00:00Z", "cluster": "c",
                                         "node": "h2", "system": {"cpus": [100, 200]}}}}
    later = json.loads(json.dumps(envelope))
    later["data"]["attributes"]["time"] = "2024-03-04T10:00:30Z"
    later["data"]["attributes"]["system"]["cpus"] = [130, 202]
    js = tmp_path / "0+sample-h2.json"
    js.write_text(json.dumps(envelope) + "\n" + json.dumps(later) + "\n")
    r = cli(["top", "--", csv, js])
    assert r.code == 0, r.err
    assert r.out == ("HOST: h1\n  2024-03-04 10:01 ..oO\n  2024-03-04 10:03 O..o\n"
                     "HOST: h2\n  2024-03-04 10:00 O.\n")  # fmt: skip


def test_top_takes_no_fmt(cli, tmp_path: Path) -> None:
    r = cli(["top", "--fmt=csv", "--", tmp_path / "x.csv"])
    assert r.code == 2 and "--fmt" in r.err
