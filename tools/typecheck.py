"""Run mypy over the installed layout of the package (sonalyze with tables/ and ingest/ inside).

The repository keeps `tables/` and `ingest/` at the top and maps them into
`sonalyze` at install time, which mypy cannot follow; this stages the same
layout in a temporary directory and checks that.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    """Stage the package and run mypy on it; mypy's exit status is ours."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "sonalyze"
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "sonalyze", stage, ignore=ignore)
        shutil.copytree(ROOT / "tables", stage / "tables", ignore=ignore)
        shutil.copytree(ROOT / "ingest", stage / "ingest", ignore=ignore)
        cmd = [sys.executable, "-m", "mypy", "-p", "sonalyze", "--ignore-missing-imports",
               "--no-incremental"]  # fmt: skip
        return subprocess.run(cmd, cwd=tmp).returncode


if __name__ == "__main__":
    sys.exit(main())
