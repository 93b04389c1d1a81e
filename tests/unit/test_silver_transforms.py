from datetime import datetime
from decimal import Decimal

from pyspark.sql import functions as F

from lakehouse.specs import DatasetSpec
from lakehouse.transforms import silver as T

SPEC = DatasetSpec.model_validate({
    "name": "items",
    "source": {"format": "csv"},
    "columns": [
        {"name": "id", "type": "string", "required": True},
        {"name": "qty", "type": "int", "required": True},
        {"name": "price", "type": "decimal(10,2)"},
        {"name": "status", "type": "string"},
        {"name": "ts", "type": "timestamp", "required": True},
        {"name": "op", "type": "string"},
    ],
    "keys": ["id"],
    "ordering": "ts",
    "operation": {"column": "op", "delete_values": ["D"]},
    "expectations": [
        {"name": "qty_range", "type": "range", "column": "qty", "min": 1, "max": 10},
        {"name": "status_known", "type": "accepted_values", "column": "status", "values": ["a", "b"]},
        {"name": "status_not_b", "type": "expression", "expr": "status <> 'b'", "action": "warn"},
        {"name": "price_cap", "type": "range", "column": "price", "max": 100, "action": "drop"},
    ],
})
BRONZE_COLS = "id string, qty string, price string, status string, ts string, op string, " \
              "_malformed_reason string, _schema_drift string, _rescued_data string, _raw string, " \
              "_source_file string, _batch_id string"


def bronze(spark, *rows, batch="2026-01-01"):
    full = [(*r, None, None, None, None, "f.csv", batch) if len(r) == 6 else r for r in rows]
    return spark.createDataFrame(full, BRONZE_COLS)


def fates(df):
    return {r["id"]: (r["_fate"], r["_rule"]) for r in df.collect()}


def test_each_record_gets_the_first_rule_it_breaks(spark):
    df = bronze(
        spark,
        ("ok", "1", "1.00", "a", "2026-01-01 10:00:00", "I"),
        ("noqty", None, "1.00", "a", "2026-01-01 10:00:00", "I"),
        ("badqty", "x", "1.00", "a", "2026-01-01 10:00:00", "I"),
        ("big", "11", "1.00", "a", "2026-01-01 10:00:00", "I"),
        ("unknown", "1", "1.00", "z", "2026-01-01 10:00:00", "I"),
        ("pricey", "1", "101.00", "a", "2026-01-01 10:00:00", "I"),
        ("rounded", "1", "1.005", "a", "2026-01-01 10:00:00", "I"),
    )
    got = fates(T.classify(df, SPEC))
    assert got == {
        "ok": (T.CANDIDATE, None),
        "noqty": (T.QUARANTINE, "not_null:qty"),
        "badqty": (T.QUARANTINE, "type_mismatch:qty"),
        "big": (T.QUARANTINE, "qty_range"),
        "unknown": (T.QUARANTINE, "status_known"),
        "pricey": (T.DROP, "price_cap"),
        # 1.005 does not fit decimal(10,2): rejected, never silently rounded
        "rounded": (T.QUARANTINE, "type_mismatch:price"),
    }


def test_quarantined_records_keep_their_raw_text_and_reason(spark):
    df = bronze(spark, ("big", "11", "1.00", "a", "2026-01-01 10:00:00", "I"))
    row = T.classify(df, SPEC).collect()[0]
    assert row["_reason"] == "qty_range: qty = 11"
    assert '"qty":"11"' in row["_raw"]


def test_malformed_and_drift_come_first(spark):
    df = bronze(
        spark,
        (None, None, None, None, None, None, "too many fields: 7 (expected 6)", None, None, "a,b", "f.csv", "b1"),
        ("d", "1", "1", "a", "2026-01-01 10:00:00", "I", None, "unexpected column(s) x", '{"x":"1"}',
         "raw", "f.csv", "b1"),
    )
    got = [(r["_fate"], r["_rule"]) for r in T.classify(df, SPEC).orderBy("_rule").collect()]
    assert got == [(T.QUARANTINE, "malformed"), (T.FAIL, "schema_drift")]


