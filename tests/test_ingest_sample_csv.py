"""Old free-CSV samples: tagged and untagged lines, quoting, and bad input."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from sonalyze.ingest.sample_csv import parse_sample_csv
from sonalyze.ingest.schemas import FLAG_HEARTBEAT, SAMPLE

LINE = (
    "v=0.11.1,time=2025-03-03T10:00:00+01:00,host=c1,cores=64,memtotalkib=1000,user=ann,"
    "pid=42,ppid=1,job=7,cmd=python,cpu%=98.5,cpukib=2048,rssanonkib=1024,\"gpus=0,3\","
    "gpu%=50,gpumem%=10,gpukib=4096,cputime_sec=30,rolledup=2"
)


def test_tagged_line_maps_every_field() -> None:
    row = parse_sample_csv(LINE.encode()).frame.row(0, named=True)
    assert row["time"] == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert (row["host"], row["user"], row["job"], row["pid"], row["cmd"]) == (
        "c1", "ann", 7, 42, "python"
    )
    assert row["cpu_pct"] == 98.5 and row["cpu_kib"] == 2048 and row["rssanon_kib"] == 1024
    assert row["gpus"] == 0b1001  # cards 0 and 3
    assert row["cputime_sec"] == 30 and row["rolledup"] == 2 and row["epoch"] == 1


def test_fields_in_any_order_and_quoted_commas() -> None:
    line = '"cmd=a, b",user=bob,v=0.9.0,host=h,time=2025-01-01T00:00:00Z,job=3'
    row = parse_sample_csv(line.encode()).frame.row(0, named=True)
    assert (row["cmd"], row["user"], row["job"]) == ("a, b", "bob", 3)


def test_untagged_line_is_version_060_with_pid_from_job() -> None:
    row = parse_sample_csv(b"2023-01-01T00:00:00Z,c2,8,alice,42,bash,3.5,1000\n").frame.row(
        0, named=True
    )
    assert (row["version"], row["job"], row["pid"], row["cpu_kib"]) == ("0.6.0", 42, 42, 1000)


def test_heartbeat_needs_no_user_and_is_flagged() -> None:
    row = parse_sample_csv(b"v=1,time=2025-01-01T00:00:00Z,host=h,cmd=_heartbeat_").frame.row(
        0, named=True
    )
    assert row["flags"] == FLAG_HEARTBEAT


def test_bad_lines_are_counted_with_line_numbers_and_good_ones_kept() -> None:
    data = "\n".join([
        LINE,
        LINE.replace("cores=64", "cores=many"),
        LINE.replace("user=ann,", ""),
        LINE.replace("cmd=python", 'cmd=py"thon'),
        LINE[:40],
        LINE.replace("pid=42", "pid=43"),
    ]).encode() + b"\n\xff\xfe\n"  # fmt: skip
    parsed = parse_sample_csv(data)
    assert parsed.frame["pid"].to_list() == [42, 43]
    assert [(p.line, p.reason) for p in parsed.problems] == [
        (2, "bad value for cores"),
        (3, "missing user"),
        (4, "CSV syntax error"),
        (5, "missing host"),
        (7, "invalid UTF-8"),
    ]


def test_absurd_numbers_are_rejected_not_wrapped() -> None:
    parsed = parse_sample_csv(LINE.replace("pid=42", "pid=99999999999999999999999").encode())
    assert parsed.frame.height == 0 and parsed.problems[0].reason == "bad value for pid"


def test_hundred_thousand_lines_with_corruption_keep_every_good_line() -> None:
    rng = random.Random(7)
    lines: list[str] = []
    good: list[int] = []
    bad = 0
    for i in range(100_000):
        line = LINE.replace("pid=42", f"pid={i}")
        if rng.random() < 0.03:
            bad += 1
            # Every corruption makes the line invalid: a torn timestamp, a negative
            # number, a misspelt required key.
            stamp = line.index("time=") + 5
            line = rng.choice([line[: rng.randrange(stamp + 1, stamp + 24)] + ",host=x",
                               line.replace("cores=64", "cores=-1"),
                               line.replace("time=", "tiem=")])  # fmt: skip
        else:
            good.append(i)
        lines.append(line)
    parsed = parse_sample_csv("\n".join(lines).encode())
    assert parsed.soft_errors == bad
    assert parsed.frame["pid"].to_list() == good


def test_empty_input_gives_the_schema() -> None:
    parsed = parse_sample_csv(b"")
    assert parsed.frame.schema == pl.Schema(SAMPLE) and parsed.soft_errors == 0


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash(data: bytes) -> None:
    parsed = parse_sample_csv(data)
    assert parsed.frame.schema == pl.Schema(SAMPLE)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('v=,"ab1:.\n')), max_size=200))
def test_csv_shaped_noise_never_crashes(text: str) -> None:
    parsed = parse_sample_csv(text.encode())
    assert parsed.frame.height + parsed.soft_errors <= text.count("\n") + 1
