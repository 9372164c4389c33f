"""Rendering a frame of formatted text columns as fixed, csv, csvnamed, json or awk.

Shapes are the Go sonalyze's, byte for byte: fixed pads every column to its
widest cell plus two spaces and trims each line; csv quotes as Go's
encoding/csv does; json is one line of objects with string values; awk
joins with single spaces and turns spaces inside values into `_`.
"""

from __future__ import annotations

import polars as pl

from sonalyze.output.fields import FieldTable
from sonalyze.output.fmtspec import FieldSpec, FormatOptions
from sonalyze.output.values import JSON_NULL, format_expr


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


def _leading_space(table: pl.DataFrame) -> bool:
    if not table.width or not table.height:
        return False
    return bool(table.select(pl.any_horizontal(pl.all().str.contains(r"^\s").any())).item())


def _csv_header(headers: list[str]) -> str:
    return pl.select(pl.concat_str([_csv_quote(pl.lit(h)) for h in headers], separator=",")).item() + "\n"


def _csv(table: pl.DataFrame, headers: list[str], opts: FormatOptions) -> str:
    named = opts.format == "csvnamed"
    if not named and not _leading_space(table):
        # Polars' writer quotes exactly as Go's does unless a value starts with white
        # space (Go quotes those too), and it is several times faster than concatenation.
        if opts.tag is not None:
            table = table.with_columns(pl.lit(opts.tag).alias("\x00tag"))
            headers = [*headers, opts.tag]
        # Polars writes "" for an empty string; Go writes nothing, as for null.
        table = table.with_columns(pl.all().replace("", None))
        # The header is written here: a field may be asked for twice, and a frame's
        # column names must differ.
        text = table.write_csv(include_header=False, quote_style="necessary", null_value="",
                               line_terminator="\n")  # fmt: skip
        return (_csv_header(headers) if opts.header else "") + text
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
    out = ""
    if opts.header:
        out = _csv_header([*headers, opts.tag] if opts.tag is not None else headers)
    if table.height:
        rows = table.select(pl.concat_str(cells, separator=",", ignore_nulls=True)).to_series()
        out += rows.str.join("\n").item() + "\n"
    return out


def _json(table: pl.DataFrame, headers: list[str], opts: FormatOptions) -> str:
    if not table.height:
        return "[]\n"
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
    return "[" + objects.str.join(",").item() + "]\n"


def _awk(table: pl.DataFrame, headers: list[str], opts: FormatOptions) -> str:
    if not table.height:
        return ""
    cells = [pl.col(c).fill_null("").str.replace_all(" ", "_", literal=True) for c in table.columns]
    if opts.tag is not None:
        cells.append(pl.lit(opts.tag))
    rows = table.select(pl.concat_str(cells, separator=" ")).to_series()
    return rows.str.join("\n").item() + "\n"


_RENDERERS = {"fixed": _fixed, "csv": _csv, "csvnamed": _csv, "json": _json, "awk": _awk}


def render(frame: pl.DataFrame, specs: list[FieldSpec], opts: FormatOptions) -> str:
    """The output text for `frame` (a verb's typed result) under `specs` and `opts`."""
    headers = [s.header for s in specs]
    exprs = [format_expr(s, opts).alias(f"c{i}") for i, s in enumerate(specs)]
    text = frame.select(exprs) if frame.height else pl.DataFrame(
        {f"c{i}": pl.Series([], dtype=pl.String) for i in range(len(specs))}
    )
    return _RENDERERS[opts.format](text, headers, opts)


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
