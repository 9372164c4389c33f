"""Typed columns to the text the Go sonalyze prints, vectorised per field kind.

A value that `nodefaults` suppresses (zero, empty, false, no GPUs) becomes
null; renderers turn null into an empty CSV cell or an omitted JSON key.
"""

from __future__ import annotations

import polars as pl

from sonalyze.ingest.gpuset import format_gpuset
from sonalyze.output.fmtspec import FieldSpec, FormatOptions
from sonalyze.tables.hostglob import compress_hostnames


def _go_float_g(text: str) -> str:
    """Go's `%g` with shortest digits, from a shortest decimal text (`1234567.0`, `1e-7`)."""
    sign = "-" if text.startswith("-") else ""
    body = text.lstrip("-+").lower()
    mantissa, _, exp_text = body.partition("e")
    int_part, _, frac = mantissa.partition(".")
    digits = (int_part + frac).lstrip("0")
    if not digits.rstrip("0"):
        return "0"
    # Decimal exponent of the first significant digit.
    exponent = len(int_part) - 1 - (len(int_part + frac) - len(digits))
    exponent += int(exp_text or 0)
    digits = digits.rstrip("0")
    if exponent < -4 or exponent >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{head}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent >= 0:
        whole = digits[: exponent + 1].ljust(exponent + 1, "0")
        rest = digits[exponent + 1 :]
        return sign + whole + ("." + rest if rest else "")
    return sign + "0." + "0" * (-exponent - 1) + digits


def float_text(value: pl.Expr) -> pl.Expr:
    """Floats as Go's shortest `%g`: `12.5`, `100`, `1.5e+06`, `1e-05`."""
    text = value.cast(pl.String)
    plain = text.str.strip_suffix(".0")
    unusual = (value.abs().ge(1e6) | (value.abs().lt(1e-4) & value.ne(0))
               | text.str.contains("e", literal=True))  # fmt: skip
    return (
        pl.when(unusual)
        .then(text.map_elements(_go_float_g, return_dtype=pl.String))
        .otherwise(plain)
    )


