"""The persistent cache: never stale, extended on append, robust to damage and races."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sonalyze.ingest.sample_csv import parse_sample_csv
from sonalyze.tables.cache import FileCache
from sonalyze.tables.diskcache import DiskCache
from sonalyze.tables.filekinds import kind_of
from sonalyze.tables.loader import load_all
from sonalyze.tables.source import SelectedFile

LINE = "v=1,time=2025-01-01T00:00:{:02d}Z,host=h,user=u,cmd=c,pid={}\n"


def lines(*pids: int) -> str:
    return "".join(LINE.format(p % 60, p) for p in pids)


def pids(path: Path, disk: DiskCache) -> list[int]:
    """Read through a fresh in-process cache, as a new CLI process would."""
    (parsed,), _ = load_all([SelectedFile(path, kind_of(path.name))], FileCache(), disk)
    return parsed.frame["pid"].to_list()


@pytest.fixture
def disk(tmp_path: Path) -> DiskCache:
    return DiskCache(tmp_path / "cache")


def test_second_read_comes_from_disk(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(1, 2))
    assert pids(f, disk) == [1, 2] and disk.written == 1
    assert pids(f, disk) == [1, 2] and disk.hits == 1


def test_appended_file_parses_only_the_new_lines(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(1, 2))
    pids(f, disk)
    with f.open("a") as out:
        out.write(lines(3) + "v=1,time=bad,host=h,user=u,cmd=c\n")
    (parsed,), _ = load_all([SelectedFile(f, kind_of(f.name))], FileCache(), disk)
    assert parsed.frame["pid"].to_list() == [1, 2, 3] and disk.extended == 1
    assert [(p.line, p.reason) for p in parsed.problems] == [(4, "bad value for time")]


def test_rewritten_file_is_parsed_again(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(1, 2))
    pids(f, disk)
    f.write_text(lines(7, 8, 9))  # longer, but not an append: the head differs
    assert pids(f, disk) == [7, 8, 9]
    f.write_text(lines(5))  # shorter
    assert pids(f, disk) == [5]


def test_torn_last_line_is_not_cached(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    whole = lines(1, 2)
    f.write_text(whole + LINE.format(3, 3)[:25])
    first = load_all([SelectedFile(f, kind_of(f.name))], FileCache(), disk)[0][0]
    assert first.frame["pid"].to_list() == [1, 2] and first.soft_errors == 1
    f.write_text(whole + LINE.format(3, 3))  # the writer finished the line
    assert pids(f, disk) == [1, 2, 3]


def _flip_last_byte(raw: bytes) -> bytes:
    # Inside the last frame's data: it may still decode, to wrong values.
    return raw[:-9] + bytes([raw[-9] ^ 0x01]) + raw[-8:]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flipped"])
def test_damaged_entry_is_ignored_and_rebuilt(tmp_path: Path, disk: DiskCache, damage: str
                                              ) -> None:  # fmt: skip
    f = tmp_path / "h.csv"
    f.write_text(lines(1, 2, 3))
    pids(f, disk)
    (entry,) = [p for p in (tmp_path / "cache").rglob("*.arrow")]
    raw = entry.read_bytes()
    entry.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"\x00junk" * 50,
                       "empty": b"", "flipped": _flip_last_byte(raw)}[damage])  # fmt: skip
    assert pids(f, disk) == [1, 2, 3]
    assert pids(f, disk) == [1, 2, 3] and disk.hits == 1  # rebuilt, then used


def test_budget_drops_least_recently_used(tmp_path: Path) -> None:
    disk = DiskCache(tmp_path / "cache", budget=1)
    for i in range(3):
        f = tmp_path / f"h{i}.csv"
        f.write_text(lines(i))
        pids(f, disk)
    assert disk.usage()[0] <= 1


def test_many_small_rounds_of_writing_stay_near_the_budget(tmp_path: Path) -> None:
    # A query reading a few hosts at a time writes entries round after round; the
    # eviction pass runs after the first round and then every budget/64 bytes.
    probe = DiskCache(tmp_path / "probe")
    f = tmp_path / "h0.csv"
    f.write_text(lines(*range(50)))
    pids(f, probe)
    entry_bytes = probe.usage()[1]
    budget = entry_bytes * 64  # about 64 entries
    disk = DiskCache(tmp_path / "cache", budget=budget)
    for i in range(160):
        f = tmp_path / f"h{i}.csv"
        f.write_text(lines(*range(50)))
        pids(f, disk)
        assert disk.usage()[1] <= budget + budget // 64 + entry_bytes
    assert disk.written == 160 and disk.usage()[0] >= 60
    # A process's first write is checked at once, however small: here an earlier
    # process with a larger budget left 70 entries.
    roomy = DiskCache(tmp_path / "second", budget=entry_bytes * 1000)
    for i in range(70):
        pids(tmp_path / f"h{i}.csv", roomy)
    assert roomy.usage()[0] == 70
    tight = DiskCache(tmp_path / "second", budget=budget)
    f = tmp_path / "late.csv"
    f.write_text(lines(1))
    pids(f, tight)
    assert tight.usage()[1] <= budget


def test_clear_removes_everything(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(1))
    pids(f, disk)
    assert disk.clear() == 1 and disk.usage() == (0, 0)


def test_two_processes_filling_the_cache_at_once_leave_it_valid(tmp_path: Path, tree) -> None:
    cache = tmp_path / "shared"
    env = {**os.environ, "SONALYZE_CACHE_DIR": str(cache)}
    args = [sys.executable, "-m", "sonalyze", "sample", "--jobanalyzer-dir", str(tree),
            "--cluster", "alpha", "-f", "2025-03-03", "-t", "2025-03-05", "--fmt=csv,pid,cpu%"]
    procs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(3)]  # fmt: skip
    outs = [p.communicate()[0] for p in procs]
    assert all(p.returncode == 0 for p in procs) and outs[0] == outs[1] == outs[2]
    again = subprocess.run(args, env=env, capture_output=True, check=True).stdout
    assert again == outs[0]
    no_cache = subprocess.run(args, env={**env, "SONALYZE_CACHE_DIR": "off"},
                              capture_output=True, check=True).stdout  # fmt: skip
    assert no_cache == outs[0]
    assert not list(cache.rglob(".tmp-*"))


def test_cache_commands(cli, tree, private_cache_dir) -> None:
    cli(["node", "--jobanalyzer-dir", tree, "--cluster", "beta", "-f", "2025-03-03"])
    stats = cli(["cache", "stats"]).out
    assert f"directory: {private_cache_dir}" in stats and "entries: 0" not in stats
    assert cli(["cache", "clear"]).out.startswith("removed ")
    assert "entries: 0" in cli(["cache", "stats"]).out


def test_parse_is_the_same_with_and_without_the_cache(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(*range(100)))
    assert pids(f, disk) == parse_sample_csv(f.read_bytes()).frame["pid"].to_list()


def test_entries_of_another_version_are_not_used(tmp_path: Path, disk: DiskCache,
                                                 monkeypatch) -> None:  # fmt: skip
    f = tmp_path / "h.csv"
    f.write_text(lines(1))
    pids(f, disk)
    import sonalyze.tables.diskcache as dc

    monkeypatch.setattr(dc, "code_tag", lambda: "another version")
    assert pids(f, disk) == [1] and disk.hits == 0


def test_same_size_rewrite_is_parsed_again(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(1, 2, 3))
    pids(f, disk)
    text = f.read_text().replace("pid=2", "pid=7")
    os.utime(f, ns=(1, 1))
    f.write_text(text)  # same length, new content, new mtime
    assert pids(f, disk) == [1, 7, 3]


def test_old_sysinfo_is_parsed_each_time_and_samples_are_kept(tmp_path: Path,
                                                             disk: DiskCache) -> None:  # fmt: skip
    # A small sysinfo document parses faster than its cache entry decodes.
    day = tmp_path / "2025" / "01" / "01"
    day.mkdir(parents=True)
    info = day / "sysinfo-h.json"
    info.write_text('{"timestamp":"2025-01-01T00:00:00Z","hostname":"h","cpu_cores":8,'
                    '"mem_gb":16}\n')  # fmt: skip
    sample = day / "h.csv"
    sample.write_text(lines(1, 2))
    files = [SelectedFile(p, kind_of(p.name)) for p in (info, sample)]
    (first_info, _), _ = load_all(files, FileCache(), disk)
    (again_info, again_sample), _ = load_all(files, FileCache(), disk)
    assert again_sample.frame["pid"].to_list() == [1, 2] and disk.hits == 1
    assert again_info.frame["memory_kib"].to_list() == first_info.frame["memory_kib"].to_list() == [16 << 20]
    assert disk.usage()[0] == 1  # the sample file's entry only


def test_node_frames_of_new_samples_come_back_from_disk_on_request(tree, disk: DiskCache) -> None:
    f = tree / "data" / "beta" / "2025" / "03" / "03" / "0+sample-b-cpu2.json"
    files = [SelectedFile(f, kind_of(f.name))]
    (fresh,), _ = load_all(files, FileCache(), disk)
    (cached,), _ = load_all(files, FileCache(), disk)
    assert disk.hits == 1
    assert sorted(cached.extra) == sorted(fresh.extra) == ["gpu", "node"]
    assert cached.extra["node"]["used_memory_kib"].to_list() == fresh.extra["node"][
        "used_memory_kib"].to_list()
    assert cached.extra["node"].height == 96  # a day of 15-minute node samples
    assert cached.frame.equals(fresh.frame)


def test_one_entry_serves_a_file_by_any_path(tmp_path: Path, disk: DiskCache) -> None:
    real = tmp_path / "real"
    real.mkdir()
    f = real / "h.csv"
    f.write_text(lines(1, 2))
    (tmp_path / "via-dir").symlink_to(real)
    (tmp_path / "link.csv").symlink_to(f)
    assert pids(f, disk) == [1, 2]
    assert pids(tmp_path / "via-dir" / "h.csv", disk) == [1, 2]
    assert pids(tmp_path / "link.csv", disk) == [1, 2]
    assert disk.hits == 2 and len(list((tmp_path / "cache").rglob("*.arrow"))) == 1


def test_an_entry_decoded_for_some_columns_is_extended_with_all(tmp_path: Path,
                                                                disk: DiskCache) -> None:  # fmt: skip
    f = tmp_path / "h.csv"
    f.write_text(lines(1, 2))
    pids(f, disk)
    selected = [SelectedFile(f, kind_of(f.name))]
    (narrow,), _ = load_all(selected, None, disk, ("host", "pid"))
    assert narrow.frame.columns == ["host", "pid"] and narrow.frame["pid"].to_list() == [1, 2]
    with f.open("a") as out:
        out.write(lines(3))
    (grown,), _ = load_all(selected, None, disk, ("host", "pid"))
    assert grown.frame["pid"].to_list() == [1, 2, 3] and disk.extended == 1
    # The saved extension holds every column, for every record.
    (whole,), _ = load_all(selected, FileCache(), disk)
    assert whole.frame.width == parse_sample_csv(f.read_bytes()).frame.width
    assert whole.frame["user"].to_list() == ["u"] * 3 and disk.hits == 2


def test_a_column_an_entry_lacks_decodes_it_whole(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(1))
    pids(f, disk)
    (parsed,), _ = load_all([SelectedFile(f, kind_of(f.name))], None, disk, ("pid", "no such"))
    assert parsed.frame["pid"].to_list() == [1] and "user" in parsed.frame.columns
    assert pids(f, disk) == [1] and disk.hits == 2  # the entry was not taken for damage


def test_a_used_entry_is_marked_used_unless_marked_lately(tmp_path: Path, disk: DiskCache) -> None:
    f = tmp_path / "h.csv"
    f.write_text(lines(1))
    pids(f, disk)
    (entry,) = (tmp_path / "cache").rglob("*.arrow")
    os.utime(entry, ns=(1, 1))  # used long ago: eviction would drop it first
    pids(f, disk)
    assert entry.stat().st_mtime_ns > 1
    lately = entry.stat().st_mtime_ns - 1_000_000_000  # a second ago: left as it is
    os.utime(entry, ns=(lately, lately))
    pids(f, disk)
    assert entry.stat().st_mtime_ns == lately


@pytest.mark.parametrize("verb", [["jobs", "-u", "-"], ["load", "--fmt=csv,host,time,cpu,mem"]])
def test_views_read_from_the_cache_for_a_few_columns_print_what_a_parse_gives(
        cli, tree, verb, monkeypatch) -> None:  # fmt: skip
    from sonalyze.tables.store import default_cache

    argv = [*verb, "--jobanalyzer-dir", tree, "--cluster", "alpha", "-f", "2025-03-03",
            "-t", "2025-03-05"]  # fmt: skip
    parsed = cli(argv).out
    default_cache().clear()
    narrow = []
    real = DiskCache.load

    def load(self, path, parser, columns=None):
        entry = real(self, path, parser, columns)
        narrow.append(entry is not None and entry.columns is not None)
        return entry

    monkeypatch.setattr(DiskCache, "load", load)
    decoded = cli(argv).out  # every sample file's entry, decoded for the columns used
    assert decoded == parsed and len(parsed.splitlines()) > 10
    assert narrow.count(True) >= 9  # 3 days of 3+ hosts' sample files
