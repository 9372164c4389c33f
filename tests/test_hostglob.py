"""Host patterns: splitting, prefix matching, expansion and compression."""

from __future__ import annotations

import pytest

from sonalyze.errors import UsageError
from sonalyze.tables.hostglob import (
    HostFilter,
    compress_hostnames,
    expand_pattern,
    split_multi_pattern,
)


def test_split_keeps_commas_inside_ranges() -> None:
    assert split_multi_pattern("gpu-[1,4-8],c[1,2]-[8,9]") == ["gpu-[1,4-8]", "c[1,2]-[8,9]"]


@pytest.mark.parametrize(
    ("patterns", "host", "expected"),
    [
        (["c1"], "c1", True),
        (["c1"], "c1.fox", True),  # prefix of the name's elements
        (["c1"], "c10", False),
        (["c1"], "c10.fox", False),
        (["gpu-[1,4-8]"], "gpu-5.fox", True),
        (["gpu-[1,4-8]"], "gpu-3", False),
        (["c*"], "c77.fox", True),
        (["c*.fox"], "c77.uio", False),
        (["a;b"], "b.x", True),
    ],
)
def test_matching(patterns: list[str], host: str, expected: bool) -> None:
    assert HostFilter.parse(patterns).match(host) is expected


def test_empty_filter_matches_everything() -> None:
    assert HostFilter.parse(None).is_empty and HostFilter.parse([]).match("anything")


@pytest.mark.parametrize("bad", ["a[1-", "a[3-1]", "a]", "a[[1]]", "a,,b", "a[x]"])
def test_bad_patterns_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        HostFilter.parse([bad])


def test_expand_and_compress_round_trip() -> None:
    names = expand_pattern("c1-[10,18-19].fox")
    assert names == ["c1-10.fox", "c1-18.fox", "c1-19.fox"]
    assert compress_hostnames(list(reversed(names))) == ["c1-[10,18-19].fox"]
    assert compress_hostnames(["login"]) == ["login"]