def test_warn_rules_keep_the_record_and_are_listed(spark):
    df = bronze(spark, ("w", "1", "1.00", "b", "2026-01-01 10:00:00", "I"))
    row = T.classify(df, SPEC).collect()[0]
    assert row["_fate"] == T.CANDIDATE and row["_warnings"] == ["status_not_b"]


def test_duplicates_and_superseded_versions_within_a_batch(spark):
    df = bronze(
        spark,
        ("k", "1", "1.00", "a", "2026-01-01 10:00:00", "I"),
        ("k", "1", "1.00", "a", "2026-01-01 10:00:00", "I"),
        ("k", "2", "1.00", "a", "2026-01-01 11:00:00", "U"),
    )
    got = sorted((r["_fate"], r["qty"]) for r in T.classify(df, SPEC).collect())
    assert got == [(T.CANDIDATE, 2), (T.DUPLICATE, 1), (T.SUPERSEDED, 1)]


def _cands(spark, rows):
    """rows: (id, qty, ts, is_delete, batch)"""
    return spark.createDataFrame(
        [(i, q, None, "a", datetime.fromisoformat(t), d, b) for i, q, t, d, b in rows],
        "id string, qty int, price decimal(10,2), status string, ts timestamp, _is_delete boolean, _batch_id string",
    )


def _scd1_target(spark, rows):
    return spark.createDataFrame(
        [(i, q, None, "a", datetime.fromisoformat(t), "b0") for i, q, t in rows],
        "id string, qty int, price decimal(10,2), status string, ts timestamp, _batch_id string",
    )


def test_plan_applies_batches_in_order_against_silver(spark):
    target = _scd1_target(spark, [("old", 1, "2026-01-01 00:00:00"), ("gone", 1, "2026-01-01 00:00:00")])
    cands = _cands(spark, [
        ("new", 1, "2026-01-02 01:00:00", False, "b1"),   # insert
        ("new", 2, "2026-01-03 01:00:00", False, "b2"),   # then update
        ("old", 5, "2026-01-02 01:00:00", False, "b1"),   # update
        ("old", 9, "2025-12-31 00:00:00", False, "b2"),   # older than silver: superseded
        ("gone", 1, "2026-01-02 01:00:00", True, "b1"),   # delete
        ("gone", 2, "2026-01-03 01:00:00", False, "b2"),  # re-created after the delete: insert
        ("ghost", 1, "2026-01-02 01:00:00", True, "b1"),  # delete of an unknown key: nothing to do
    ])
    planned = T.plan_changes(cands, T.target_state_scd1(target, SPEC), SPEC)
    got = sorted((r["id"], r["_batch_id"], r["_change"]) for r in planned.collect())
    assert got == [
        ("ghost", "b1", T.SUPERSEDED), ("gone", "b1", T.DELETE), ("gone", "b2", T.INSERT),
        ("new", "b1", T.INSERT), ("new", "b2", T.UPDATE), ("old", "b1", T.UPDATE), ("old", "b2", T.SUPERSEDED),
    ]
    final = {r["id"]: (r["_final"], r["qty"]) for r in T.final_scd1(planned, SPEC).collect()}
    assert final == {"new": (T.INSERT, 2), "old": (T.UPDATE, 5), "gone": (T.UPDATE, 2)}


def test_replaying_applied_candidates_changes_nothing(spark):
    target = _scd1_target(spark, [("a", 1, "2026-01-02 00:00:00")])
    planned = T.plan_changes(_cands(spark, [("a", 1, "2026-01-02 00:00:00", False, "b1")]),
                             T.target_state_scd1(target, SPEC), SPEC)
    assert [r["_change"] for r in planned.collect()] == [T.SUPERSEDED]
    assert T.final_scd1(planned, SPEC).count() == 0


