"""The spec's rules judged by Great Expectations on small in-line DataFrames: GX's counts per
rule equal the router's (transforms.silver), including the rules judged on a derived column
(foreign key, row-count change, SQL expression)."""

from __future__ import annotations

from lakehouse.quality import checks as Q
from lakehouse.quality.gate import QualityGate
from lakehouse.rules.row_count_change import batch_changes
from lakehouse.specs import DatasetSpec, GoldSpec
from lakehouse.transforms import silver as T

ORDERS = DatasetSpec.model_validate({
    "name": "orders",
    "source": {"format": "csv"},
    "columns": [
        {"name": "id", "type": "string", "required": True},
        {"name": "customer", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "ts", "type": "timestamp", "required": True},
    ],
    "keys": ["id"],
    "ordering": "ts",
    "expectations": [
        {"name": "customer_exists", "type": "foreign_key", "column": "customer", "references": "customers.cid"},
        {"name": "qty_small", "type": "range", "column": "qty", "max": 5},
        {"name": "qty_even", "type": "expression", "expr": "qty % 2 = 0", "action": "warn"},
        {"name": "volume", "type": "row_count_change", "max_change": 0.5, "action": "warn"},
    ],
})
COLS = "id string, customer string, qty string, ts string, _malformed_reason string, _schema_drift string, " \
       "_rescued_data string, _raw string, _source_file string, _batch_id string"


def _bronze(spark, rows, batch):
    return spark.createDataFrame([(*r, "2026-01-01 10:00:00", None, None, None, None, "f.csv", batch)
                                  for r in rows], COLS)


def test_gx_counts_equal_the_routers_for_every_rule(spark, tmp_path):
    day1 = _bronze(spark, [("a", "c1", "2"), ("b", "c9", "2"), ("c", "c1", "7"), ("d", "c9", "9")], "2026-01-01")
    day2 = _bronze(spark, [("e", "c1", "2"), ("f", None, "3")], "2026-01-02")
    customers = spark.createDataFrame([("c1",), ("c2",)], "cid string")
    # Each batch's records as bronze counted them: day 2 shrank by 51%, past volume's 50%.
    batch_rows = {"2026-01-01": 100, "2026-01-02": 49}
    classified = T.classify(day1.unionByName(day2), ORDERS, {"customer_exists": customers},
                            batch_changes(batch_rows))
    fates = {r["id"]: (r["_fate"], r["_rule"], list(r["_warnings"])) for r in classified.collect()}
    assert fates["b"] == (T.QUARANTINE, "customer_exists", [])
    assert fates["d"] == (T.QUARANTINE, "customer_exists", [])  # its first broken rule; qty_small too
    assert fates["c"] == (T.QUARANTINE, "qty_small", [])
    assert fates["f"] == (T.CANDIDATE, None, ["qty_even", "volume"])  # a null customer is no orphan

    checks = Q.silver_checks(ORDERS)
    evidence = Q.Evidence(references={"customer_exists": customers}, batch_rows=batch_rows)
    validation = QualityGate(tmp_path).validate("silver", "silver.orders", "batches 2026-01-01,2026-01-02",
                                                Q.judged(classified.where(T.is_parsed()), checks, evidence), checks)
    judged = validation.unexpected()
    assert judged == T.violation_counts(classified, ORDERS)
    assert judged == {"not_null:id": 0, "not_null:ts": 0, "customer_exists": 2, "qty_small": 2, "qty_even": 3,
                      "volume": 2}
    outcomes = {r.rule: r.outcome for r in validation.results}
    assert outcomes == {"not_null:id": "passed", "not_null:ts": "passed", "customer_exists": "quarantined",
                        "qty_small": "quarantined", "qty_even": "warned", "volume": "warned"}
    assert {r.element_count for r in validation.results} == {6}
    assert validation.docs_page.endswith(".html")


