"""Time windows: parsing `--from`/`--to` as the Go sonalyze does, and the UTC
day directories a window covers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sonalyze.errors import UsageError

_DATE = re.compile(r"^(\d\d\d\d)-(\d\d)-(\d\d)$")
_RELATIVE = re.compile(r"^([0-9]{1,7})([hdw])$")
_UNIT = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_time(text: str, *, now: datetime, end_of_day: bool, option: str) -> datetime:
    """Parse one `--from`/`--to` value to an aware UTC datetime.

    Accepts what the Go sonalyze accepts -- `YYYY-MM-DD`, `Nd`, `Nw` -- plus
    `Nh` and ISO-8601 timestamps (`2025-03-04T10:00`, `...Z`, `...+02:00`;
    naive means UTC).  A bare date given as `--to` means the last second of
    that day, as in the reference; relative times ignore `end_of_day`.
    """
    text = text.strip()
    try:
        return _parse_time(text, now=now, end_of_day=end_of_day, option=option)
    except OverflowError:
        raise UsageError(f"Invalid {option} argument {text!r}: out of range") from None


def _parse_time(text: str, *, now: datetime, end_of_day: bool, option: str) -> datetime:
    if m := _RELATIVE.match(text):
        return now - int(m.group(1)) * _UNIT[m.group(2)]
    if m := _DATE.match(text):
        try:
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            # COMPAT(dates): the reference silently turns impossible dates into empty windows.
            raise UsageError(f"Invalid {option} argument {text}: no such date") from None
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start + timedelta(hours=23, minutes=59, seconds=59) if end_of_day else start
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"Invalid {option} argument {text!r}: use YYYY-MM-DD, Nh, Nd, Nw or an ISO timestamp"
        ) from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """An inclusive UTC time window `[start, end]`, as the reference uses it."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise UsageError("The --from time is greater than the --to time")

    def days(self) -> list[date]:
        """Every UTC day the window touches, oldest first."""
        first, last = self.start.date(), self.end.date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def make_window(
    from_text: str | None,
    to_text: str | None,
    *,
    now: datetime | None = None,
    default_days: int = 1,
) -> Window:
    """Build the window for `--from`/`--to`; the default is the last `default_days` days."""
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    end = parse_time(to_text, now=now, end_of_day=True, option="--to") if to_text else now
    if from_text:
        start = parse_time(from_text, now=now, end_of_day=False, option="--from")
    else:
        # COMPAT(dates): with only --to, the window is the default length ending there.
        start = min(now, end) - timedelta(days=default_days)
    return Window(start, end)


_DURATION = re.compile(
    r"^(?:([0-9]{1,6})[wW])?(?:([0-9]{1,7})[dD])?(?:([0-9]{1,9})[hH])?(?:([0-9]{1,10})[mM])?$"
)


def parse_duration(text: str) -> int | None:
    """`1w2d3h4m` (any part optional) or plain seconds -> seconds; None if neither."""
    m = _DURATION.match(text)
    if m and text:
        w, d, h, mi = (int(g or 0) for g in m.groups())
        return (((w * 7 + d) * 24 + h) * 60 + mi) * 60
    return int(text) if re.fullmatch("[0-9]{1,15}", text) else None