def test_scd2_versions_chain_and_close_the_current_row(spark):
    target = spark.createDataFrame(
        [("a", 1, None, "a", datetime(2026, 1, 1), datetime(2026, 1, 1), None, True, "b0")],
        "id string, qty int, price decimal(10,2), status string, ts timestamp, valid_from timestamp, "
        "valid_to timestamp, is_current boolean, _batch_id string",
    )
    cands = _cands(spark, [
        ("a", 2, "2026-01-02 00:00:00", False, "b1"),
        ("a", 3, "2026-01-03 00:00:00", True, "b2"),   # deleted: the last version closes
        ("n", 1, "2026-01-02 00:00:00", False, "b1"),
    ])
    planned = T.plan_changes(cands, T.target_state_scd2(target, SPEC), SPEC)
    rows = sorted((r["_kind"], r["id"], r["valid_from"], r["valid_to"], r["is_current"])
                  for r in T.versions_scd2(planned, SPEC).collect())
    assert rows == [
        ("close", "a", None, datetime(2026, 1, 2), None),
        ("version", "a", datetime(2026, 1, 2), datetime(2026, 1, 3), False),
        ("version", "n", datetime(2026, 1, 2), None, True),
    ]


def test_regex_and_values_need_no_escaping(spark):
    from lakehouse.specs import Expectation

    df = spark.createDataFrame([("12",), ("a1",), ("it's",), (None,)], "s string")
    digits = Expectation(name="d", type="regex", column="s", pattern=r"^\d+$")
    quoted = Expectation(name="q", type="accepted_values", column="s", values=["it's", "12"])
    got = df.select(T.expectation_violation(digits).alias("d"), T.expectation_violation(quoted).alias("q")).collect()
    assert [(r["d"], r["q"]) for r in got] == [(False, False), (True, True), (True, False), (False, False)]


def test_decimal_values_survive_typing(spark):
    df = bronze(spark, ("p", "1", "12.50", "a", "2026-01-01 10:00:00", "I"))
    assert T.classify(df, SPEC).collect()[0]["price"] == Decimal("12.50")


def test_rule_names_follow_the_rules_order():
    # fate_summary's columns are read back by these names: they must follow rules().
    all_rules = T.rules(SPEC)
    assert T.warn_rule_names(SPEC) == [r.name for r in all_rules if r.action == T.WARN] == ["status_not_b"]
    assert T.judged_rule_names(SPEC) == [r.name for r in all_rules if not r.name.startswith(T.STRUCTURAL)]


def test_delete_markers_keep_keys_and_ordering_exact_and_hold_a_deleted_key_absent(spark):
    """A marker's key and ordering value come back typed as written (microseconds, decimal
    digits, text with quotes), and a candidate older than the marker is superseded."""
    spec = DatasetSpec.model_validate({
        "name": "readings", "source": {"format": "csv"}, "keys": ["sensor", "at", "amount"], "ordering": "ts",
        "operation": {"column": "op"},
        "columns": [{"name": "sensor", "type": "string", "required": True},
                    {"name": "at", "type": "timestamp", "required": True},
                    {"name": "amount", "type": "decimal(20,6)", "required": True},
                    {"name": "ts", "type": "timestamp", "required": True}, {"name": "op", "type": "string"}],
    })
    key = ('s "1", x', datetime(2026, 1, 1, 10, 0, 0, 123456), Decimal("12345678901234.000001"))
    schema = "sensor string, at timestamp, amount decimal(20,6), ts timestamp, _is_delete boolean, _batch_id string"
    deleted = spark.createDataFrame([(*key, datetime(2026, 1, 2, 0, 0, 0, 7), True, "b1")], schema)
    empty = spark.createDataFrame([], "sensor string, at timestamp, amount decimal(20,6), _t_exists boolean, "
                                      "_t_last timestamp")
    planned = T.plan_changes(deleted, empty, spec)
    written = T.new_markers(planned, spec).collect()
    assert [(r["ordering_column"], r["ordering"], r["batch_id"]) for r in written] == [
        ("ts", "2026-01-02 00:00:00.000007Z", "b1")]
    markers = T.marker_state(spark.createDataFrame(written), spec)
    assert [tuple(r) for r in markers.collect()] == [(*key, datetime(2026, 1, 2, 0, 0, 0, 7))]
    later = spark.createDataFrame([(*key, datetime(2026, 1, 2), False, "b2"),
                                   ('s "1", x', key[1], Decimal("12345678901234"), datetime(2026, 1, 2), False, "b2")],
                                  schema)
    got = {r["amount"]: r["_change"] for r in T.plan_changes(later, empty, spec, markers).collect()}
    assert got == {key[2]: T.SUPERSEDED, Decimal("12345678901234"): T.INSERT}


