"""Where data comes from: one cluster's dated tree, a Jobanalyzer store of many
clusters, or an explicit list of files -- and which files a query needs.

File selection never opens a data file: day directories are chosen from the
window, then base names are matched against the table's name schemes and
the `--host` patterns.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sonalyze.errors import DataSourceError
from sonalyze.tables.clusterconfig import ClusterConfig, read_aliases, read_cluster_config
from sonalyze.tables.filekinds import FileKind, kind_of, kinds_for
from sonalyze.tables.hostglob import HostFilter
from sonalyze.tables.window import Window


@dataclass(frozen=True)
class SelectedFile:
    """A data file chosen for a query, and its kind (hence its parser).

    `in_tree` files are written to by appenders, so an unterminated last line is
    a write in progress (or an interrupted one) and is not read; a file named on
    the command line is read to its last byte.
    """

    path: Path
    kind: FileKind
    in_tree: bool = True


def host_chunks(files: list[SelectedFile], max_bytes: int) -> list[list[SelectedFile]]:
    """The files in runs of whole hosts (by file name, hosts in sorted order), each run
    about `max_bytes` of files, for reading a few hosts at a time.

    Files not named after a host could hold any host's records: with any of
    them, all files make one run.
    """
    by_host: dict[str, list[SelectedFile]] = {}
    shared: list[SelectedFile] = []
    for f in files:
        host = f.kind.host_of(f.path.name)
        if host is None:
            shared.append(f)
        else:
            by_host.setdefault(host, []).append(f)
    runs: list[list[SelectedFile]] = []
    size = max_bytes
    for host in sorted(by_host):
        host_bytes = sum(_size(f.path) for f in by_host[host])
        if size + host_bytes > max_bytes and (not runs or size > 0):
            runs.append(list(shared))
            size = 0
        runs[-1].extend(by_host[host])
        size += host_bytes
    if shared or not runs:
        return [files]
    return runs


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _list_dir(path: Path) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.name for e in it if e.is_file(follow_symlinks=True))
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    except PermissionError:
        raise DataSourceError(f"Cannot read directory {path}: permission denied") from None


def _numbered(parent: Path, width: int, lo: int, hi: int) -> list[Path]:
    """Subdirectories named by a `width`-digit number in [lo, hi], sorted."""
    found = []
    for name in _list_entries(parent):
        if len(name) == width and name.isascii() and name.isdigit() and lo <= int(name) <= hi:
            if (parent / name).is_dir():
                found.append(parent / name)
    return found


def _list_entries(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except PermissionError:
        raise DataSourceError(f"Cannot read directory {path}: permission denied") from None


def _select(names: list[str], directory: Path, table: str, hosts: HostFilter) -> list[SelectedFile]:
    out: list[SelectedFile] = []
    kinds = kinds_for(table)
    regexes = {k: k.name_regex(hosts) for k in kinds}
    for name in names:
        for kind in kinds:
            if not kind.claims(name):
                continue
            rx = regexes[kind]
            if rx is None or rx.match(name):
                out.append(SelectedFile(directory / name, kind))
            break
    return out


@dataclass(frozen=True)
class TreeSource:
    """One cluster's `YYYY/MM/DD` tree (`--data-dir`), with an optional config."""

    data_dir: Path
    cluster: str | None = None
    config: ClusterConfig | None = None

    def __post_init__(self) -> None:
        if not self.data_dir.is_dir():
            raise DataSourceError(f"Data directory {self.data_dir} does not exist")

    def day_dirs(self, window: Window) -> list[Path]:
        """The existing day directories the window touches, oldest first.

        Lists what exists (years, then months, then days) rather than probing
        every date, so a window of centuries costs no more than the tree.
        """
        first, last = window.start.date(), window.end.date()
        dirs = []
        for year in _numbered(self.data_dir, 4, first.year, last.year):
            for month in _numbered(year, 2, 1, 12):
                for day in _numbered(month, 2, 1, 31):
                    stamp = (int(year.name), int(month.name), int(day.name))
                    if (first.year, first.month, first.day) <= stamp <= (
                        last.year, last.month, last.day):  # fmt: skip
                        dirs.append(day)
        return dirs

    def files(self, table: str, window: Window | None, hosts: HostFilter) -> list[SelectedFile]:
        """Files of `table` for the window and hosts, in date then name order."""
        if window is None:
            raise DataSourceError("A time window is required for a data directory")
        out: list[SelectedFile] = []
        for d in self.day_dirs(window):
            out.extend(_select(_list_dir(d), d, table, hosts))
        return out


