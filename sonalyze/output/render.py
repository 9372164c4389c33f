"""Rendering a frame of formatted text columns as fixed, csv, csvnamed, json or awk.

Shapes are the Go sonalyze's, byte for byte: fixed pads every column to its
widest cell plus two spaces and trims each line; csv quotes as Go's
encoding/csv does; json is one line of objects with string values; awk
joins with single spaces and turns spaces inside values into `_`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

import polars as pl

from sonalyze.output.fields import FieldTable
from sonalyze.output.fmtspec import FieldSpec, FormatOptions
from sonalyze.output.values import DATA_TEXT_KINDS, JSON_NULL, NEVER_EMPTY_KINDS, format_expr


def _csv_quote(text: pl.Expr) -> pl.Expr:
    # Go's csv.Writer quotes a field containing , " \r \n or starting with white space.
    needs = text.str.contains(r'[,"\r\n]') | text.str.contains(r"^\s")
    return pl.when(needs).then(
        pl.lit('"') + text.str.replace_all('"', '""', literal=True) + pl.lit('"')
    ).otherwise(text)


def csv_cell(text: pl.Expr) -> pl.Expr:
    """A text column quoted as one CSV cell, the way Go's encoding/csv quotes."""
    return _csv_quote(text)


def _json_string(text: pl.Expr) -> pl.Expr:
    # Control characters become spaces, as in the reference.
    # COMPAT(json-escape): backslashes are escaped too, so the output is valid JSON.
    cleaned = text.str.replace_all(r"[\x00-\x1f]", " ")
    escaped = cleaned.str.replace_all("\\", "\\\\", literal=True).str.replace_all(
        '"', '\\"', literal=True
    )
    return pl.lit('"') + escaped + pl.lit('"')


def _json_key(name: str) -> str:
    cleaned = "".join(" " if ord(c) < 32 else c for c in name)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _fixed(table: pl.DataFrame, headers: list[str], opts: FormatOptions) -> str:
    cols = list(table.columns)
    if opts.tag is not None:
        table = table.with_columns(pl.lit(opts.tag).alias("\x00tag"))
        cols.append("\x00tag")
        headers = [*headers, "tag"]
    widths = []
    for name, header in zip(cols, headers, strict=True):
        longest = table[name].str.len_chars().max() if table.height else 0
        w = longest if isinstance(longest, int) else 0
        if opts.header:
            w = max(w, len(header))
        widths.append(w)
    lines: list[str] = []
    if opts.header:
        lines.append("".join(h.ljust(w + 2) for h, w in zip(headers, widths, strict=True)).rstrip(" "))
    if table.height:
        body = table.select(
            pl.concat_str(
                [pl.col(c).str.pad_end(w + 2) for c, w in zip(cols, widths, strict=True)]
            ).str.strip_chars_end(" ")
        ).to_series()
        lines.append(body.str.join("\n").item())
    return "".join(line + "\n" for line in lines)


def _leading_space(table: pl.DataFrame, columns: list[str]) -> bool:
    if not columns or not table.height:
        return False
    return bool(table.select(pl.any_horizontal(pl.col(columns).str.contains(r"^\s").any())).item())


def _csv_header(headers: list[str]) -> str:
    return pl.select(pl.concat_str([_csv_quote(pl.lit(h)) for h in headers], separator=",")).item() + "\n"


def _csv_rows(table: pl.DataFrame, headers: list[str], opts: FormatOptions, kinds: list[str]
              ) -> str | None:  # fmt: skip
    """The rows as csv or csvnamed text, or None when the fast writer may write them."""
    named = opts.format == "csvnamed"
    data_text = [c for c, k in zip(table.columns, kinds, strict=True) if k in DATA_TEXT_KINDS]
    if not named and not _leading_space(table, data_text):
        return None
    cells: list[pl.Expr] = []
    for name, header in zip(table.columns, headers, strict=True):
        value = pl.col(name)
        if named:
            cells.append(_csv_quote(pl.lit(header + "=") + value))
        else:
            cells.append(_csv_quote(value.fill_null("")))
    if opts.tag is not None:
        tag = ("tag=" if named else "") + opts.tag
        cells.append(_csv_quote(pl.lit(tag)))
    rows = table.select(pl.concat_str(cells, separator=",", ignore_nulls=True)).to_series()
    return rows.str.join("\n").item() + "\n"


def _csv_write(table: pl.DataFrame, opts: FormatOptions, kinds: list[str],
               out: IO[bytes] | None) -> str:  # fmt: skip
    """The rows through Polars' writer, to `out` (returning "") or as text.

    It quotes exactly as Go's encoding/csv does unless a value starts with
    white space (Go quotes those too; see `_csv_rows`), and it is several
    times faster than concatenating cells.
    """
    # Polars writes "" for an empty string; Go writes nothing, as for null.
    maybe_empty = [c for c, k in zip(table.columns, kinds, strict=True) if k not in NEVER_EMPTY_KINDS]
    if opts.tag is not None:
        table = table.with_columns(pl.lit(opts.tag).alias("\x00tag"))
        maybe_empty.append("\x00tag")
    if maybe_empty:
        table = table.with_columns(pl.col(maybe_empty).replace("", None))
    # The header is written apart: a field may be asked for twice, and a frame's
    # column names must differ.
    text = table.write_csv(out, include_header=False, quote_style="necessary", null_value="",
                           line_terminator="\n")  # fmt: skip
    return text or ""


