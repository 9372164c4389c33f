"""Tokens of the `-q` language, as the Go sonalyze lexes them.

Operators `< <= > >= = =~ ( )`; quoted strings in `"` `'` `/` or backquotes
(no escapes); durations `3d12h`; numbers (a leading `-` makes a negative
number); identifiers; the keywords `and`, `or`, `not`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sonalyze.errors import QueryError

OPS = ("<=", ">=", "=~", "<", ">", "=", "(", ")")
QUOTES = "\"'/`"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_DURATION = re.compile(r"(?:\d+[wW])?(?:\d+[dD])?(?:\d+[hH])?(?:\d+[mM])?")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_%]*")


@dataclass(frozen=True)
class Token:
    """A token: kind is op, string, ident or keyword; text is its value."""

    kind: str
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; a lexical error is a QueryError naming the position."""
    out: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in " \t\r\n":
            i += 1
            continue
        op = next((o for o in OPS if text.startswith(o, i)), None)
        if op:
            out.append(Token("op", op, i))
            i += len(op)
            continue
        if c in QUOTES:
            end = text.find(c, i + 1)
            if end < 0:
                raise QueryError(f"Can't parse query: end of input in string at position {i}")
            out.append(Token("string", text[i + 1 : end], i))
            i = end + 1
            continue
        if c.isdigit() or (c == "-" and i + 1 < len(text) and text[i + 1].isdigit()):
            d = _DURATION.match(text, i) if c.isdigit() else None
            n = _NUMBER.match(text, i)
            m = d if d and d.end() > (n.end() if n else i) else n
            if m is None or m.end() == i:
                raise QueryError(f"Can't parse query: bad number at position {i}")
            if m.end() < len(text) and (text[m.end()].isalnum() or text[m.end()] == "_"):
                raise QueryError(
                    f"Can't parse query: token separator required after number at position {i}"
                )
            out.append(Token("string", text[i : m.end()], i))
            i = m.end()
            continue
        if m := _IDENT.match(text, i):
            word = m.group(0)
            out.append(Token("keyword" if word in ("and", "or", "not") else "ident", word, i))
            i = m.end()
            continue
        raise QueryError(f"Can't parse query: unexpected character {c!r} at position {i}")
    return out
