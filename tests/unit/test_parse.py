import pytest

from lakehouse.transforms.parse import NOT_UTF8, QUOTE_OUT_OF_PLACE, parse_csv, parse_jsonl, split_csv_header

EXPECTED = ["id", "name", "amount"]


def _lines(spark, *lines):
    return spark.createDataFrame([(ln,) for ln in lines], "value string")


def _rows(df):
    return [r.asDict() for r in df.collect()]


def _spec(fmt: str):
    from lakehouse.specs import DatasetSpec

    return DatasetSpec(name="t", source={"format": fmt}, keys=["id"], ordering="id",
                       columns=[{"name": n, "type": "string", "required": n == "id"} for n in EXPECTED])


def test_csv_fields_are_matched_by_header_and_quotes_respected(spark):
    out = _rows(parse_csv(_lines(spark, '1,"Smith, Jane",3.50'), ["id", "name", "amount"], EXPECTED))
    assert out[0]["name"] == "Smith, Jane"
    assert out[0]["amount"] == "3.50"
    assert out[0]["_malformed_reason"] is None and out[0]["_raw"] is None


def test_csv_too_many_and_too_few_fields_are_malformed_with_raw_text(spark):
    out = _rows(parse_csv(_lines(spark, "1,a,2,extra", "1,a"), EXPECTED, EXPECTED))
    assert out[0]["_malformed_reason"].startswith("too many fields: 4")
    assert out[1]["_malformed_reason"].startswith("too few fields: 2")
    assert [r["_raw"] for r in out] == ["1,a,2,extra", "1,a"]
    assert all(r["id"] is None for r in out)


def test_csv_empty_field_is_null_not_missing(spark):
    out = _rows(parse_csv(_lines(spark, "1,,"), EXPECTED, EXPECTED))
    assert out[0]["_malformed_reason"] is None
    assert out[0]["name"] is None and out[0]["amount"] is None


def test_csv_drifted_header_keeps_extra_column_and_names_the_drift(spark):
    header = ["amount", "id", "coupon", "name"]  # reordered, one new column
    out = _rows(parse_csv(_lines(spark, "9.99,7,SPRING,Bob"), header, EXPECTED))
    assert (out[0]["id"], out[0]["name"], out[0]["amount"]) == ("7", "Bob", "9.99")
    assert out[0]["_schema_drift"] == "unexpected column(s) coupon"
    assert out[0]["_rescued_data"] == '{"coupon":"SPRING"}'


def test_csv_missing_column_is_drift(spark):
    out = _rows(parse_csv(_lines(spark, "7,Bob"), ["id", "name"], EXPECTED))
    assert out[0]["_schema_drift"] == "missing column(s) amount"


def test_jsonl_scalars_become_text_and_garbage_is_malformed(spark):
    out = _rows(parse_jsonl(_lines(spark, '{"id": 1, "name": "a", "amount": 12.5}', '{"id": 2, "na', "[1,2]"),
                            EXPECTED))
    assert (out[0]["id"], out[0]["amount"]) == ("1", "12.5")
    assert out[0]["_malformed_reason"] is None
    assert out[1]["_malformed_reason"] == "not a valid JSON object"
    assert out[1]["_raw"] == '{"id": 2, "na'
    assert out[2]["_malformed_reason"] == "not a valid JSON object"


def test_jsonl_unknown_keys_are_rescued(spark):
    out = _rows(parse_jsonl(_lines(spark, '{"id": 1, "name": "a", "amount": 1, "zeta": true, "alpha": 2}'), EXPECTED))
    assert out[0]["_schema_drift"] == "unexpected column(s) alpha, zeta"
    assert out[0]["_rescued_data"] == '{"zeta":"true","alpha":"2"}'


def test_split_csv_header_strips_quotes_and_spaces():
    assert split_csv_header('"id", name ,amount') == ["id", "name", "amount"]


# --- RFC 4180 quoting, long fields and bytes that are not text ---------------------------------

