"""`ingest SPOOL_DIR`: files added, then moved to done/ or rejected/; one run at a time."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from sonalyze.tables.add import Target
from sonalyze.tables.spool import LOCK_NAME, ingest_spool

LINE = "v=0.7.0,time=2025-03-03T10:00:00Z,host={h},user=u,cmd=c,job=1,pid={p}\n"


def spool_with(tmp_path: Path, files: dict[str, str | bytes], age: float = 60.0,
               spool: Path | None = None) -> Path:  # fmt: skip
    spool = spool or tmp_path / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = spool / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        old = time.time() - age
        os.utime(path, (old, old))
    return spool


def records_in(tree: Path) -> list[str]:
    return sorted(line for f in tree.rglob("*.csv") for line in f.read_text().splitlines())


def test_good_files_are_added_and_moved_to_done(tmp_path) -> None:
    spool = spool_with(tmp_path, {"a.csv": LINE.format(h="n1", p=1), "b.csv": LINE.format(h="n2", p=2)})
    run = ingest_spool(spool, Target.of(tmp_path / "tree", None, None))
    assert sorted(run.done) == ["a.csv", "b.csv"] and run.appended.written == 2
    assert sorted(p.name for p in (spool / "done").iterdir()) == ["a.csv", "b.csv"]
    assert [p.name for p in spool.iterdir() if p.is_file() and p.name != LOCK_NAME] == []
    assert len(records_in(tmp_path / "tree")) == 2


def test_a_file_with_a_bad_record_is_rejected_whole_with_its_reasons(tmp_path) -> None:
    bad = LINE.format(h="n1", p=1) + "v=0.7.0,time=never,host=n1,user=u,cmd=c\n"
    spool = spool_with(tmp_path, {"bad.csv": bad, "good.csv": LINE.format(h="n2", p=2)})
    run = ingest_spool(spool, Target.of(tmp_path / "tree", None, None))
    assert run.rejected == ["bad.csv"] and run.done == ["good.csv"]
    assert (spool / "rejected" / "bad.csv").read_text() == bad  # kept as it came
    assert (spool / "rejected" / "bad.csv.reason").read_text() == "2: bad value for time\n"
    assert records_in(tmp_path / "tree") == [LINE.format(h="n2", p=2).strip()]


def test_skip_invalid_adds_the_good_records_and_keeps_the_bad_ones(tmp_path) -> None:
    bad = LINE.format(h="n1", p=1) + "v=0.7.0,time=never,host=n1,user=u,cmd=c\n"
    spool = spool_with(tmp_path, {"bad.csv": bad})
    run = ingest_spool(spool, Target.of(tmp_path / "tree", None, None), skip_invalid=True)
    assert run.done == ["bad.csv"] and records_in(tmp_path / "tree") == [LINE.format(h="n1", p=1).strip()]
    (kept,) = [json.loads(x) for x in (spool / "rejected" / "bad.csv.rejected").read_text().splitlines()]
    assert kept["line"] == 2 and kept["record"] == "v=0.7.0,time=never,host=n1,user=u,cmd=c"


def test_files_being_written_are_left_for_the_next_run(tmp_path) -> None:
    spool = spool_with(tmp_path, {".x.csv": LINE.format(h="n1", p=1), "y.csv.tmp": LINE.format(h="n1", p=2),
                                  "z.part": LINE.format(h="n1", p=3)})  # fmt: skip
    (spool / "young.csv").write_text(LINE.format(h="n1", p=4))  # just written
    run = ingest_spool(spool, Target.of(tmp_path / "tree", None, None), min_age=30)
    assert run.done == [] and records_in(tmp_path / "tree") == []
    assert sorted(p.name for p in spool.iterdir() if p.is_file()) == [
        ".ingest.lock", ".x.csv", "y.csv.tmp", "young.csv", "z.part"]  # fmt: skip


def test_an_overlapping_run_does_nothing(tmp_path) -> None:
    spool = spool_with(tmp_path, {"a.csv": LINE.format(h="n1", p=1)})
    fd = os.open(spool / LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running ingest holds it
    try:
        run = ingest_spool(spool, Target.of(tmp_path / "tree", None, None))
    finally:
        os.close(fd)
    assert run.busy and (spool / "a.csv").exists()
    assert ingest_spool(spool, Target.of(tmp_path / "tree", None, None)).done == ["a.csv"]


def test_the_same_file_dropped_twice_is_stored_once_and_kept_twice(tmp_path) -> None:
    target = Target.of(tmp_path / "tree", None, None)
    spool = spool_with(tmp_path, {"a.csv": LINE.format(h="n1", p=1)})
    ingest_spool(spool, target)
    spool_with(tmp_path, {"a.csv": LINE.format(h="n1", p=1)})
    run = ingest_spool(spool, target)
    assert run.appended.written == 0 and run.appended.duplicates == 1
    assert sorted(p.name for p in (spool / "done").iterdir()) == ["a.csv", "a.csv.1"]
    assert records_in(tmp_path / "tree") == [LINE.format(h="n1", p=1).strip()]


def test_cli_exits_1_when_a_file_is_rejected(cli, tmp_path) -> None:
    spool = spool_with(tmp_path, {"bad.csv": "v=0.7.0,time=never,host=n1,user=u,cmd=c\n"})
    result = cli(["ingest", spool, "--data-dir", tmp_path / "tree", "-v"])
    assert result.code == 1
    assert "rejected bad.csv" in result.err and "0 file(s) done, 1 rejected" in result.err


# --- the shipped cron line and systemd units ------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "ingest.md"


def code_blocks(lang: str) -> list[str]:
    parts = DOC.read_text().split("```")
    return [p.removeprefix(lang).strip() for p in parts[1::2] if p.startswith(lang + "\n")]


def run_documented(cli, command: list[str], tmp_path: Path) -> None:
    """Run a documented `sonalyze ingest` line with its paths moved under tmp_path."""
    assert command[:2] in (["sonalyze", "ingest"], ["/usr/local/bin/sonalyze", "ingest"])
    args = [str(tmp_path / a.lstrip("/")) if a.startswith("/") else a for a in command[2:]]
    spool = spool_with(tmp_path, {"n1.csv": LINE.format(h="n1", p=1)}, spool=Path(args[0]))
    (Path(args[args.index("--jobanalyzer-dir") + 1]) / "data").mkdir(parents=True, exist_ok=True)
    args.insert(args.index("--jobanalyzer-dir"), "--cluster=c1")
    result = cli(["ingest", *args])
    assert result.code == 0, result.err
    assert [p.name for p in (spool / "done").iterdir()] == ["n1.csv"]


def test_the_documented_cron_line_runs(cli, tmp_path) -> None:
    (line,) = code_blocks("cron")
    fields = line.split()
    assert fields[:5] == ["*"] * 5  # every minute
    run_documented(cli, fields[5:], tmp_path)


def test_the_documented_systemd_units_fit_together_and_run(cli, tmp_path) -> None:
    import configparser

    service_text, timer_text = code_blocks("ini")
    service, timer = configparser.ConfigParser(), configparser.ConfigParser()
    service.optionxform = timer.optionxform = str  # type: ignore[assignment,method-assign]
    service.read_string(service_text)
    timer.read_string(timer_text)
    assert service["Service"]["Type"] == "oneshot"  # never two runs from the timer at once
    assert timer["Timer"]["Unit"] == "sonalyze-ingest.service"
    assert "sonalyze-ingest.service" in DOC.read_text() and "sonalyze-ingest.timer" in DOC.read_text()
    assert timer["Install"]["WantedBy"] == "timers.target"
    run_documented(cli, service["Service"]["ExecStart"].split(), tmp_path)
