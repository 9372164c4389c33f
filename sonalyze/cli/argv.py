"""Accepting the Go sonalyze's option spellings: `-from X`, `-data-dir=X`.

Go's flag package treats `-name` and `--name` alike.  Before Typer sees the
arguments, a single-dash word naming a known long option gains a dash.
Nothing after `--` is touched.
"""

from __future__ import annotations


def normalize_argv(argv: list[str], long_options: set[str]) -> list[str]:
    """Rewrite `-name[=v]` to `--name[=v]` where `name` is a known long option."""
    out: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            name = arg[1:].split("=", 1)[0]
            if name in long_options:
                arg = "-" + arg
        out.append(arg)
    return out