def test_csv_long_quoted_fields_parse_without_exhausting_the_stack(spark):
    """100,000 characters in one quoted field, and 30,000 escaped quotes in another: the
    field count is no recursive regex (a field of ~2,000 characters used to kill the driver)."""
    long_text = "x" * 100_000
    quotes = 'a""' * 30_000
    out = _rows(parse_csv(_lines(spark, f'1,"{long_text}",2', f'2,"{quotes}",3'), EXPECTED, EXPECTED))
    assert [r["_malformed_reason"] for r in out] == [None, None]
    assert out[0]["name"] == long_text
    assert out[1]["name"] == 'a"' * 30_000


def test_csv_escaped_quotes_and_empty_quoted_fields_are_values(spark):
    out = _rows(parse_csv(_lines(spark, '1,"say ""hi"", then go",2', '2,"",3', '3,"""",4'), EXPECTED, EXPECTED))
    assert [r["_malformed_reason"] for r in out] == [None, None, None]
    assert [r["name"] for r in out] == ['say "hi", then go', None, '"']


def test_csv_a_quote_out_of_place_is_malformed(spark):
    """parse_csv judges one record: a quoted field that does not close in it is no record
    (the halves of a field split over lines, had the file not joined them: see
    test_quoted_fields_hold_line_breaks; before, the first was accepted with wrong values);
    nor is a record whose quote never closes even when its delimiters add up, nor one whose
    quotes sit inside a field, which a CSV reader splits other than the count (`1, "a,b",2`:
    four fields to Spark)."""
    lines = ['1,"first line', 'second line",2.50', '3,"abc,4.00', '4, "a,b",5', '"5"x,a,6']
    out = _rows(parse_csv(_lines(spark, *lines), EXPECTED, EXPECTED))
    assert [r["_malformed_reason"] for r in out] == [QUOTE_OUT_OF_PLACE] * len(lines)
    assert [r["_raw"] for r in out] == lines
    assert all(r["id"] is None and r["name"] is None for r in out)


def test_undecodable_bytes_are_malformed_not_values(spark, tmp_path):
    """Landing files are read as bytes: a byte that is not UTF-8 would be decoded into U+FFFD
    by the parser and land silently as a value. A real U+FFFD in valid UTF-8 is a value."""
    from lakehouse.formats import read_file

    (tmp_path / "a.csv").write_bytes(b"id,name,amount\n1,M\xfcller,2\n2,M\xef\xbf\xbdller,3\n")
    (tmp_path / "a.jsonl").write_bytes(b'{"id": 1, "name": "M\xfcller", "amount": 2}\n')
    for name, spec in (("a.csv", _spec("csv")), ("a.jsonl", _spec("jsonl"))):
        out = sorted(_rows(read_file(spark, spec, str(tmp_path / name))[1]),
                     key=lambda r: r["_malformed_reason"] or "")
        bad = out[-1]
        assert bad["_malformed_reason"] == NOT_UTF8 and bad["name"] is None, name
        assert bad["_raw"] is not None and "M\ufffdller" in bad["_raw"], name
    [_, valid] = sorted(_rows(read_file(spark, _spec("csv"), str(tmp_path / "a.csv"))[1]),
                        key=lambda r: r["_malformed_reason"] or "~")
    assert valid["_malformed_reason"] is None and valid["name"] == "M\ufffdller"


def test_jsonl_missing_keys_are_drift_and_an_explicit_null_is_a_value(spark):
    out = _rows(parse_jsonl(_lines(spark, '{"id": 1, "name": "a"}', '{"id": 2, "zeta": 1}',
                                   '{"id": 3, "name": null, "amount": 2}'), EXPECTED))
    assert out[0]["_schema_drift"] == "missing column(s) amount"
    assert out[0]["_raw"] == '{"id": 1, "name": "a"}' and out[0]["_rescued_data"] is None
    assert out[1]["_schema_drift"] == "unexpected column(s) zeta; missing column(s) name, amount"
    assert out[2]["_schema_drift"] is None and out[2]["_raw"] is None
    assert [r["_malformed_reason"] for r in out] == [None, None, None]


