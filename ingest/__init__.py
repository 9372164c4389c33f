"""Parsers from raw Sonar/Slurm bytes to Polars frames.

Every parser is `parse_<format>(data: bytes) -> Parsed`: a frame with the
table's declared columns plus the soft errors it skipped.  Parsers never
raise on bad records; they count them, with a line number and a reason.
"""

from sonalyze.ingest.parsed import Parsed, Problem

__all__ = ["Parsed", "Problem"]