def test_gold_keys_must_be_present_and_unique(spark, tmp_path):
    spec = GoldSpec.model_validate({"name": "g", "sources": ["orders"], "keys": ["day", "country"], "sql": "SELECT 1",
                                    "expectations": [{"name": "revenue_not_negative", "type": "range",
                                                      "column": "revenue", "min": 0, "action": "fail"}]})
    rows = spark.createDataFrame([("d1", "DE", 1.0), ("d1", "DE", 2.0), ("d1", None, -1.0), ("d2", "FR", 3.0)],
                                 "day string, country string, revenue double")
    checks = Q.gold_checks(spec)
    validation = QualityGate(tmp_path).validate("gold", "gold.g", "x", Q.judged(rows, checks), checks)
    assert {r.rule: r.unexpected_count for r in validation.failed("fail")} == \
        {"not_null:country": 1, "keys_unique": 2, "revenue_not_negative": 1}


def test_gx_state_a_file_context_left_behind_is_never_read(spark, tmp_path):
    """A home whose GX file context holds a validation definition pointing at an asset its data
    source no longer has (what a run with GX's Spark engine left for the next): the gate keeps
    no such state, so it validates, stores the result and builds the Data Docs beside it."""
    import great_expectations as gx

    ctx = gx.get_context(mode="file", project_root_dir=str(tmp_path))
    judged = ctx.data_sources.add_or_update_spark("lakehouse", persist=False).add_dataframe_asset("silver.t") \
        .add_batch_definition_whole_dataframe("judged")
    suite = ctx.suites.add(gx.ExpectationSuite(name="silver.t"))
    ctx.validation_definitions.add(gx.ValidationDefinition(name="silver.t", data=judged, suite=suite))
    ctx.data_sources.add_or_update_spark("lakehouse", persist=False)  # the asset is gone: the definition is stale

    spec = GoldSpec.model_validate({"name": "t", "sources": ["orders"], "keys": ["k"], "sql": "SELECT 1"})
    checks = Q.gold_checks(spec)
    rows = spark.createDataFrame([("a",), ("b",)], "k string")
    gate = QualityGate(tmp_path, pandas_max_rows=0)  # GX's Spark engine, as the run that left the state
    for _ in range(2):
        validation = gate.validate("silver", "silver.t", "x", Q.judged(rows, checks), checks)
        assert validation.engine == "spark" and all(r.success for r in validation.results)
    gate.pandas_max_rows = 10
    assert gate.validate("silver", "silver.t", "x", Q.judged(rows, checks), checks).engine == "pandas"
    gate.build_docs()
    assert gate.docs_index.is_file() and "silver.t" in gate.docs_index.read_text()
    assert len(list((tmp_path / "gx" / "uncommitted" / "validations").rglob("*.json"))) == 3


def test_when_the_judges_disagree_the_error_says_where(spark, tmp_path, monkeypatch):
    """A check whose GX expectation is not the router's rule (max 100 against the spec's 5):
    the error names the rule, the column and five disputed values with both verdicts; the run
    log lists all of them."""
    import great_expectations.expectations as gxe
    import pytest

    from lakehouse.errors import AccountingError
    from lakehouse.layers import silver

    spec = DatasetSpec.model_validate({
        "name": "orders", "source": {"format": "csv"}, "keys": ["id"], "ordering": "ts",
        "columns": [{"name": "id", "type": "string", "required": True}, {"name": "customer", "type": "string"},
                    {"name": "qty", "type": "int"}, {"name": "ts", "type": "timestamp", "required": True}],
        "expectations": [{"name": "qty_small", "type": "range", "column": "qty", "max": 5}]})
    classified = T.classify(_bronze(spark, [(f"o{q}", "c1", str(q)) for q in range(2, 14)], "2026-01-01"), spec)
    lenient = Q.Check("qty_small", T.QUARANTINE, gxe.ExpectColumnValuesToBeBetween(
        column="qty", max_value=100, meta={"rule": "qty_small", "action": T.QUARANTINE}))
    monkeypatch.setattr(Q, "silver_checks", lambda s: [lenient])
    log = tmp_path / "logs" / "run-1.log"
    with pytest.raises(AccountingError) as err:
        silver._validate(QualityGate(tmp_path), classified, spec, "batches 2026-01-01",
                         {"qty_small": 8}, Q.Evidence(), log)
    assert str(err.value) == (
        "silver.orders: Great Expectations found 0 record(s) breaking qty_small, the router 8; column qty, "
        "5 of 8 disputed value(s): 6: router breaks, Great Expectations passes; "
        "7: router breaks, Great Expectations passes; 8: router breaks, Great Expectations passes; "
        "9: router breaks, Great Expectations passes; 10: router breaks, Great Expectations passes; "
        f"every one in the run log {log}; nothing was written")
    lines = log.read_text().splitlines()
    assert len(lines) == 9 and lines[-1].endswith("silver.orders: rule qty_small, column qty: "
                                                  "13: router breaks, Great Expectations passes")