@dataclass(frozen=True)
class FileListSource:
    """An explicit list of files (`-- FILE...`) holding the verb's table.

    As in the reference, the verb decides the table; the name decides only
    the format: `0+...` is the new JSON format, anything else the old one,
    so `parse -- mydump.txt` reads old-format samples.  Host patterns filter
    records, not these files.
    """

    paths: tuple[Path, ...]
    cluster: str | None = None
    config: ClusterConfig | None = None

    def __post_init__(self) -> None:
        for p in self.paths:
            if not p.is_file():
                raise DataSourceError(f"No such input file: {p}")

    def files(self, table: str, window: Window | None, hosts: HostFilter) -> list[SelectedFile]:
        """Every listed file, read with the table's parser for its format."""
        return [SelectedFile(p, _listed_kind(p.name, table), in_tree=False) for p in self.paths]


def _listed_kind(name: str, table: str) -> FileKind:
    named = kind_of(name)
    if named is not None and named.table == table:
        return named
    kinds = kinds_for(table)
    new = [k for k in kinds if k.prefix.startswith("0+")]
    old = [k for k in kinds if not k.prefix.startswith("0+")]
    return (new or old)[0] if name.startswith("0+") or not old else old[0]


@dataclass(frozen=True)
class JobanalyzerStore:
    """A Jobanalyzer directory: `data/<cluster>/...` and `cluster-config/`."""

    root: Path

    def __post_init__(self) -> None:
        if not self.root.is_dir():
            raise DataSourceError(f"Jobanalyzer directory {self.root} does not exist")

    @property
    def config_dir(self) -> Path:
        """Where `cluster-aliases.json` and `<cluster>-config.json` live."""
        return self.root / "cluster-config"

    def aliases(self) -> dict[str, str]:
        """Alias -> canonical cluster name, from `cluster-aliases.json`."""
        return read_aliases(self.config_dir / "cluster-aliases.json")

    def resolve(self, name: str) -> str:
        """The canonical name for `name`, which may be an alias."""
        canonical = self.aliases().get(name, name)
        if not canonical or canonical in (".", "..") or "/" in canonical or "\0" in canonical:
            raise DataSourceError(f"Invalid cluster name {name!r}")
        return canonical

    def cluster_names(self) -> list[str]:
        """Clusters with a data directory or a config file, sorted."""
        names: set[str] = set()
        data = self.root / "data"
        if data.is_dir():
            names.update(p.name for p in data.iterdir() if p.is_dir())
        if self.config_dir.is_dir():
            names.update(
                p.name.removesuffix("-config.json")
                for p in self.config_dir.iterdir()
                if p.name.endswith("-config.json")
            )
        return sorted(names)

    def config_for(self, cluster: str) -> ClusterConfig | None:
        """The cluster's config file, if there is one."""
        path = self.config_dir / f"{cluster}-config.json"
        return read_cluster_config(path) if path.is_file() else None

    def tree(self, cluster: str) -> TreeSource:
        """The data tree of one cluster (name or alias)."""
        canonical = self.resolve(cluster)
        data_dir = self.root / "data" / canonical
        if not data_dir.is_dir():
            known = ", ".join(self.cluster_names()) or "none"
            raise DataSourceError(f"Unknown cluster {cluster!r} (known: {known})")
        return TreeSource(data_dir, canonical, self.config_for(canonical))


DataSource = TreeSource | FileListSource
