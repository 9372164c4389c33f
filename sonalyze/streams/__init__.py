"""Sample streams: per-process time series rebuilt from the `sample` table,
and jobs synthesised from them, as the Go sonalyze's `data/sample` does.

`build` turns filtered samples into clean process streams (deduplicated
times, CPU utilisation between samples); `merge` folds streams into one
time series per job or per host.  Everything is Polars over whole frames;
the only loop is over merge steps of the rare groups whose own streams are
sampled less than ten seconds apart (see `merge.py`).
"""