def test_landing_files_named_like_glob_patterns_are_read_as_named(spark, tmp_path):
    """Spark's readers expand glob patterns in a path: bronze reads each listed file by its
    literal name, so `orders[1].csv` is read (it matched nothing) and `*.csv` reads itself
    alone (it matched every file of the folder)."""
    from lakehouse.formats import read_file

    spec = _spec("csv")
    names = {"orders[1].csv": 1, "a{b,c}.csv": 2, "*.csv": 3, "what?.csv": 4}
    for name, n in names.items():
        (tmp_path / name).write_text("id,name,amount\n" + "".join(f"{i},x,1\n" for i in range(n)))
    for name, n in names.items():
        counted, records = read_file(spark, spec, str(tmp_path / name))
        assert (counted.records, records.count()) == (n, n), name


def test_parquet_values_reach_bronze_as_exact_text(spark, tmp_path):
    # Decimals keep every digit (to_json's number would come back through from_json as a
    # double: 9999999999999999.99 became 1.0E16); timestamps without a zone keep microseconds.
    from datetime import datetime
    from decimal import Decimal

    from lakehouse.formats import read_file
    from lakehouse.specs import DatasetSpec

    spark.sql("SELECT 'a' AS id, CAST('9999999999999999.99' AS DECIMAL(38,2)) AS amount, "
              "TIMESTAMP_NTZ'2026-01-01 10:00:00.123456' AS at").write.parquet(str(tmp_path / "p"))
    spec = DatasetSpec(name="t", source={"format": "parquet"}, keys=["id"], ordering="at",
                       columns=[{"name": "id", "type": "string", "required": True},
                                {"name": "amount", "type": "decimal(38,2)"},
                                {"name": "at", "type": "timestamp", "required": True}])
    counted, records = read_file(spark, spec, str(tmp_path / "p"))
    (row,) = _rows(records)
    assert counted.records == 1 and row["amount"] == "9999999999999999.99"
    assert datetime.fromisoformat(row["at"]) == datetime(2026, 1, 1, 10, 0, 0, 123456)
    assert Decimal(row["amount"]) == Decimal("9999999999999999.99")