def _json_objects(table: pl.DataFrame, headers: list[str], opts: FormatOptions) -> str:
    """The rows as JSON objects joined by commas (no brackets)."""
    pairs = [
        pl.lit(_json_key(h) + ":")
        + pl.when(pl.col(c) == JSON_NULL).then(pl.lit("null")).otherwise(_json_string(pl.col(c)))
        for c, h in zip(table.columns, headers, strict=True)
    ]
    if opts.tag is not None:
        pairs.append(pl.lit('"tag":') + _json_string(pl.lit(opts.tag)))
    objects = table.select(
        pl.lit("{") + pl.concat_str(pairs, separator=",", ignore_nulls=True) + pl.lit("}")
    ).to_series()
    return objects.str.join(",").item()


def _awk_rows(table: pl.DataFrame, opts: FormatOptions) -> str:
    cells = [pl.col(c).fill_null("").str.replace_all(" ", "_", literal=True) for c in table.columns]
    if opts.tag is not None:
        cells.append(pl.lit(opts.tag))
    rows = table.select(pl.concat_str(cells, separator=" ")).to_series()
    return rows.str.join("\n").item() + "\n"


# Rows formatted at a time when writing: the text of a long table is never held whole.
ROWS_PER_SLICE = 100_000


def _texts(frame: pl.DataFrame, specs: list[FieldSpec], opts: FormatOptions
           ) -> Iterator[pl.DataFrame]:  # fmt: skip
    """The formatted text columns of `frame`, a slice of rows at a time."""
    exprs = [format_expr(s, opts).alias(f"c{i}") for i, s in enumerate(specs)]
    for start in range(0, frame.height, ROWS_PER_SLICE):
        yield frame.slice(start, ROWS_PER_SLICE).select(exprs)


def _pieces(frame: pl.DataFrame, specs: list[FieldSpec], opts: FormatOptions,
            out: IO[bytes] | None) -> Iterator[str]:  # fmt: skip
    """The output text of a csv, csvnamed, json or awk table, in order, a slice at a time
    (Polars' csv writer writes to `out` directly, when given)."""
    headers = [s.header for s in specs]
    kinds = [s.field.kind for s in specs]
    if opts.format in ("csv", "csvnamed"):
        if opts.header:
            yield _csv_header([*headers, opts.tag] if opts.tag is not None else headers)
        for text in _texts(frame, specs, opts):
            rows = _csv_rows(text, headers, opts, kinds)
            yield rows if rows is not None else _csv_write(text, opts, kinds, out)
    elif opts.format == "json":
        yield "["
        for n, text in enumerate(_texts(frame, specs, opts)):
            yield ("," if n else "") + _json_objects(text, headers, opts)
        yield "]\n"
    else:
        yield from (_awk_rows(text, opts) for text in _texts(frame, specs, opts))


def render(frame: pl.DataFrame, specs: list[FieldSpec], opts: FormatOptions) -> str:
    """The output text for `frame` (a verb's typed result) under `specs` and `opts`."""
    if opts.format != "fixed":
        return "".join(_pieces(frame, specs, opts, None))
    exprs = [format_expr(s, opts).alias(f"c{i}") for i, s in enumerate(specs)]
    text = frame.select(exprs) if frame.height else pl.DataFrame(
        {f"c{i}": pl.Series([], dtype=pl.String) for i in range(len(specs))}
    )
    return _fixed(text, [s.header for s in specs], opts)


def write(frame: pl.DataFrame, specs: list[FieldSpec], opts: FormatOptions, out: IO[bytes]) -> None:
    """`render`'s text, encoded, to `out`; formatted a slice of rows at a time except
    in fixed format (its column widths are the whole table's)."""
    if opts.format == "fixed":
        out.write(render(frame, specs, opts).encode())
        return
    for piece in _pieces(frame, specs, opts, out):
        out.write(piece.encode())


def format_help(table: FieldTable, summary: str) -> str:
    """The `--fmt=help` text: fields with their help, aliases, groups and defaults."""
    lines = [summary.rstrip(), "", "Syntax:", "  --fmt=(field|alias|control),...", "", "Fields:"]
    for f in sorted(table.fields, key=lambda f: f.name):
        lines.append(f"  {f.name} - {f.help}")
    aliases = {a: (f.name,) for f in table.fields for a in f.aliases} | dict(table.groups)
    lines += ["", "Aliases:"]
    lines += [f"  {k} --> {','.join(v)}" for k, v in sorted(aliases.items())]
    lines += ["", "Defaults:", f"  {','.join(table.groups.get(table.default, ()))}", ""]
    lines += [
        "Controls: fixed, csv, csvnamed, json, awk (the format); header, noheader;",
        "nodefaults (omit zero/empty values in csv and json); tag:TEXT (add a tag column).",
        "Modifiers: FIELD/sec (epoch seconds), FIELD/iso (ISO 8601 time), FIELD/m30.",
        "",
    ]
    return "\n".join(lines)
