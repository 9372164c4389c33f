"""The parsed-file cache: hits for unchanged files, re-reads after an append."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonalyze.errors import UsageError
from sonalyze.ingest.sample_csv import parse_sample_csv
from sonalyze.tables.cache import FileCache, parse_cache_size

LINE = "v=1,time=2025-01-01T00:00:00Z,host=h,user=u,cmd=c,pid={}\n"


def test_unchanged_file_is_served_from_the_cache(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text(LINE.format(1))
    cache = FileCache()
    first = cache.get(f, parse_sample_csv)
    assert cache.get(f, parse_sample_csv) is first and cache.hits == 1


def test_appended_file_is_parsed_again(tmp_path: Path) -> None:
    f = tmp_path / "h.csv"
    f.write_text(LINE.format(1))
    cache = FileCache()
    assert cache.get(f, parse_sample_csv).frame["pid"].to_list() == [1]
    with f.open("a") as out:
        out.write(LINE.format(2))
    assert cache.get(f, parse_sample_csv).frame["pid"].to_list() == [1, 2]


def test_cache_stays_within_its_byte_budget(tmp_path: Path) -> None:
    cache = FileCache(max_bytes=4000)
    for i in range(20):
        f = tmp_path / f"h{i}.csv"
        f.write_text(LINE.format(i) * 5)
        cache.get(f, parse_sample_csv)
    assert 0 < cache.current_bytes <= 4000


@pytest.mark.parametrize(("text", "size"), [("512M", 512 << 20), ("2G", 2 << 30), ("100", 100)])
def test_cache_sizes(text: str, size: int) -> None:
    assert parse_cache_size(text) == size


@pytest.mark.parametrize("text", ["", "0M", "-1G", "lots", "5X"])
def test_bad_cache_sizes(text: str) -> None:
    with pytest.raises(UsageError):
        parse_cache_size(text)
