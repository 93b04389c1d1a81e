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
    """A quoted field holding a line break arrives as two lines: neither half is a record
    (before, the first was accepted with wrong values); nor is a line whose quote never
    closes even when its delimiters add up, nor one whose quotes sit inside a field, which a
    CSV reader splits other than the count (`1, "a,b",2`: four fields to Spark)."""
    lines = ['1,"first line', 'second line",2.50', '3,"abc,4.00', '4, "a,b",5', '"5"x,a,6']
    out = _rows(parse_csv(_lines(spark, *lines), EXPECTED, EXPECTED))
    assert [r["_malformed_reason"] for r in out] == [QUOTE_OUT_OF_PLACE] * len(lines)
    assert [r["_raw"] for r in out] == lines
    assert all(r["id"] is None and r["name"] is None for r in out)


def test_undecodable_bytes_are_malformed_not_values(spark, tmp_path):
    """Landing files are read as bytes: a byte that is not UTF-8 would be decoded into U+FFFD
    by the parser and land silently as a value. A real U+FFFD in valid UTF-8 is a value."""
    from lakehouse.layers.landing_file import read_file

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
    from lakehouse.layers.landing_file import read_file

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

    from lakehouse.layers.landing_file import read_file
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
    from lakehouse.layers.landing_file import read_file

    table = pa.Table.from_arrays([pa.array(["1"]), pa.array(["x"])], names=["id", "ID"])
    pq.write_table(table, tmp_path / "dup.parquet")
    with pytest.raises(LandingError, match=r"dup.parquet: cannot be read as Parquet \(.*\); the batch is refused"):
        read_file(spark, _spec("parquet"), str(tmp_path / "dup.parquet"))
