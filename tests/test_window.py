"""Time windows: the reference's date forms, our additions, and the days touched."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sonalyze.errors import UsageError
from sonalyze.tables.window import make_window, parse_duration

NOW = datetime(2025, 3, 10, 12, 30, tzinfo=UTC)


def test_dates_cover_whole_days_inclusive() -> None:
    w = make_window("2025-03-01", "2025-03-02", now=NOW)
    assert w.start == datetime(2025, 3, 1, tzinfo=UTC)
    assert w.end == datetime(2025, 3, 2, 23, 59, 59, tzinfo=UTC)
    assert w.days() == [date(2025, 3, 1), date(2025, 3, 2)]


def test_relative_forms_count_back_from_now() -> None:
    assert make_window("2d", None, now=NOW).start == datetime(2025, 3, 8, 12, 30, tzinfo=UTC)
    assert make_window("1w", "3h", now=NOW).end == datetime(2025, 3, 10, 9, 30, tzinfo=UTC)


def test_default_is_the_last_day() -> None:
    w = make_window(None, None, now=NOW)
    assert (w.start, w.end) == (datetime(2025, 3, 9, 12, 30, tzinfo=UTC), NOW)


def test_only_to_gives_the_default_length_ending_there() -> None:
    w = make_window(None, "2025-03-01", now=NOW, default_days=2)
    assert w.start == datetime(2025, 2, 27, 23, 59, 59, tzinfo=UTC)


def test_iso_timestamps_with_offsets_become_utc() -> None:
    w = make_window("2025-03-01T10:00+02:00", "2025-03-01T10:00:00Z", now=NOW)
    assert w.start == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(("f", "t"), [("2025-13-45", None), ("yesterday", None),
                                      ("2025-03-05", "2025-03-01")])  # fmt: skip
def test_bad_windows_are_usage_errors(f: str, t: str | None) -> None:
    with pytest.raises(UsageError):
        make_window(f, t, now=NOW)


@pytest.mark.parametrize(("text", "seconds"), [("2h30m", 9000), ("1w", 604800), ("90", 90),
                                               ("1d1m", 86460), ("soon", None), ("", None)])  # fmt: skip
def test_durations(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds
