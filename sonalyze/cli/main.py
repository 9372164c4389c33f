"""The entry point: normalise Go-style options, run Typer, print errors in one line.

Exit status: 0 success, 1 runtime error, 2 usage error.  `--debug` (or
SONALYZE_DEBUG=1) re-raises so a developer sees the traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from sonalyze.errors import SonalyzeError


def _is_usage_error(e: Exception) -> bool:
    # Typer's command-line errors (click's, or its vendored copy) carry these two attributes.
    return hasattr(e, "format_message") and getattr(e, "exit_code", None) == 2


def _fail(message: str, code: int) -> None:
    # COMPAT(errors): one line, `sonalyze: error: ...`.
    first = (message.strip().splitlines() or ["unknown error"])[0]
    sys.stderr.write(f"sonalyze: error: {first}\n")
    sys.exit(code)


# Polars' allocator (jemalloc) hands freed pages back to the system after about ten
# seconds by default; a query that reads a run of hosts after the other then faults its
# pages in again and again.  Kept for a minute, `jobs` over 200 hosts x 30 days took
# 250,000 page faults instead of 750,000 and 0.8 s less (bench/), for ~20% more peak memory.
_ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:60000,muzzy_decay_ms:60000")


def main(argv: list[str] | None = None) -> None:
    """Run the command line and exit with its status."""
    os.environ.setdefault(*_ALLOCATOR)  # read when Polars first allocates: before its import
    import polars as pl

    from sonalyze.cli.argv import normalize_argv
    from sonalyze.cli.commands import command_for, long_option_names

    # Our frames are already in memory: Polars' in-memory engine runs the stream and
    # merge plans in about 60% of the streaming engine's time (bench/, jobs over 7 days).
    pl.Config.set_engine_affinity("in-memory")
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("SONALYZE_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    if not args:
        args = ["--help"]
    command, args, name = command_for(args)
    args = normalize_argv(args, long_option_names(command))
    try:
        command.main(args=args, prog_name=name, standalone_mode=False)  # type: ignore[attr-defined]
    except SonalyzeError as e:
        if debug:
            raise
        _fail(str(e), e.exit_code)
    except typer.Abort:
        _fail("interrupted", 130)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except Exception as e:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        if debug:
            raise
        if _is_usage_error(e):
            _fail(e.format_message(), 2)  # type: ignore[attr-defined]
        _fail(f"internal error: {type(e).__name__}: {e} (rerun with --debug for details)", 1)
    sys.exit(0)
