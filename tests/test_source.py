"""File selection: day directories from the window, names from the host patterns."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonalyze.errors import DataSourceError
from sonalyze.tables.filekinds import kind_of
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.source import (
    FileListSource,
    JobanalyzerStore,
    SelectedFile,
    TreeSource,
    host_chunks,
)
from sonalyze.tables.window import make_window


def touch(root: Path, day: str, *names: str) -> None:
    d = root / day
    d.mkdir(parents=True, exist_ok=True)
    for n in names:
        (d / n).write_text("")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    touch(tmp_path, "2025/03/01", "c1.fox.csv", "c10.csv", "cpuhog.csv", "bughunt.csv",
          "slurm-sacct.csv", "sysinfo-c1.fox.json", "0+sample-c2.json", "0+sysinfo-c2.json",
          "0+job-slurm.json", "0+cluzter-slurm.json", "notes.txt")  # fmt: skip
    touch(tmp_path, "2025/03/02", "c1.fox.csv")
    touch(tmp_path, "2025/03/04", "c1.fox.csv")
    return tmp_path


def names(files) -> list[str]:
    return [f"{f.path.parent.name}/{f.path.name}" for f in files]


def test_each_table_claims_its_names_and_excludes_the_reference_exclusions(data: Path) -> None:
    src = TreeSource(data)
    w = make_window("2025-03-01", "2025-03-01")
    assert names(src.files("sample", w, HostFilter())) == [
        "01/0+sample-c2.json", "01/c1.fox.csv", "01/c10.csv"]  # fmt: skip
    assert names(src.files("sysinfo", w, HostFilter())) == [
        "01/0+sysinfo-c2.json", "01/sysinfo-c1.fox.json"]  # fmt: skip
    assert names(src.files("sacct", w, HostFilter())) == ["01/0+job-slurm.json",
                                                          "01/slurm-sacct.csv"]
    assert names(src.files("partitions", w, HostFilter())) == ["01/0+cluzter-slurm.json"]


def test_window_edges_select_day_directories(data: Path) -> None:
    src = TreeSource(data)
    w = make_window("2025-03-01T23:00:00Z", "2025-03-02T00:00:00Z")
    assert names(src.files("sample", w, HostFilter(), )) == [
        "01/0+sample-c2.json", "01/c1.fox.csv", "01/c10.csv", "02/c1.fox.csv"]  # fmt: skip
    assert names(src.files("sample", make_window("2025-03-03", "2025-03-03"), HostFilter())) == []


def test_host_patterns_prune_file_names(data: Path) -> None:
    src = TreeSource(data)
    w = make_window("2025-03-01", "2025-03-01")
    assert names(src.files("sample", w, HostFilter.parse(["c1"]))) == ["01/c1.fox.csv"]
    assert names(src.files("sample", w, HostFilter.parse(["c[1-2]"]))) == [
        "01/0+sample-c2.json", "01/c1.fox.csv"]  # fmt: skip


def test_file_list_reads_the_verbs_table_in_the_format_the_name_tells(data: Path) -> None:
    day = data / "2025/03/01"
    src = FileListSource((day / "notes.txt", day / "0+sample-c2.json", day / "slurm-sacct.csv"))
    parsers = [f.kind.parser.__name__ for f in src.files("sample", None, HostFilter())]
    assert parsers == ["parse_sample_csv", "parse_sample_json", "parse_sample_csv"]
    sacct = [f.kind.parser.__name__ for f in src.files("sacct", None, HostFilter())]
    assert sacct == ["parse_sacct_csv", "parse_job_json", "parse_sacct_csv"]
    with pytest.raises(DataSourceError, match="No such input file"):
        FileListSource((day / "missing.csv",))


def test_kind_of_known_and_unknown_names() -> None:
    assert kind_of("0+sample-x.json").table == "sample"
    assert kind_of("x.csv").table == "sample"
    assert kind_of("bughunt.csv") is None and kind_of("readme.md") is None


def test_jobanalyzer_store_resolves_aliases(tree: Path) -> None:
    store = JobanalyzerStore(tree)
    assert store.cluster_names() == ["alpha", "beta"]
    assert store.tree("a").cluster == "alpha"
    with pytest.raises(DataSourceError, match="Unknown cluster 'zeta'"):
        store.tree("zeta")


def test_host_chunks_keep_each_host_whole_and_runs_near_the_byte_limit(tmp_path) -> None:
    files = []
    for day in ("03", "04"):
        for host, size in (("c1", 60), ("a1", 30), ("b1", 30)):
            path = tmp_path / day / f"0+sample-{host}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(b"x" * size)
            files.append(SelectedFile(path, kind_of(path.name)))  # type: ignore[arg-type]
    runs = host_chunks(files, max_bytes=120)
    names = [[f"{f.path.parent.name}/{f.path.name}" for f in run] for run in runs]
    # a1 and b1 (60 bytes each over two days) share a run; c1 (120) has its own.
    assert names == [
        ["03/0+sample-a1.json", "04/0+sample-a1.json", "03/0+sample-b1.json", "04/0+sample-b1.json"],
        ["03/0+sample-c1.json", "04/0+sample-c1.json"],
    ]
    assert host_chunks(files, max_bytes=1) == [
        [f for f in files if f"-{h}." in f.path.name] for h in ("a1", "b1", "c1")]
    sacct = tmp_path / "03" / "0+job-slurm.json"
    sacct.write_bytes(b"x")
    mixed = [*files, SelectedFile(sacct, kind_of(sacct.name))]  # type: ignore[arg-type]
    assert host_chunks(mixed, max_bytes=1) == [mixed]