def test_disputes_compare_values_across_engines_types():
    from decimal import Decimal

    import numpy as np

    from lakehouse.quality.disputes import disputes

    listed = disputes([Decimal("9999.99"), 5, None], [np.int64(5), float("nan"), Decimal("10000.00")])
    assert [str(d) for d in listed] == ["9999.99: router breaks, Great Expectations passes",
                                        "10000.00: router passes, Great Expectations breaks"]


def test_derived_rules_are_judged_apart_from_the_router(spark, tmp_path):
    """GX's foreign key, row-count change and expression are computed from their own evidence,
    not from the router's columns: evidence that differs from what the router was given (a
    customer the referenced table holds after all, another count of the previous batch) makes
    the two judges disagree, which the silver layer turns into an error."""
    rows = _bronze(spark, [("a", "c1", "2"), ("b", "c9", "4")], "2026-01-02")
    classified = T.classify(rows, ORDERS, {"customer_exists": spark.createDataFrame([("c1",)], "cid string")},
                            batch_changes({"2026-01-01": 2, "2026-01-02": 2}))
    parsed = classified.where(T.is_parsed())
    checks = Q.silver_checks(ORDERS)
    other = Q.Evidence(references={"customer_exists": spark.createDataFrame([("c1",), ("c9",)], "cid string")},
                       batch_rows={"2026-01-01": 10, "2026-01-02": 2})
    judged = QualityGate(tmp_path).validate("silver", "silver.orders", "x", Q.judged(parsed, checks, other),
                                            checks).unexpected()
    router = T.violation_counts(classified, ORDERS)
    assert (router["customer_exists"], judged["customer_exists"]) == (1, 0)
    assert (router["volume"], judged["volume"]) == (0, 2)
    assert router["qty_even"] == judged["qty_even"] == 0


def test_gx_used_while_its_preload_imports_it_waits_for_that_import():
    """In a new process (this one has GX already): the checks of every dataset built at once
    after preload (GX's expectations and the exact range) wait for the preload's import, the
    one started (a second preload starts none). Two threads importing GX at once failed: a
    module half-imported by the other ("partially initialized module")."""
    import subprocess
    import sys

    from lakehouse.config import PROJECT_ROOT

    script = ("import threading; from lakehouse.config import PROJECT_ROOT; from lakehouse.quality import checks, "
              "gx_import; from lakehouse.specs import load_catalog\n"
              "catalog = load_catalog(PROJECT_ROOT / 'pipelines')\n"
              "gx_import.preload(); gx_import.preload()\n"
              "loading = [t for t in threading.enumerate() if t.name == 'import-great-expectations']\n"
              "built = [c for spec in catalog.datasets.values() for c in checks.silver_checks(spec)]\n"
              "print(len(loading), len(built))")
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
    assert ran.returncode == 0, ran.stderr[-2000:]
    started, built = ran.stdout.split()
    assert started == "1" and int(built) > 0, ran.stdout
