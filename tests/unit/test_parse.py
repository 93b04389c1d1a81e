from lakehouse.transforms.parse import parse_csv, parse_jsonl, split_csv_header

EXPECTED = ["id", "name", "amount"]


def _lines(spark, *lines):
    return spark.createDataFrame([(ln,) for ln in lines], "value string")


def _rows(df):
    return [r.asDict() for r in df.collect()]


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
    out = _rows(parse_jsonl(_lines(spark, '{"id": 1, "name": "a", "amount": 12.5}', '{"id": 2, "na', "[1,2]"), EXPECTED))
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