def test_parquet_with_two_columns_of_one_name_refuses_its_batch(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lakehouse.errors import LandingError
    from lakehouse.formats import read_file

    table = pa.Table.from_arrays([pa.array(["1"]), pa.array(["x"])], names=["id", "ID"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(LandingError, match=r"dup.parquet: cannot be read as Parquet \(.*\); the batch is refused"):
        read_file(spark, _spec("parquet"), str(tmp_path / "dup.parquet"))


# --- CSV dialects and encodings (a spec's source: delimiter, quote, escape, encoding) -----------

def _dialect_spec(fmt: str = "csv", **source):
    from lakehouse.specs import DatasetSpec

    return DatasetSpec(name="t", source={"format": fmt, **source}, keys=["id"], ordering="id",
                       columns=[{"name": n, "type": "string", "required": n == "id"} for n in EXPECTED])


@pytest.mark.parametrize("delimiter", [";", "|", "\t", "."])
def test_csv_any_delimiter_separates_fields_and_counts_them(spark, delimiter):
    """`|` and `.` are regex metacharacters: the count must take them literally."""
    from lakehouse.transforms.parse import CsvDialect

    d = delimiter
    lines = [f'1{d}"a{d}b"{d}2', f"2{d}x{d}3{d}4", f"3{d}y"]
    out = _rows(parse_csv(_lines(spark, *lines), EXPECTED, EXPECTED, CsvDialect(delimiter=d)))
    assert (out[0]["name"], out[0]["amount"], out[0]["_malformed_reason"]) == (f"a{d}b", "2", None)
    assert out[1]["_malformed_reason"] == "too many fields: 4 (expected 3)"
    assert out[2]["_malformed_reason"] == "too few fields: 2 (expected 3)"


def test_csv_another_quote_character_quotes_fields(spark):
    from lakehouse.transforms.parse import CsvDialect

    out = _rows(parse_csv(_lines(spark, "1,'Smith, Jane',2", "2,'it''s',3", "3,'open,4"), EXPECTED, EXPECTED,
                          CsvDialect(quote="'", escape="'")))
    assert [r["name"] for r in out[:2]] == ["Smith, Jane", "it's"]
    assert out[2]["_malformed_reason"] == QUOTE_OUT_OF_PLACE


def test_csv_backslash_escapes_inside_quoted_fields_only(spark):
    """MySQL-style exports: \\" is a quote and \\\\ a backslash inside a quoted field; outside
    one a backslash is text (Spark's parser reads `a\\,b` as two fields, and so does the count).
    A doubled quote is no escape here: the field ends, and the quote after it is out of place.
    30,000 escapes in one field count without recursion."""
    from lakehouse.transforms.parse import CsvDialect

    lines = ['1,"say \\"hi\\", then go",2', '2,"ends in \\\\",3', '3,a\\,b', '4,"a""b",5',
             '5,"' + 'x\\"' * 30_000 + '",6']
    out = _rows(parse_csv(_lines(spark, *lines), EXPECTED, EXPECTED, CsvDialect(escape="\\")))
    assert [r["_malformed_reason"] for r in out] == [None, None, None, QUOTE_OUT_OF_PLACE, None]
    assert [r["name"] for r in out[:3]] == ['say "hi", then go', "ends in \\", "a\\"]
    assert out[4]["name"] == 'x"' * 30_000 and out[4]["amount"] == "6"


def test_a_declared_encoding_decodes_lines_and_quarantines_bytes_it_does_not_define(spark, tmp_path):
    """windows-1252 (a spreadsheet's CSV export) and ISO-8859-1 JSON lines: the text lands as
    written; 0x81, which windows-1252 leaves undefined, makes its line malformed."""
    from lakehouse.formats import read_file

    (tmp_path / "a.csv").write_bytes("id;name;amount\n1;Müller – “Café”;2\n".encode("cp1252") + b"2;x\x81;3\n")
    (tmp_path / "a.jsonl").write_bytes('{"id": 1, "name": "Müller", "amount": 2}\n'.encode("latin-1"))
    counted, records = read_file(spark, _dialect_spec(delimiter=";", encoding="windows-1252"),
                                 str(tmp_path / "a.csv"))
    out = sorted(_rows(records), key=lambda r: r["id"] or "~")
    assert counted.records == 2
    assert (out[0]["name"], out[0]["_malformed_reason"]) == ("Müller – “Café”", None)
    assert out[1]["_malformed_reason"] == ("not valid windows-1252 (bytes it does not define, shown as U+FFFD "
                                           "in _raw)")
    assert out[1]["_raw"] == "2;x\ufffd;3"
    [row] = _rows(read_file(spark, _dialect_spec("jsonl", encoding="iso-8859-1"), str(tmp_path / "a.jsonl"))[1])
    assert (row["name"], row["_malformed_reason"]) == ("Müller", None)


def test_a_header_in_another_encoding_and_dialect_names_its_columns(spark, tmp_path):
    from lakehouse.formats import read_file

    spec = _dialect_spec(delimiter="|", quote="'", encoding="latin-1")
    (tmp_path / "a.csv").write_bytes("'id'|'name'|amount\n1|'Jörg|x'|2\n".encode("latin-1"))
    [row] = _rows(read_file(spark, spec, str(tmp_path / "a.csv"))[1])
    assert (row["id"], row["name"], row["amount"], row["_schema_drift"]) == ("1", "Jörg|x", "2", None)


@pytest.mark.parametrize(("source", "message"), [
    ({"format": "csv", "encoding": "no-such-charset"}, "unknown or unsupported encoding 'no-such-charset'"),
    ({"format": "csv", "encoding": "utf-16"}, "unsupported encoding 'utf-16'"),
    ({"format": "csv", "encoding": "utf-7"}, "unsupported encoding 'utf-7'"),
    ({"format": "csv", "encoding": "base64"}, "unsupported encoding 'base64'"),
    ({"format": "csv", "delimiter": "\\"}, "a backslash cannot be the delimiter"),
    ({"format": "jsonl", "delimiter": ";"}, "delimiter: CSV options, but the format is jsonl"),
    ({"format": "parquet", "encoding": "latin-1"}, "Parquet files carry their own"),
    ({"format": "csv", "delimiter": '"'}, "delimiter '\"' is also the quote or the escape character"),
    ({"format": "csv", "quote": "\n"}, "cannot be line breaks"),
    ({"format": "csv", "delimiter": ";;"}, "at most 1 character"),
])
def test_a_dialect_that_cannot_be_read_is_refused_by_the_spec(source, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        _dialect_spec(**source)


def test_parquet_may_name_utf8_in_any_spelling():
    assert _dialect_spec("parquet", encoding="UTF-8").source.encoding == "UTF-8"


# Text each table holds (Python encodes it), with the characters Java's same-named tables read
# otherwise: cp932's NEC and IBM extensions and its wave dash, cp949's extended Hangul, cp950's
# and Big5's characters with two byte sequences.
_SAMPLES = {"cp932": "東京①㈱髙～∥－Ⅰ№￢", "shift_jis": "日本語テキスト", "euc_jp": "日本語", "cp949": "갂뷁한국어",
            "euc_kr": "한국어", "cp950": "碁銹€十中文", "big5": "中文十", "big5hkscs": "中文", "gbk": "中文汉字",
            "gb18030": "中文汉字€\ufffd", "gb2312": "中文", "cp874": "ภาษาไทย…“”"}


def test_every_encoding_of_the_table_decodes_in_java_as_in_python(spark):
    """Java decodes each supported table's bytes to Python's text, and finds no line of valid
    text invalid: every single-byte table's every byte Python defines, and samples of the
    others."""
    from lakehouse.encodings import JAVA_NAMES
    from lakehouse.transforms.parse import _decoded

    rows, expected = [], []
    for name in JAVA_NAMES:
        sample = _SAMPLES.get(name)
        if sample is None:
            defined = [bytes([b]) for b in range(0x20, 0x100) if b != 0x7F and _decodes(bytes([b]), name)]
            data = b"".join(defined)
        else:
            data = sample.encode(name)
        rows.append((name, bytearray(data)))
        expected.append((name, data.decode(name), False))
    lines = spark.createDataFrame(rows, "encoding string, value binary")
    got = []
    for name, _ in rows:
        one = _decoded(lines.where(f"encoding = '{name}'").select(F_cast_string()), name).first()
        got.append((name, one["value"], one["_undecodable"]))
    assert got == expected


def F_cast_string():  # noqa: N802 - the lines as spark.read.text gives them: bytes as a string
    from pyspark.sql import functions as F

    return F.col("value").cast("string").alias("value")


def _decodes(data: bytes, name: str) -> bool:
    try:
        data.decode(name)
        return True
    except UnicodeDecodeError:
        return False


def test_a_header_holding_the_escape_character_is_refused_in_one_line(spark, tmp_path):
    from lakehouse.errors import LandingError
    from lakehouse.formats import read_file

    (tmp_path / "a.csv").write_text('id,na\\,me,amount\n1,x,2\n')
    with pytest.raises(LandingError, match=r"a.csv: the header holds the escape character '\\\\'; name the columns"):
        read_file(spark, _dialect_spec(escape="\\"), str(tmp_path / "a.csv"))


def _read_csv(spark, tmp_path, content: bytes, **source):
    from lakehouse.formats import read_file

    (tmp_path / "m.csv").write_bytes(content)
    counted, records = read_file(spark, _dialect_spec(**source), str(tmp_path / "m.csv"))
    rows = sorted(_rows(records), key=lambda r: r["_position"])
    assert counted.records == len(rows)  # bronze's reconciliation counts records from counted
    return counted, rows


def test_quoted_fields_hold_line_breaks(spark, tmp_path):
    """RFC 4180: a quoted field may hold line breaks (CRLF or LF; each lands as a line feed),
    blank lines, a line equal to the header, delimiters and doubled quotes; the record's lines
    after its first are counted as continuing it. A quote inside an unquoted field (12" pizza)
    opens nothing: its line alone is quarantined, as a quote out of place."""
    content = (b'id,name,amount\r\n1,"first line\r\nsecond, with ""quotes""\r\n\r\nid,name,amount\r\nend",2\r\n'
               b'2,12" pizza,3\r\n\r\n3,"' + b"y" * 100_000 + b'\nx",4\r\n')
    counted, rows = _read_csv(spark, tmp_path, content)
    assert (counted.lines, counted.blank, counted.header, counted.continued) == (10, 1, 1, 5)
    assert [r["_malformed_reason"] for r in rows] == [None, QUOTE_OUT_OF_PLACE, None]
    assert rows[0]["name"] == 'first line\nsecond, with "quotes"\n\nid,name,amount\nend' and rows[0]["amount"] == "2"
    assert rows[1]["_raw"] == '2,12" pizza,3'
    assert rows[2]["name"] == "y" * 100_000 + "\nx" and rows[2]["amount"] == "4"


def test_a_quoted_field_open_at_the_files_end_costs_only_its_own_lines(spark, tmp_path):
    """A stray quote that never closes: the lines from it to the end are each a record,
    quarantined as a quote out of place; the records before it parse."""
    content = b'id,name,amount\n1,"a\nb",2\n2,"stray,3\n3,c,4\n4,d,5\n'
    counted, rows = _read_csv(spark, tmp_path, content)
    assert counted.continued == 1
    assert [r["_malformed_reason"] for r in rows] == [None, QUOTE_OUT_OF_PLACE, None, None]
    assert [r["_raw"] for r in rows[1:2]] == ['2,"stray,3']
    assert [r["id"] for r in rows] == ["1", None, "3", "4"]


def test_a_backslash_escaped_field_holds_line_breaks(spark, tmp_path):
    content = b'id,name,amount\n1,"say \\"hi\\"\nthen, go",2\n2,b,3\n'
    counted, rows = _read_csv(spark, tmp_path, content, escape="\\")
    assert counted.continued == 1 and [r["_malformed_reason"] for r in rows] == [None, None]
    assert rows[0]["name"] == 'say "hi"\nthen, go'


def test_a_stray_quote_spanning_more_lines_than_a_record_may_is_no_field(spark, tmp_path):
    """Two stray quotes far apart would make one record of every line between them: a span of
    more than MAX_RECORD_LINES lines is not joined, each line stays a record."""
    from lakehouse.transforms.parse import MAX_RECORD_LINES

    middle = [f"{i},n{i},{i}" for i in range(MAX_RECORD_LINES + 10)]
    lines = ["id,name,amount", '1,"stray,2', *middle, 'x,"another,3', "y,z,4"]
    counted, rows = _read_csv(spark, tmp_path, ("\n".join(lines) + "\n").encode())
    assert counted.continued == 0 and len(rows) == len(lines) - 1
    assert [r["_malformed_reason"] for r in rows].count(QUOTE_OUT_OF_PLACE) == 2


def test_a_multi_byte_trail_byte_is_no_escape(spark, tmp_path):
    """cp932's ソ is 0x83 0x5C: read as bytes, its trail byte is a backslash, which would escape
    the closing quote and join the next line; quotes are found in the decoded text."""
    content = "id,name,amount\n1,\"ソ\",2\n2,b,3\n".encode("cp932")
    counted, rows = _read_csv(spark, tmp_path, content, escape="\\", encoding="cp932")
    assert counted.continued == 0 and [r["name"] for r in rows] == ["ソ", "b"]
