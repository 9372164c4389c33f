"""The six virtual tables over a monitoring data tree, and the store behind them.

`scan_sample`, `scan_sacct`, `scan_sysinfo`, `scan_partitions`,
`scan_config` and `scan_cluster` each return a LazyFrame with a fixed
schema; see `sonalyze.ingest.schemas` and the modules here.
"""
