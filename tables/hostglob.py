"""Host name patterns: `c1-[1,4-8]*.fox`, with prefix-of-name matching.

A multi-pattern is a comma-separated list of patterns; commas inside brackets
belong to the range.  Each pattern compiles to one anchored regex in which a
range `[1,4-8]` is an alternation of the numbers and `*` matches within one
dot-separated element.  Matching is by prefix of elements: `c1` matches
`c1.fox` but not `c1x`.  Patterns also expand (no `*`, for node lists and
config files) and a set of names compresses back into a pattern (for the
host lists of merged jobs).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from sonalyze.errors import UsageError

_MAX_RANGE = 10_000


def split_multi_pattern(text: str) -> list[str]:
    """Split `a[1,2],b` into `['a[1,2]', 'b']`, validating bracket nesting."""
    patterns: list[str] = []
    depth_open = False
    start = 0
    for i, c in enumerate(text):
        if c == "[":
            if depth_open:
                raise UsageError(f"Illegal host pattern {text!r}: nested brackets")
            depth_open = True
        elif c == "]":
            if not depth_open:
                raise UsageError(f"Illegal host pattern {text!r}: unmatched ']'")
            depth_open = False
        elif c == "," and not depth_open:
            patterns.append(text[start:i].strip())
            start = i + 1
    if depth_open:
        raise UsageError(f"Illegal host pattern {text!r}: missing ']'")
    patterns.append(text[start:].strip())
    if any(p == "" for p in patterns):
        raise UsageError(f"Illegal host pattern {text!r}: empty host name")
    return patterns


def _range_numbers(body: str, pattern: str) -> list[str]:
    numbers: list[str] = []
    for part in body.split(","):
        lo, dash, hi = part.partition("-")
        if not re.fullmatch("[0-9]{1,9}", lo) or (dash and not re.fullmatch("[0-9]{1,9}", hi)):
            raise UsageError(f"Illegal host pattern {pattern!r}: bad range [{body}]")
        a, b = int(lo), int(hi) if dash else int(lo)
        if a > b:
            raise UsageError(f"Illegal host pattern {pattern!r}: bad range {a}-{b}")
        if len(numbers) + (b - a + 1) > _MAX_RANGE:
            raise UsageError(f"Illegal host pattern {pattern!r}: range too large, use '*'")
        numbers.extend(str(n) for n in range(a, b + 1))
    return numbers


def _tokens(pattern: str) -> list[str | list[str] | None]:
    """Literal strings, number alternatives (lists) and wildcards (None)."""
    out: list[str | list[str] | None] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append(None)
            i += 1
        elif c == "[":
            j = pattern.find("]", i)
            if j < 0:
                raise UsageError(f"Illegal host pattern {pattern!r}: missing ']'")
            out.append(_range_numbers(pattern[i + 1 : j], pattern))
            i = j + 1
        else:
            j = i
            while j < len(pattern) and pattern[j] not in "*[":
                j += 1
            out.append(pattern[i:j])
            i = j
    return out


def pattern_regex(pattern: str, *, prefix: bool = True) -> str:
    """The anchored regex source for one pattern (Rust/Polars regex syntax)."""
    parts = ["^"]
    for tok in _tokens(pattern):
        if tok is None:
            parts.append(r"[^.]*")
        elif isinstance(tok, list):
            parts.append("(?:" + "|".join(tok) + ")")
        else:
            parts.append(re.escape(tok))
    parts.append(r"(?:\..*)?$" if prefix else "$")
    return "".join(parts)


@dataclass(frozen=True)
class HostFilter:
    """A compiled set of host patterns; empty means "every host"."""

    patterns: tuple[str, ...] = ()
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, texts: list[str] | tuple[str, ...] | None) -> HostFilter:
        """Compile `--host` values; each may be a multi-pattern, `;` also separates."""
        patterns: list[str] = []
        for text in texts or ():
            for chunk in text.split(";"):
                if chunk.strip():
                    patterns.extend(split_multi_pattern(chunk))
        if not patterns:
            return cls()
        if len(patterns) > 1000:
            raise UsageError("Too many host patterns (at most 1000)")
        source = "|".join(f"(?:{pattern_regex(p)})" for p in patterns)
        if len(source) > 200_000:
            raise UsageError("Host patterns too large: use '*' instead of long number ranges")
        return cls(tuple(patterns), re.compile(source))

    @property
    def is_empty(self) -> bool:
        """True when no pattern was given."""
        return not self.patterns

    def regex(self) -> str:
        """One regex source matching any of the patterns (for Polars)."""
        return self._regex.pattern if self._regex else ".*"

    def match(self, host: str) -> bool:
        """True if `host` (a plain name) matches a pattern, or there are none."""
        return self._regex is None or self._regex.match(host) is not None


def expand_pattern(pattern: str) -> list[str]:
    """All names a wildcard-free pattern denotes: `a[1-2].b` -> `a1.b, a2.b`."""
    names = [""]
    for tok in _tokens(pattern):
        if tok is None:
            raise UsageError(f"Host pattern {pattern!r}: '*' cannot be expanded")
        alternatives = tok if isinstance(tok, list) else [tok]
        names = [n + a for n in names for a in alternatives]
    return names


_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


def _compress_numbers(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return str(numbers[0])
    numbers = sorted(set(numbers))
    runs: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        runs.append(str(numbers[i]) if i == j else f"{numbers[i]}-{numbers[j]}")
        i = j + 1
    return "[" + ",".join(runs) + "]"


def compress_hostnames(hosts: list[str]) -> list[str]:
    """Compress names into patterns on the last number of their first element.

    `c1-10.fox, c1-18.fox, c1-19.fox` -> `c1-[10,18-19].fox`.  The result is
    sorted, so it does not depend on the input order.
    """
    by_suffix: dict[str, list[str]] = defaultdict(list)
    for h in set(hosts):
        first, _, rest = h.partition(".")
        by_suffix[rest].append(first)
    result: list[str] = []
    for suffix, firsts in by_suffix.items():
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for elt in firsts:
            m = _TRAILING_NUMBER.match(elt)
            if m is None:
                result.append(f"{elt}.{suffix}" if suffix else elt)
                continue
            groups[(m.group(1), m.group(3))].append(int(m.group(2)))
        for (head, tail), numbers in groups.items():
            name = head + _compress_numbers(numbers) + tail
            result.append(f"{name}.{suffix}" if suffix else name)
    return sorted(result)
