"""`add` and the appender: routing, all-or-nothing, idempotence, safety, torn lines,
concurrent writers and readers."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sonalyze.ingest.records import classify
from sonalyze.tables.add import Target, commit, prepare
from sonalyze.tables.cache import FileCache
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.loader import load_all
from sonalyze.tables.source import FileListSource, TreeSource
from sonalyze.tables.store import Store
from sonalyze.tables.window import make_window

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "v=0.7.0,time={t},host={h},user=bob,cmd=sim,job=7,pid={p},cpu%=12.5,cputime_sec={p}"
NOW = datetime(2025, 3, 10, tzinfo=UTC)


def sample_lines(host: str, pids: range, t: str = "2025-03-03T10:00:00Z") -> str:
    return "".join(SAMPLE.format(t=t, h=host, p=p) + "\n" for p in pids)


def add_text(tmp: Path, text: str | bytes, **kw) -> tuple[int, int]:
    """Prepare and commit one input into tmp/tree; (written, duplicates)."""
    data = text.encode() if isinstance(text, str) else text
    target = Target.of(tmp / "tree", None, None)
    prepared = prepare([("in", data)], target, now=NOW, **kw)
    assert prepared.rejected == []
    result = commit(prepared, target)
    return result.written, result.duplicates


def tree_files(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


# --- routing and round trip ------------------------------------------------------------


@pytest.mark.parametrize("cluster", ["alpha", "beta"])
def test_adding_every_file_of_a_tree_rebuilds_it_byte_for_byte(cli, tree, tmp_path, cluster) -> None:
    source = tree / "data" / cluster
    files = sorted(p for p in source.rglob("*") if p.is_file())
    result = cli(["add", "--data-dir", tmp_path / cluster, "-v", *files])
    assert result.code == 0, result.err
    assert tree_files(tmp_path / cluster) == tree_files(source)
    again = cli(["add", "--data-dir", tmp_path / cluster, "-v", *files])
    assert again.code == 0 and "added 0 record(s)" in again.err
    assert tree_files(tmp_path / cluster) == tree_files(source)


def test_records_go_to_their_own_utc_day_and_host(tmp_path) -> None:
    text = (SAMPLE.format(t="2025-03-04T00:30:00+01:00", h="n1", p=1) + "\n"
            + SAMPLE.format(t="2025-03-04T00:30:00Z", h="n2", p=2) + "\n")  # fmt: skip
    assert add_text(tmp_path, text) == (2, 0)
    files = tree_files(tmp_path / "tree")
    assert sorted(files) == ["2025/03/03/n1.csv", "2025/03/04/n2.csv"]


def test_old_job_records_are_filed_by_end_and_running_ones_by_start(tmp_path) -> None:
    text = ("v=0.1.0,JobID=12,JobIDRaw=12,User=u,State=COMPLETED,Start=2025-03-02T10:00:00Z,"
            "End=2025-03-03T01:00:00Z\n"
            "v=0.1.0,JobID=13,JobIDRaw=13,User=u,State=RUNNING,Start=2025-03-02T10:00:00Z,"
            "End=Unknown\n")  # fmt: skip
    assert add_text(tmp_path, text) == (2, 0)
    files = tree_files(tmp_path / "tree")
    assert [k for k in files] == ["2025/03/02/slurm-sacct.csv", "2025/03/03/slurm-sacct.csv"]
    assert b"JobID=13" in files["2025/03/02/slurm-sacct.csv"]


def test_new_format_records_go_to_their_cluster_in_a_jobanalyzer_store(tree, tmp_path, cli) -> None:
    store = tmp_path / "ja"
    (store / "cluster-config").mkdir(parents=True)
    (store / "cluster-config" / "cluster-aliases.json").write_text('[{"alias":"b","value":"beta"}]')
    line = next((tree / "data" / "beta").rglob("0+sample-*.json")).read_text().splitlines()[0]
    other = line.replace('"cluster":"beta"', '"cluster":"b"')
    assert other != line
    inp = tmp_path / "in.json"
    inp.write_text(other + "\n")
    assert cli(["add", "--jobanalyzer-dir", store, inp]).code == 0
    assert [p.name for p in (store / "data" / "beta").rglob("*.json")] != []
    old = tmp_path / "old.csv"
    old.write_text(sample_lines("n1", range(1, 2)))
    refused = cli(["add", "--jobanalyzer-dir", store, old])
    assert refused.code == 1 and "names no cluster: give --cluster" in refused.err
    wrong = cli(["add", "--jobanalyzer-dir", store, "--cluster", "alpha", inp])
    assert wrong.code == 1 and "a record of cluster b, not alpha" in wrong.err


def test_sysinfo_objects_spanning_lines_are_added_once(tmp_path) -> None:
    obj = {"version": "0.9.0", "timestamp": "2025-03-03T00:01:00Z", "hostname": "n1",
           "description": "2x8 (hyperthreaded) Intel, 64 GB", "cpu_cores": 32, "mem_gb": 64}
    pretty = json.dumps(obj, indent=2) + "\n"
    assert add_text(tmp_path, pretty) == (1, 0)
    compact = json.dumps(obj) + "\n"  # the same record, written differently
    assert add_text(tmp_path, compact) == (0, 1)
    (name,) = tree_files(tmp_path / "tree")
    assert name == "2025/03/03/sysinfo-n1.json"


def test_sonar_error_reports_are_reported_not_stored(tmp_path, cli) -> None:
    report = {"meta": {"producer": "sonar", "version": "0.16.0"},
              "errors": [{"time": "2025-03-03T10:00:00Z", "detail": "sacct failed",
                          "cluster": "beta", "node": "n1"}]}  # fmt: skip
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps(report) + "\n")
    result = cli(["add", "--data-dir", tmp_path / "tree", inp])
    assert result.code == 0
    assert "in.json:1: Sonar reported an error: sacct failed (not stored)" in result.err
    assert tree_files(tmp_path / "tree") == {}


# --- validation: all or nothing ---------------------------------------------------------


def test_one_bad_record_means_nothing_is_written(cli, tmp_path) -> None:
    inp = tmp_path / "in.csv"
    inp.write_text(sample_lines("n1", range(1, 4)) + "v=0.7.0,time=yesterday,host=n1,user=u,cmd=c\n")
    result = cli(["add", "--data-dir", tmp_path / "tree", inp])
    assert result.code == 1
    assert f"{inp}:4: bad value for time" in result.err
    assert "nothing added: 1 invalid record(s)" in result.err
    assert tree_files(tmp_path / "tree") == {}


def test_skip_invalid_adds_the_rest_and_sets_the_bad_aside_with_reasons(cli, tmp_path) -> None:
    inp = tmp_path / "in.csv"
    bad_utf8 = b"v=0.7.0,time=2025-03-03T10:00:00Z,host=n1,user=\xff,cmd=c\n"
    inp.write_bytes(sample_lines("n1", range(1, 3)).encode() + bad_utf8
                    + b"v=0.7.0,time=2025-03-03T10:00:00Z,host=n/1,user=u,cmd=c\n")  # fmt: skip
    result = cli(["add", "--data-dir", tmp_path / "tree", "--skip-invalid", inp])
    assert result.code == 0, result.err
    assert tree_files(tmp_path / "tree")["2025/03/03/n1.csv"] == sample_lines("n1", range(1, 3)).encode()
    rejects = [json.loads(x) for x in (tmp_path / "in.csv.rejected").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(3, "invalid UTF-8"),
                                                          (4, "unsafe host name n/1")]
    assert rejects[0]["record_base64"] and rejects[1]["record"].endswith("host=n/1,user=u,cmd=c")


def test_stdin_with_skip_invalid_needs_a_rejects_file(cli, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"garbage\n")))
    result = cli(["add", "--data-dir", tmp_path / "tree", "--skip-invalid"])
    assert result.code == 2 and "needs --rejects FILE" in result.err


def test_stdin_is_read_when_no_file_is_given(cli, tmp_path, monkeypatch) -> None:
    data = sample_lines("n1", range(1, 6)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert cli(["add", "--data-dir", tmp_path / "tree", "--sample"]).code == 0
    assert tree_files(tmp_path / "tree") == {"2025/03/03/n1.csv": data}


@pytest.mark.parametrize(
    ("host", "reason"),
    [("../etc", "unsafe host name"), ("a/b", "unsafe host name"), (".hidden", "unsafe host name"),
     ("a\x01b", "unsafe host name"), ("-rf", "unsafe host name"), ("", "missing host"),
     ("cpuhog", "another table uses"), ("sysinfo-x", "another table uses")],
)  # fmt: skip
def test_hostile_host_names_are_refused(tmp_path, host, reason) -> None:
    line = SAMPLE.format(t="2025-03-03T10:00:00Z", h=host, p=1) + "\n"
    target = Target.of(tmp_path / "tree", None, None)
    prepared = prepare([("in", line.encode())], target, now=NOW)
    assert len(prepared.rejected) == 1 and reason in prepared.rejected[0][1].reason
    assert prepared.records == 0


def test_nul_in_a_new_format_node_name_is_refused(tmp_path) -> None:
    env = {"meta": {"producer": "sonar", "version": "0.16.0"},
           "data": {"type": "sample", "attributes": {"time": "2025-03-03T10:00:00Z",
                    "cluster": "c", "node": "n\u0000../../x", "jobs": []}}}  # fmt: skip
    records = classify((json.dumps(env) + "\n").encode(), now=NOW)
    assert records.frame.height == 0 and "unsafe host name" in records.rejected[0].reason


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [("2099-01-01T00:00:00Z", "in the future"), ("1999-12-31T23:59:59Z", "before 2000")],
)
def test_absurd_times_are_refused(stamp, reason) -> None:
    records = classify((SAMPLE.format(t=stamp, h="n1", p=1) + "\n").encode(), now=NOW)
    assert records.frame.height == 0 and reason in records.rejected[0].reason


def test_type_option_refuses_other_records(tree) -> None:
    sacct = next((tree / "data" / "alpha").rglob("slurm-sacct.csv")).read_bytes()
    records = classify(sacct, expect="sample", now=NOW)
    assert records.frame.height == 0
    assert records.rejected[0].reason == "a job record, but --sample was given"


# --- safety --------------------------------------------------------------------------------


def test_files_are_0644_and_directories_0755_whatever_the_umask(tmp_path) -> None:
    old = os.umask(0o077)
    try:
        add_text(tmp_path, sample_lines("n1", range(1, 2)))
    finally:
        os.umask(old)
    assert oct((tmp_path / "tree/2025/03/03/n1.csv").stat().st_mode & 0o777) == "0o644"
    for d in ("2025", "2025/03", "2025/03/03"):
        assert oct((tmp_path / "tree" / d).stat().st_mode & 0o777) == "0o755"


@pytest.mark.parametrize("link", ["2025", "2025/03/03", "2025/03/03/n1.csv"])
def test_symlinks_in_the_tree_are_not_followed(tmp_path, link) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "tree" / link).parent.mkdir(parents=True, exist_ok=True)
    target_path = elsewhere / "n1.csv" if link.endswith(".csv") else elsewhere
    (tmp_path / "tree" / link).symlink_to(target_path)
    target = Target.of(tmp_path / "tree", None, None)
    prepared = prepare([("in", sample_lines("n1", range(1, 2)).encode())], target, now=NOW)
    from sonalyze.errors import DataSourceError

    with pytest.raises(DataSourceError, match="symlink"):
        commit(prepared, target)
    assert list(elsewhere.iterdir()) == []


# --- torn lines: readers skip them, the next append repairs them ------------------------------


def read_pids(path: Path, in_tree: bool) -> tuple[list[int], int]:
    source = TreeSource(path.parents[3]) if in_tree else FileListSource((path,))
    window = make_window("2025-03-03", "2025-03-03", now=NOW)
    (selected,) = source.files("sample", window, HostFilter.parse(None))
    (parsed,), _ = load_all([selected], FileCache(), None)
    return parsed.frame["pid"].to_list(), parsed.soft_errors


def test_unterminated_last_line_is_skipped_in_a_tree_and_repaired_by_the_next_append(tmp_path) -> None:
    add_text(tmp_path, sample_lines("n1", range(1, 3)))
    f = tmp_path / "tree/2025/03/03/n1.csv"
    whole = f.read_bytes()
    line = SAMPLE.format(t="2025-03-03T10:00:00Z", h="n1", p=31)
    torn = line[: line.index(",cpu%")][:-1]  # pid=31 torn to pid=3: still a valid record
    f.write_bytes(whole + torn.encode())
    assert read_pids(f, in_tree=True) == ([1, 2], 1)  # never the wrong pid 3
    assert read_pids(f, in_tree=False)[0] == [1, 2, 3]  # a named file is read to its end
    assert add_text(tmp_path, sample_lines("n1", range(30, 32))) == (2, 0)
    assert f.read_bytes() == whole + sample_lines("n1", range(30, 32)).encode()
    assert read_pids(f, in_tree=True) == ([1, 2, 30, 31], 0)


def test_in_process_cache_sees_an_append(tmp_path) -> None:
    add_text(tmp_path, sample_lines("n1", range(1, 3)))
    store = Store(TreeSource(tmp_path / "tree"), FileCache(), None)
    window = make_window("2025-03-03", "2025-03-03", now=NOW)
    from sonalyze.tables.scans import scan_sample

    assert scan_sample(store, window).collect()["pid"].to_list() == [1, 2]
    add_text(tmp_path, sample_lines("n1", range(3, 4)))
    assert scan_sample(store, window).collect()["pid"].to_list() == [1, 2, 3]


# --- concurrency --------------------------------------------------------------------------------

WRITER = """
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from sonalyze.tables.add import Target, commit, prepare
tree, writer, batches = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
line = "v=0.7.0,time=2025-03-03T10:00:00Z,host={h},user=u,cmd=c,job=1,pid={p}"
target = Target.of(tree, None, None)
now = datetime(2025, 3, 10, tzinfo=UTC)
for b in range(batches):
    pids = [writer * 100000 + b * 10 + k for k in range(3)]
    text = "".join(line.format(h=f"n{p % 2}", p=p) + "\\n" for p in pids)
    if b:  # a record of the previous batch again: must not be stored twice
        text += line.format(h=f"n{(pids[0] - 10) % 2}", p=pids[0] - 10) + "\\n"
    commit(prepare([("w", text.encode())], target, now=now), target)
    if b + 1 == int(os.environ.get("ANNOUNCE_AFTER", "0")):
        print("written", flush=True)  # the killing test waits for this, not for a clock