def _duration(secs: pl.Expr, fixed: bool) -> pl.Expr:
    rounded = pl.when(secs % 60 >= 30).then(secs + 30).otherwise(secs)
    minutes = (rounded // 60) % 60
    hours = (rounded // 3600) % 24
    days = rounded // 86400
    if fixed:
        return pl.format(
            "{}d{}h{}m",
            days.cast(pl.String).str.pad_start(2),
            hours.cast(pl.String).str.pad_start(2),
            minutes.cast(pl.String).str.pad_start(2),
        )
    return pl.format("{}d{}h{}m", days, hours, minutes)


def _compressed(names: pl.Series | None, brief: bool) -> str:
    if names is None or names.len() == 0:
        return ""
    listed: list[str] = names.to_list()
    if brief:
        listed = sorted({n.partition(".")[0] for n in listed})
    return ",".join(compress_hostnames(listed))


def hosts_text(names: pl.Expr, *, brief: bool) -> pl.Expr:
    """A list of host names as the reference prints a host set: sorted, compressed.

    `brief` keeps only each name's first element (`c1-[10,18]` for
    `c1-10.fox, c1-18.fox`), as fixed output does.
    """
    single = names.list.first()
    if brief:
        single = single.str.split(".").list.first()
    many = names.map_elements(lambda xs: _compressed(xs, brief), return_dtype=pl.String)
    return (
        pl.when(names.list.len() == 1).then(single).otherwise(many).fill_null("")
    )


# A cell text the JSON renderer writes as a bare `null` (no other text holds a NUL).
JSON_NULL = "\x00null"

# Kinds whose text is the data's own strings, which may hold anything (a leading
# space, say); every other kind prints digits, dates, names of its own or `?`.
DATA_TEXT_KINDS = frozenset({"str", "str30", "strings", "hosts"})
# Kinds that never print an empty text (a null, with nodefaults, is not a text).
NEVER_EMPTY_KINDS = frozenset({"int", "uint", "f32", "f64", "bool", "gib", "gpuset", "ceil",
                               "duration"})  # fmt: skip


def format_expr(spec: FieldSpec, opts: FormatOptions) -> pl.Expr:
    """The text column for one output field under the chosen format."""
    f = spec.field
    v = f.expr()
    kind = f.kind
    fixed = opts.format == "fixed"
    nodefaults = opts.nodefaults and opts.format in ("csv", "csvnamed", "json")
    sec, iso = "sec" in spec.mods, "iso" in spec.mods
    is_default: pl.Expr | None = None
    if kind in ("str", "str30"):
        text = v.fill_null("")
        # COMPAT(m30): cut at 30 characters, not bytes.
        if kind == "str30" and fixed or "m30" in spec.mods:
            text = text.str.slice(0, 30)
        is_default = v.fill_null("") == ""
    elif kind in ("int", "uint"):
        text = v.fill_null(0).cast(pl.String)
        is_default = v.fill_null(0) == 0
    elif kind in ("f32", "f64"):
        text = float_text(v.fill_null(0))
        is_default = v.fill_null(0) == 0
    elif kind == "bool":
        text = pl.when(v.fill_null(False)).then(pl.lit("yes")).otherwise(pl.lit("no"))
        is_default = ~v.fill_null(False)
    elif kind == "gib":
        gib = v.fill_null(0) // (1024 * 1024)
        text = gib.cast(pl.String)
        is_default = gib == 0
    elif kind in ("datetime", "isotime", "isotime_or_unknown", "date", "hhmm"):
        epoch = v.dt.epoch("s")
        if sec:
            text = epoch.cast(pl.String)
        elif kind in ("date", "hhmm") and not iso:
            text = v.dt.strftime("%Y-%m-%d" if kind == "date" else "%H:%M")
        elif iso or kind != "datetime":
            text = v.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            text = v.dt.strftime("%Y-%m-%d %H:%M")
        # COMPAT(sacct-unknown): a missing time prints Unknown, not year 1.
        missing = "Unknown" if kind == "isotime_or_unknown" and not sec else ""
        text = text.fill_null(missing)
        is_default = v.is_null()
    elif kind == "gpuset":
        text = format_gpuset(v.fill_null(0))
        is_default = v.fill_null(0) == 0
    elif kind == "strings":
        text = v.list.sort().list.join(",").fill_null("")
        is_default = v.list.len().fill_null(0) == 0
    elif kind == "ceil":
        whole = v.fill_null(0).ceil().cast(pl.Int64)
        text = whole.cast(pl.String)
        is_default = whole == 0
    elif kind == "hosts":
        text = hosts_text(v, brief=fixed)
        is_default = v.list.len().fill_null(0) == 0
    elif kind == "f6":
        micros = (v.fill_nan(None) * 1_000_000).round(0).cast(pl.Int64, strict=False)
        fixed6 = pl.format("{}.{}", micros // 1_000_000,
                           (micros % 1_000_000).cast(pl.String).str.pad_start(6, "0"))  # fmt: skip
        infinite = pl.lit(JSON_NULL if opts.format == "json" else "inf")
        text = pl.when(v.is_infinite()).then(infinite).otherwise(fixed6).fill_null("")
        is_default = v.is_null()
    elif kind == "duration":
        secs = v.fill_null(0).cast(pl.Int64)
        text = secs.cast(pl.String) if sec else _duration(secs, fixed)
        is_default = secs == 0 if sec else (secs + 30) // 60 == 0
    else:  # pragma: no cover - kinds are validated at declaration
        raise AssertionError(kind)
    if f.present is not None:
        present = pl.col(f.present).fill_null(False)
        text = pl.when(present).then(text).otherwise(pl.lit("?"))
        is_default = is_default & present
    if nodefaults and is_default is not None:
        text = pl.when(is_default).then(pl.lit(None, pl.String)).otherwise(text)
    return text.alias(spec.header)
