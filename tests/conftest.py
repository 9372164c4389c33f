"""Shared fixtures: the bundled trees and an in-process CLI runner."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sonalyze.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "testdata" / "tree"
EDGE = ROOT / "testdata" / "edge"


@dataclass
class Result:
    """What one CLI run printed and returned."""

    code: int
    out: str
    err: str


def run_cli(args: list[str]) -> Result:
    """Run `sonalyze ARGS` in this process, capturing stdout and stderr separately."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.stdout, sys.stderr = old
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def per_host_and_whole(monkeypatch):
    """Run a command reading all hosts at once, then one host at a time.

    Returns both results and how many runs of hosts the second one read.
    """
    import sonalyze.cli.samples as samples
    from sonalyze.tables.store import default_cache

    def run(argv: list) -> tuple[Result, Result, int]:
        monkeypatch.setattr(samples, "CHUNK_BYTES", 1 << 40)
        whole = run_cli(argv)
        runs: list[int] = []
        real = samples.scan_sample_run

        def counted(*args, **kwargs):
            runs.append(1)
            return real(*args, **kwargs)

        monkeypatch.setattr(samples, "scan_sample_run", counted)
        monkeypatch.setattr(samples, "CHUNK_BYTES", 1)
        default_cache().clear()
        per_host = run_cli(argv)
        monkeypatch.setattr(samples, "scan_sample_run", real)
        return whole, per_host, len(runs)

    return run


@pytest.fixture
def cli():
    """The in-process runner."""
    return run_cli


@pytest.fixture
def tree() -> Path:
    """The generated two-cluster store."""
    return TREE


@pytest.fixture
def edge() -> Path:
    """The hand-written edge-case tree (a --data-dir)."""
    return EDGE


@pytest.fixture(autouse=True)
def private_cache_dir(tmp_path, monkeypatch):
    """Every test gets its own persistent cache and an empty in-process one."""
    from sonalyze.tables.store import default_cache

    default_cache().clear()
    monkeypatch.setenv("SONALYZE_CACHE_DIR", str(tmp_path / "sonalyze-cache"))
    return tmp_path / "sonalyze-cache"
