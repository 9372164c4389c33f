"""The output engine: --fmt parsing, value text, and the five layouts."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import polars as pl
import pytest

from sonalyze.errors import UsageError
from sonalyze.output import render as render_module
from sonalyze.output.fields import Field, FieldTable
from sonalyze.output.fmtspec import parse_fmt
from sonalyze.output.render import render, write
from sonalyze.output.values import _go_float_g

TABLE = FieldTable(
    (
        Field("Name", "str", "name", "A name", ("name",)),
        Field("Count", "int", "count", "A count", ("count",)),
        Field("Load", "f32", "load", "A float"),
        Field("When", "datetime", "when", "A time", ("when",)),
        Field("Busy", "bool", "busy", "A flag"),
        Field("Mem", "gib", "mem", "KiB as GiB"),
        Field("Tags", "strings", "tags", "A list"),
        Field("Took", "duration", "took", "Seconds"),
    ),
    groups={"default": ("name", "count"), "all": ("name", "count", "Load", "when")},
)
FRAME = pl.DataFrame(
    {
        "name": ["a b", 'q"x', ""],
        "count": [1, 0, 12345],
        "load": pl.Series([0.5, 1234567.0, 0.0], dtype=pl.Float32),
        "when": [datetime(2025, 3, 3, 9, 5, 59, tzinfo=UTC)] * 3,
        "busy": [True, False, True],
        "mem": [3 << 20, 1023, 0],
        "tags": [["b", "a"], [], ["x"]],
        "took": [90, 0, 86400 + 3600 + 29],
    }
)


def out(fmt: str) -> str:
    specs, opts = parse_fmt(fmt, TABLE)
    return render(FRAME, specs, opts)


def test_fixed_pads_to_widest_plus_two_and_trims() -> None:
    assert out("fixed,name,count") == "name  count\na b   1\nq\"x   0\n      12345\n"


def test_noheader_and_header_controls() -> None:
    assert out("fixed,noheader,count").splitlines() == ["1", "0", "12345"]
    assert out("csv,header,count").splitlines()[0] == "count"
    assert out("csv,count").splitlines()[0] == "1"


def test_csv_quotes_like_go() -> None:
    assert out("csv,name,Tags").splitlines() == ['a b,"a,b"', '"q""x",', ",x"]


def test_csvnamed_and_nodefaults() -> None:
    assert out("csvnamed,name,count").splitlines()[0] == "name=a b,count=1"
    assert out("csvnamed,nodefaults,name,count").splitlines()[1:] == ['"name=q""x"', "count=12345"]
    assert out("csv,nodefaults,name,count").splitlines()[1] == '"q""x",'


def test_json_is_one_line_of_string_values() -> None:
    text = out("json,name,count,Busy")
    assert text.count("\n") == 1
    rows = json.loads(text)
    assert rows[1] == {"name": 'q"x', "count": "0", "Busy": "no"}
    assert json.loads(out("json,nodefaults,name,count"))[1] == {"name": 'q"x'}


def test_awk_replaces_spaces() -> None:
    assert out("awk,name,count").splitlines()[0] == "a_b 1"


def test_tag_column() -> None:
    assert out("csv,count,tag:xyz").splitlines()[0] == "1,xyz"
    assert json.loads(out("json,count,tag:xyz"))[0] == {"count": "1", "tag": "xyz"}


def test_value_kinds() -> None:
    row = out("csv,Load,when,when/sec,when/iso,Mem,Took").splitlines()
    assert row[0] == "0.5,2025-03-03 09:05,1740992759,2025-03-03T09:05:59Z,3,0d0h2m"
    assert row[1].startswith("1.234567e+06,")
    assert out("fixed,noheader,Took").splitlines()[2] == " 1d 1h 0m"


@pytest.mark.parametrize(("text", "go"), [("1234567.0", "1.234567e+06"), ("0.00001", "1e-05"),
                                          ("100.0", "100"), ("0.0001", "0.0001"),
                                          ("123456.0", "123456")])  # fmt: skip
def test_go_float_layout(text: str, go: str) -> None:
    assert _go_float_g(text) == go


def test_format_words_alone_select_default_fields() -> None:
    specs, opts = parse_fmt("json", TABLE)
    assert [s.header for s in specs] == ["name", "count"] and opts.format == "json"


def test_format_precedence_and_header_names_as_typed() -> None:
    specs, opts = parse_fmt("fixed,json,csv,Count,when/sec", TABLE)
    assert opts.format == "csv" and [s.header for s in specs] == ["Count", "when/sec"]


def test_modifiers_where_they_mean_nothing_change_nothing() -> None:
    assert out("csv,header,count/sec,name/iso").splitlines()[:2] == ["count/sec,name/iso",
                                                                     "1,a b"]


def test_empty_tag_is_no_tag() -> None:
    assert parse_fmt("csv,count,tag:", TABLE)[1].tag is None


def test_unknown_field_suggests_a_close_name() -> None:
    with pytest.raises(UsageError, match="did you mean 'count'"):
        parse_fmt("csv,cuont", TABLE)


def test_empty_output_shapes() -> None:
    empty = FRAME.head(0)
    for fmt, expected in [("fixed", "name  count\n"), ("csv", ""), ("json", "[]\n"),
                          ("awk", ""), ("csv,header", "name,count\n")]:  # fmt: skip
        specs, opts = parse_fmt(fmt, TABLE)
        assert render(empty, specs, opts) == expected


def test_csv_fast_and_careful_paths_agree_on_hard_values() -> None:
    hard = pl.DataFrame({"name": ["plain", "a,b", 'q"q', "line\nbreak", "cr\rx", "", " lead"],
                         "count": list(range(7))})  # fmt: skip
    specs, opts = parse_fmt("csv,header,name,count,tag:t", TABLE)
    text = render(hard, specs, opts)
    assert text.splitlines()[:4] == ["name,count,t", "plain,0,t", '"a,b",1,t', '"q""q",2,t']
    assert '" lead",6,t' in text  # Go quotes a leading space; the careful path handles it
    without_lead = render(hard.head(6), specs, opts)
    assert without_lead == text[: len(without_lead)]


def test_a_field_asked_for_twice_is_printed_twice_in_every_format() -> None:
    # Regression: the CSV writer needs distinct column names and crashed here.
    assert out("csv,header,count,name,count").splitlines()[:2] == ["count,name,count", "1,a b,1"]
    assert out("fixed,count,count").splitlines()[1] == "1      1"
    assert out("json,count,count").startswith('[{"count":"1","count":"1"}')
    assert out("awk,count,count").splitlines()[0] == "1 1"


@pytest.mark.parametrize("fmt", ["csv,header,all,tag:t", "csvnamed,all", "json,all,Tags",
                                 "awk,all,Took", "fixed,all,Took", "csv,nodefaults,all,Mem"])  # fmt: skip
def test_written_a_slice_at_a_time_is_the_rendered_text(fmt: str, monkeypatch) -> None:
    # Slices of two rows: the first has a leading space (the careful csv path), the
    # second none (Polars' writer), the third an empty name; json joins them with commas.
    rows = pl.concat([FRAME.with_columns(pl.lit(" lead").alias("name")).head(1), FRAME, FRAME])
    specs, opts = parse_fmt(fmt, TABLE)
    whole = render(rows, specs, opts)
    monkeypatch.setattr(render_module, "ROWS_PER_SLICE", 2)
    out = io.BytesIO()
    write(rows, specs, opts, out)
    assert out.getvalue().decode() == whole
    assert render(rows, specs, opts) == whole
    if fmt.startswith("json"):
        assert len(json.loads(whole)) == 7


def test_only_text_from_the_data_is_checked_for_leading_space() -> None:
    # Numbers, times and flags never start with white space; names from the data may.
    spaced = FRAME.with_columns(pl.Series("name", ["\tx", "y", "z"]))
    specs, opts = parse_fmt("csv,name,count,Busy,when", TABLE)
    assert render(spaced, specs, opts).splitlines()[:2] == ['"\tx",1,yes,2025-03-03 09:05',
                                                          "y,0,no,2025-03-03 09:05"]  # fmt: skip
