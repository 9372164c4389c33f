"""The -q language: syntax, precedence, each value kind, and errors."""

from __future__ import annotations

import polars as pl
import pytest

from sonalyze.errors import QueryError, UsageError
from sonalyze.query import compile_query
from sonalyze.verbs.sample import FIELDS

ROWS = pl.DataFrame(
    {
        "user": ["ann", "bob", "cat"],
        "job": [17, 18, 1269178],
        "cmd": ["a b", "python", "R"],
        "cpu_pct": pl.Series([0.5, 50.0, 2000.0], dtype=pl.Float32),
        "gpus": pl.Series([0, 1 << 31, 0b11], dtype=pl.UInt32),
        "in_container": [False, True, False],
        "cpu_kib": [1 << 20, 3 << 20, 0],
        "time": pl.Series(["2023-10-04 07:40:00", "2023-10-04 07:50:00", "2023-10-05 00:00:00"])
        .str.to_datetime(time_zone="UTC"),
    }
)


def jobs(q: str) -> list[int]:
    return ROWS.filter(compile_query(q, FIELDS))["job"].to_list()


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("Job=17", [17]),
        ("job = 17", [17]),
        ("job =~ 17", [17, 1269178]),
        ("User >= bob and not Job = 18", [1269178]),
        ("not Job = 17 and Job = 18", [18]),
        ("Job = 17 or Job = 18 and User = bob", [17, 18]),
        ("(Job = 17 or Job = 18) and User = bob", [18]),
        ("Cmd =~ /^a /", [17]),
        ("CpuPct > 1e3", [1269178]),
        ("Gpus = unknown", [18]),
        ("Gpus <= '0,1'", [17, 1269178]),
        ("Gpus > none", [1269178]),
        ("InContainer = yes", [18]),
        ("mem_gb >= 2", [18]),
        ("Timestamp >= '2023-10-04 07:45:00'", [18, 1269178]),
        ("time < '2023-10-04T07:45:00Z'", [17]),
    ],
)
def test_queries(q: str, expected: list[int]) -> None:
    assert jobs(q) == expected


@pytest.mark.parametrize("q", ["Job = ", "Job 17", "(Job = 1", "Job = 5x", "Job = 'open",
                               "Job ! 3", "and"])  # fmt: skip
def test_syntax_errors(q: str) -> None:
    with pytest.raises(QueryError):
        compile_query(q, FIELDS)


def test_unknown_fields_and_bad_values_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="did you mean"):
        compile_query("Jbo = 3", FIELDS)
    with pytest.raises(QueryError, match="integer"):
        compile_query("Job = 1.5", FIELDS)
    with pytest.raises(QueryError, match="regular expression"):
        compile_query("Cmd =~ '('", FIELDS)
