"""Refused records set aside as JSON lines: input, line, reason and the record itself.

One object per record: `{"input", "line", "reason", "record"}`, or
`record_base64` instead of `record` when its bytes are not UTF-8, so that
nothing is lost and a fixed record can be added again.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from sonalyze.ingest.records import Rejected


def reject_line(source: str, rejected: Rejected) -> str:
    """One refused record as a JSON line."""
    item: dict[str, object] = {"input": source, "line": rejected.line, "reason": rejected.reason}
    try:
        item["record"] = rejected.raw.decode("utf-8")
    except UnicodeDecodeError:
        item["record_base64"] = base64.b64encode(rejected.raw).decode()
    return json.dumps(item, ensure_ascii=False) + "\n"


def write_rejects(path: Path, items: list[tuple[str, Rejected]]) -> None:
    """Append the refused records to `path` (created 0644)."""
    if not items:
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(reject_line(s, r) for s, r in items))