"""

READER = """
import sys
from pathlib import Path
from sonalyze.ingest.sample_csv import parse_sample_csv
tree, writers, batches = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
valid = {w * 100000 + b * 10 + k for w in range(writers) for b in range(batches) for k in range(3)}
reads = 0
while not (tree / "stop").exists():
    for f in (tree / "2025/03/03").glob("n*.csv") if (tree / "2025/03/03").exists() else []:
        data = f.read_bytes()
        whole = data[: data.rfind(b"\\n") + 1]  # what a tree reader reads
        parsed = parse_sample_csv(whole)
        assert parsed.problems == (), parsed.problems[:3]
        assert set(parsed.frame["pid"].to_list()) <= valid
        reads += 1
print(reads)
"""


def test_concurrent_writers_and_readers_store_each_record_exactly_once(tmp_path) -> None:
    writers, batches = 8, 100  # bench/append.py runs 8 x 1,000
    tree = tmp_path / "tree"
    tree.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    reader = subprocess.Popen([sys.executable, "-c", READER, tree, str(writers), str(batches)],
                              stdout=subprocess.PIPE, text=True, env=env)  # fmt: skip
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, tree, str(w), str(batches)], env=env)
             for w in range(writers)]  # fmt: skip
    assert [p.wait(timeout=600) for p in procs] == [0] * writers
    (tree / "stop").touch()
    reads, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0 and int(reads) > 0
    stored = []
    for f in (tree / "2025/03/03").glob("n*.csv"):
        data = f.read_bytes()
        assert data.endswith(b"\n")
        stored += [int(x.split(",pid=")[1]) for x in data.decode().splitlines()]
    expected = [w * 100000 + b * 10 + k for w in range(writers) for b in range(batches) for k in range(3)]
    assert sorted(stored) == sorted(expected)  # every record once: none lost, none doubled


def test_a_killed_writer_loses_only_its_unfinished_batch_and_a_rerun_completes_it(tmp_path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    env = dict(os.environ, PYTHONPATH=str(ROOT), ANNOUNCE_AFTER="30")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, tree, "1", "100000"], env=env,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    f = tree / "2025/03/03/n0.csv"
    assert writer.stdout is not None and writer.stdout.readline() == "written\n"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    survivors = [int(x.split(",pid=")[1]) for x in
                 f.read_bytes()[: f.read_bytes().rfind(b"\n") + 1].decode().splitlines()]  # fmt: skip
    assert survivors and len(survivors) == len(set(survivors))
    # Re-run the batches up to and past the one that was killed: nothing doubles.
    last = max(survivors) % 100000 // 10
    script = WRITER.replace("for b in range(batches):", f"for b in range({last + 2}):")
    subprocess.run([sys.executable, "-c", script, tree, "1", "0"], env=env, check=True)
    final = []
    for g in (tree / "2025/03/03").glob("n*.csv"):
        assert g.read_bytes().endswith(b"\n")
        final += [int(x.split(",pid=")[1]) for x in g.read_text().splitlines()]
    expected = [100000 + b * 10 + k for b in range(last + 2) for k in range(3)]
    assert sorted(final) == expected


def test_binary_garbage_is_refused_line_by_line_and_creates_nothing(cli, tmp_path) -> None:
    inp = tmp_path / "core.gz"
    inp.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xfe\n\x00\x01\x02garbage\n")
    result = cli(["add", "--data-dir", tmp_path / "tree", inp])
    assert result.code == 1
    assert f"{inp}:1: invalid UTF-8" in result.err and f"{inp}:2: " in result.err
    assert not (tmp_path / "tree").exists()  # a refused batch leaves no trace


def test_empty_input_adds_nothing_and_succeeds(cli, tmp_path) -> None:
    inp = tmp_path / "empty.csv"
    inp.write_bytes(b"\n\n")
    result = cli(["add", "--data-dir", tmp_path / "tree", "-v", inp])
    assert result.code == 0 and "added 0 record(s)" in result.err


def test_inputs_larger_than_a_chunk_are_still_all_or_nothing(cli, tmp_path, monkeypatch) -> None:
    import sonalyze.tables.add as add_module

    monkeypatch.setattr(add_module, "CHUNK_BYTES", 100)  # every input its own chunk
    calls = []
    real_prepare = add_module.prepare
    monkeypatch.setattr(add_module, "prepare", lambda inputs, *a: calls.append(len(inputs))
                        or real_prepare(inputs, *a))  # fmt: skip
    good = [tmp_path / f"g{i}.csv" for i in range(3)]
    for i, g in enumerate(good):
        g.write_text(sample_lines(f"n{i}", range(1, 3)))
    bad = tmp_path / "z.csv"
    bad.write_text("v=0.7.0,time=never,host=n9,user=u,cmd=c\n")
    refused = cli(["add", "--data-dir", tmp_path / "tree", *good, bad])
    assert refused.code == 1 and not (tmp_path / "tree").exists()  # the last chunk failed: none written
    assert calls == [1, 1, 1, 1]  # checked one at a time, never appended
    calls.clear()
    assert cli(["add", "--data-dir", tmp_path / "tree", *good]).code == 0
    assert calls == [1, 1, 1] * 2  # a checking pass, then an appending pass
    assert sorted(tree_files(tmp_path / "tree")) == [f"2025/03/03/n{i}.csv" for i in range(3)]


def test_a_failed_write_is_one_clear_error(cli, tmp_path, monkeypatch) -> None:
    import errno

    import sonalyze.tables.append as append_module

    def full(fd: int, payload: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(append_module, "_write_all", full)
    inp = tmp_path / "in.csv"
    inp.write_text(sample_lines("n1", range(1, 2)))
    result = cli(["add", "--data-dir", tmp_path / "tree", inp])
    assert result.code == 1
    assert result.err == (f"sonalyze: error: Cannot append to {tmp_path / 'tree'}/2025/03/03/n1.csv: "
                          "No space left on device\n")  # fmt: skip
