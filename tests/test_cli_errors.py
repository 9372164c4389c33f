"""Every error a user can cause is one line on stderr with the right exit status."""

from __future__ import annotations

import pytest

CASES = [
    (["sample", "--bogus"], 2),
    (["nosuchverb"], 2),
    (["sample", "--data-dir", "/nonexistent/dir"], 1),
    (["sample", "--data-dir", "{edge}", "-f", "2025-13-45"], 2),
    (["sample", "--data-dir", "{edge}", "-f", "2025-03-05", "-t", "2025-03-01"], 2),
    (["sample", "--data-dir", "{edge}", "--fmt=csv,nosuchfield"], 2),
    (["sample", "--data-dir", "{edge}", "-q", "Job = = 3"], 2),
    (["sample", "--data-dir", "{edge}", "--host", "a[1-"], 2),
    (["sample", "--data-dir", "{edge}", "-j", "seven"], 2),
    (["sample", "--data-dir", "{edge}", "--cache", "lots"], 2),
    (["sample"], 2),
    (["sample", "--data-dir", "{edge}", "--jobanalyzer-dir", "{tree}"], 2),
    (["sacct", "--jobanalyzer-dir", "{tree}"], 2),
    (["sacct", "--jobanalyzer-dir", "{tree}", "--cluster", "zeta"], 1),
    (["sacct", "--data-dir", "{edge}", "--min-runtime", "forever"], 2),
    (["sacct", "--data-dir", "{edge}", "--array", "--het"], 2),
    (["config", "--data-dir", "{edge}", "--config-file", "/nonexistent.json"], 1),
    (["sample", "--", "/nonexistent.csv"], 1),
    (["sample", "--", "{edge}/2025/03/03"], 1),
    (["cluster"], 2),
]


@pytest.mark.parametrize(("args", "code"), CASES)
def test_error_is_one_line_without_traceback(cli, tree, edge, args: list[str], code: int) -> None:
    argv = [a.format(edge=edge, tree=tree) for a in args]
    result = cli(argv)
    assert result.code == code
    assert result.err.startswith("sonalyze: error: ")
    assert result.err.count("\n") == 1 and "Traceback" not in result.err


def test_help_works_for_every_command(cli) -> None:
    from sonalyze.verbs import VERBS

    for verb in VERBS:
        result = cli([verb.name, "--help"])
        assert result.code == 0 and "--fmt" in result.out