def test_a_stored_marker_key_matches_after_its_decimal_key_widened_or_the_keys_reordered(spark):
    """The markers' MERGE matches a stored key by its value, not its old text."""
    def spec(keys, amount_type):
        return DatasetSpec.model_validate({
            "name": "r", "source": {"format": "csv"}, "keys": keys, "ordering": "ts",
            "columns": [{"name": "sensor", "type": "string", "required": True},
                        {"name": "amount", "type": amount_type, "required": True},
                        {"name": "ts", "type": "timestamp", "required": True}]})

    old, new = spec(["sensor", "amount"], "decimal(10,2)"), spec(["amount", "sensor"], "decimal(12,4)")
    row = spark.createDataFrame([("s1", Decimal("12.50"))], "sensor string, amount decimal(10,2)")
    stored = row.select(T.marker_key(old).alias("key"))
    assert stored.first()["key"] == '{"sensor":"s1","amount":12.50}'
    widened = row.select(F.col("sensor"), F.col("amount").cast("decimal(12,4)")).select(T.marker_key(new).alias("k"))
    assert stored.select(F.expr(T.normalized_marker_key_sql("key", new))).first()[0] == widened.first()["k"]


def test_arrival_order_sorts_by_batch_then_file_path_then_read_time_then_place(spark):
    """As text, in the order of (batch, path, read at, position) tuples: a path that begins
    another first, spaces in paths, a file read again later after its first reading, and
    positions of different lengths."""
    first, again = datetime(2026, 1, 2, 10, 0, 0, 5), datetime(2026, 1, 2, 10, 0, 1)
    places = [("2026-01-02", "s3a://l/a.csv", first, 0), ("2026-01-01", "s3a://l/a.csv.gz", first, 3),
              ("2026-01-01", "s3a://l/a b.csv", first, 7), ("2026-01-01", "s3a://l/a.csv", first, 10),
              ("2026-01-01", "s3a://l/a.csv", first, 9), ("2026-01-01", "s3a://l/a", first, 2**40),
              ("2026-01-01", "s3a://l/a.csv", again, 1)]
    df = spark.createDataFrame(places, "_batch_id string, _source_file string, _ingested_at timestamp, "
                                       "_position bigint")
    ordered = [(r[0], r[1], r[2], r[3]) for r in df.orderBy(T.arrival_order()).collect()]
    assert ordered == sorted(places)
def test_a_snapshot_deletes_against_every_key_held_since_the_last_whole_snapshot(spark):
    """Silver holds S; the run applies day 1 (AA, UA: whole), day 2 (AA and a line without a
    key: not whole, deletes nothing) and day 3 (AA: whole). Day 3 deletes UA, held since day
    1, and S is deleted by day 1 only; as if each day ran alone."""
    spec = DatasetSpec.model_validate({"name": "c", "source": {"format": "csv"}, "mode": "snapshot", "keys": ["k"],
                                       "columns": [{"name": "k", "type": "string", "required": True},
                                                   {"name": "v", "type": "string"}]})
    days = ["2026-01-01", "2026-01-02", "2026-01-03"]
    classified = spark.createDataFrame([("AA", days[0]), ("UA", days[0]), ("AA", days[1]), (None, days[1]),
                                        ("AA", days[2])], "k string, _batch_id string")
    held = spark.createDataFrame([("S",)], "k string")
    deleted = T.absent_keys(classified, held, spec, days, complete=[days[0], days[2]])
    assert sorted((r["_batch_id"], r["k"]) for r in deleted.collect()) == [(days[0], "S"), (days[2], "UA")]
    # No whole snapshot in the run: nothing is absent.
    assert T.absent_keys(classified, held, spec, days, complete=[]).count() == 0
