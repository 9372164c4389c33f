"""sonalyze: columnar analytics over HPC monitoring data (Sonar, sysinfo, Slurm).

The importable library behind the `sonalyze` command.  Layers, lowest first:
`sonalyze.ingest` (bytes -> frames), `sonalyze.tables` (data store, cache,
`scan_<table>`), `sonalyze.verbs` (pure frame -> frame), `sonalyze.output`
(one formatter) and `sonalyze.cli` (Typer, I/O, exit codes).
"""

__version__ = "0.1.0"
