"""Views over the ops tables that the "Data quality" dashboard reads (and anyone can query
through the Thrift server or `lakehouse sql`): each answers one question a data steward asks,
computed from ops.audit, ops.validations, ops.quarantine and ops.dqops_checks, so the numbers a chart shows are
the ops tables' own. One view, ops.volume, follows the specs: the band of each dataset's
`row_count_change` rule.

A run (re)creates them when their definitions change; the definitions' hash is kept on the
last view, so a run whose specs did not change costs one catalog lookup (the embedded
lakehouse's catalog lasts one session: each session creates them, see lakehouse.embedded_catalog).

Pure text, except `ensure_views`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from lakehouse.config import OPS, SILVER
from lakehouse.runs import REPLAY
from lakehouse.specs import Catalog

HASH_PROPERTY = "lakehouse.views_hash"

# Every silver step that completed, the latest per dataset and batch (a retried batch's last
# word, as the ledger reads it).
_SILVER_BATCHES = f"""
    SELECT *, substring_index(table_name, '.', -1) AS dataset, to_date(batch_id) AS batch_date
    FROM (SELECT *, row_number() OVER (PARTITION BY table_name, batch_id ORDER BY started_at DESC) AS nth
          FROM {OPS}.audit WHERE layer = 'silver' AND status = 'ok' AND batch_id IS NOT NULL)
    WHERE nth = 1 AND table_name LIKE '{SILVER}.%'"""
# The rule breaks a step's records only warned about (a record breaking two rules counts twice).
_WARNED = "coalesce(aggregate(map_values(warnings), CAST(0 AS BIGINT), (total, n) -> total + n), 0)"
# Where each record read went. A gold build's `deleted` counts rows it removed from the
# table, not rows it read: it is no outcome of a read record there.
_OUTCOMES = ("inserted + updated + quarantined + dropped + duplicates + superseded"
             " + CASE WHEN layer = 'gold' THEN 0 ELSE deleted END")


@dataclass(frozen=True)
class View:
    name: str
    description: str
    time_column: str | None
    columns: tuple[tuple[str, str, str], ...]  # name, Spark SQL type, meaning
    sql: str

    @property
    def fqname(self) -> str:
        return f"{OPS}.{self.name}"


def _quality_by_batch() -> View:
    return View("quality_by_batch", "Per dataset and landing batch: the share of records that passed every rule "
                "that holds records back (quarantine, drop) on their way into silver, counting those a replay "
                "(lakehouse reprocess) let out of quarantine.", "batch_date", (
                    ("dataset", "string", "the dataset"),
                    ("batch_date", "date", "the landing batch"),
                    ("rows_read", "bigint", "records read from bronze"),
                    ("quarantined", "bigint", "records a rule quarantined"),
                    ("dropped", "bigint", "records a rule dropped"),
                    ("warned", "bigint", "rule breaks that only warned (a record breaking two rules counts twice)"),
                    ("passed", "bigint", "records no rule held back"),
                    ("passed_share", "double", "passed / rows_read"),
                ), f"""
    SELECT dataset, batch_date, rows_read, quarantined, dropped, warned, rows_read - quarantined - dropped AS passed,
           CASE WHEN rows_read > 0 THEN (rows_read - quarantined - dropped) / rows_read END AS passed_share
    FROM (SELECT s.dataset, s.batch_date, s.rows_read,
                 -- what a replay since the batch's silver step let out of quarantine, and what of it
                 -- a rule dropped or warned about
                 s.quarantined - coalesce(SUM(r.rows_read - r.quarantined), 0) AS quarantined,
                 s.dropped + coalesce(SUM(r.dropped), 0) AS dropped,
                 s.warned + coalesce(SUM({_WARNED.replace("warnings", "r.warnings")}), 0) AS warned
          FROM (SELECT table_name, batch_id, started_at, dataset, batch_date, rows_read, quarantined, dropped,
                       {_WARNED} AS warned
                FROM ({_SILVER_BATCHES})) s
          LEFT JOIN {OPS}.audit r ON r.layer = '{REPLAY}' AND r.status = 'ok' AND r.table_name = s.table_name
                                 AND r.batch_id = s.batch_id AND r.started_at > s.started_at
          GROUP BY s.dataset, s.batch_date, s.rows_read, s.quarantined, s.dropped, s.warned)""")


def _broken_rules() -> View:
    return View("broken_rules", "The rules each table broke in its latest validated run (a replay of "
                "quarantined records aside): how many rows broke them and what the rule did with them.",
                "validated_at", (
                    ("table_name", "string", "the validated table"),
                    ("rule", "string", "the spec's expectation"),
                    ("action", "string", "what the rule does with rows that break it: warn, drop, quarantine or fail"),
                    ("rows_breaking", "bigint", "rows that broke it in that run"),
                    ("rows_judged", "bigint", "rows it judged in that run"),
                    ("run_id", "string", "the table's latest validated run"),
                    ("validated_at", "timestamp", "when"),
                ), f"""
    SELECT v.table_name, v.rule, v.action, SUM(v.unexpected_count) AS rows_breaking,
           SUM(v.element_count) AS rows_judged, v.run_id, MAX(v.validated_at) AS validated_at
    FROM {OPS}.validations v
    JOIN (SELECT table_name, max_by(run_id, validated_at) AS run_id FROM {OPS}.validations
          WHERE layer <> '{REPLAY}' GROUP BY table_name) l
      ON v.table_name = l.table_name AND v.run_id = l.run_id
    WHERE NOT v.success AND v.layer <> '{REPLAY}'
    GROUP BY v.table_name, v.rule, v.action, v.run_id""")


def _quarantine_by_rule() -> View:
    return View("quarantine_by_rule", "Quarantined records by dataset and rule, with the latest one's reason and "
                "raw text (a reason names the record's value, so records rarely share one).", "last_quarantined_at", (
                    ("dataset", "string", "the dataset"),
                    ("rule", "string", "the rule (or parse check) the records broke"),
                    ("rows_quarantined", "bigint", "records held back for it"),
                    ("batches", "bigint", "landing batches they came in"),
                    ("sample_reason", "string", "why the latest of them was held back"),
                    ("sample_raw", "string", "that record: the line as it landed if it did not parse, else its "
                                             "fields as JSON"),
                    ("last_quarantined_at", "timestamp", "when"),
                ), f"""
    SELECT dataset, rule, COUNT(*) AS rows_quarantined, COUNT(DISTINCT batch_id) AS batches,
           max_by(reason, struct(quarantined_at, raw)) AS sample_reason,
           max_by(raw, struct(quarantined_at, raw)) AS sample_raw, MAX(quarantined_at) AS last_quarantined_at
    FROM {OPS}.quarantine GROUP BY dataset, rule""")


def _freshness() -> View:
    return View("freshness", "Per dataset: the last landing batch silver applied, how many days ago that "
                "batch's day was, and when it was loaded.", "last_loaded_at", (
                    ("dataset", "string", "the dataset"),
                    ("last_batch", "date", "the newest batch silver applied"),
                    ("lag_days", "int", "days from that batch to today (UTC)"),
                    ("last_loaded_at", "timestamp", "when silver last applied a batch"),
                ), f"""
    SELECT dataset, MAX(batch_date) AS last_batch, datediff(current_date(), MAX(batch_date)) AS lag_days,
           MAX(started_at) AS last_loaded_at
    FROM ({_SILVER_BATCHES}) GROUP BY dataset""")


def band(catalog: Catalog) -> dict[str, float]:
    """Per dataset with a row_count_change rule, the largest change its rules allow (the
    narrowest band, if a spec declares two)."""
    out: dict[str, float] = {}
    for name, spec in catalog.datasets.items():
        for e in spec.expectations:
            if e.type == "row_count_change":
                out[name] = min(out.get(name, float(e.max_change)), float(e.max_change))
    return out


def _volume(catalog: Catalog) -> View:
    bands = sorted(band(catalog).items())
    values = ", ".join(f"('{name}', {change!r})" for name, change in bands)
    rows = (f"(SELECT dataset, CAST(max_change AS DOUBLE) AS max_change FROM VALUES {values} "
            "AS bands(dataset, max_change))" if bands
            else "(SELECT CAST(NULL AS STRING) AS dataset, CAST(NULL AS DOUBLE) AS max_change WHERE false)")
    return View("volume", "Records per landing batch and dataset, against the band of the dataset's "
                "row_count_change rule (its spec): the previous batch's count, plus or minus max_change.",
                "batch_date", (
                    ("dataset", "string", "the dataset"),
                    ("batch_date", "date", "the landing batch"),
                    ("rows_read", "bigint", "records in the batch"),
                    ("previous_rows", "bigint", "records in the batch before it"),
                    ("max_change", "double", "the spec's largest relative change (none: the dataset has no band)"),
                    ("band_low", "double", "previous_rows * (1 - max_change)"),
                    ("band_high", "double", "previous_rows * (1 + max_change)"),
                    ("outside_band", "boolean", "whether rows_read left the band (the rule then acted)"),
                ), f"""
    SELECT v.dataset, v.batch_date, v.rows_read, v.previous_rows, b.max_change,
           v.previous_rows * (1 - b.max_change) AS band_low, v.previous_rows * (1 + b.max_change) AS band_high,
           CASE WHEN v.previous_rows > 0 AND b.max_change IS NOT NULL
                THEN abs(v.rows_read / v.previous_rows - 1) > b.max_change END AS outside_band
    FROM (SELECT dataset, batch_date, rows_read,
                 lag(rows_read) OVER (PARTITION BY dataset ORDER BY batch_date) AS previous_rows
          FROM ({_SILVER_BATCHES})) v
    LEFT JOIN {rows} b ON v.dataset = b.dataset""")


def _accounting() -> View:
    return View("accounting", "Per run: every record read against where each went (gold: the rows a build "
                "computed against those it wrote or left unchanged). rows_unaccounted is 0 when the run's accounting "
                "closes.", "started_at", (
                    ("run_id", "string", "the run (lakehouse run or one Airflow task's job)"),
                    ("started_at", "timestamp", "its first step"),
                    ("steps", "bigint", "table steps it recorded"),
                    ("steps_not_ok", "bigint", "steps that stopped"),
                    ("rows_read", "bigint", "records read, every layer"),
                    ("rows_accounted", "bigint", "records counted in an outcome column"),
                    ("rows_unaccounted", "bigint", "rows_read - rows_accounted"),
                ), f"""
    SELECT run_id, MIN(started_at) AS started_at, COUNT(*) AS steps,
           SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS steps_not_ok,
           SUM(rows_read) AS rows_read, SUM({_OUTCOMES}) AS rows_accounted,
           SUM(rows_read) - SUM({_OUTCOMES}) AS rows_unaccounted
    FROM {OPS}.audit GROUP BY run_id""")


def _dqops_latest() -> View:
    return View("dqops_latest", "DQOps's latest result of every check of every table, as the medallion DAG's "
                "dqops_results task copied it into ops.dqops_checks.", "executed_at", (
                    ("table_name", "string", "the checked table"),
                    ("column_name", "string", "the column a column check judges (none: a table check)"),
                    ("check_name", "string", "DQOps's check"),
                    ("category", "string", "DQOps's category: volume, timeliness, schema, nulls, ..."),
                    ("severity", "string", "valid, warning, error, fatal or execution_error"),
                    ("severity_rank", "int", "0 valid to 4 an execution error: problems first"),
                    ("executed_at", "timestamp", "when DQOps ran it"),
                ), f"""
    SELECT table_name, column_name, check_name, category, severity,
           CASE severity WHEN 'valid' THEN 0 WHEN 'warning' THEN 1 WHEN 'error' THEN 2 WHEN 'fatal' THEN 3
                ELSE 4 END AS severity_rank, executed_at
    FROM (SELECT *, row_number() OVER (PARTITION BY table_name, column_name, check_name
                                       ORDER BY executed_at DESC) AS nth
          FROM {OPS}.dqops_checks)
    WHERE nth = 1""")


def views(catalog: Catalog) -> list[View]:
    return [_quality_by_batch(), _broken_rules(), _quarantine_by_rule(), _freshness(), _volume(catalog),
            _accounting(), _dqops_latest()]


def definitions_hash(catalog: Catalog) -> str:
    return hashlib.sha256("\n".join(v.sql for v in views(catalog)).encode()).hexdigest()[:16]


def _current_hash(spark, fqname: str) -> str | None:
    if not spark.catalog.tableExists(fqname):
        return None
    rows = spark.sql(f"SHOW TBLPROPERTIES {fqname} ('{HASH_PROPERTY}')").collect()
    return rows[0][1] if rows else None


def ensure_views(spark, catalog: Catalog) -> None:
    """Create or replace the views when their definitions changed (the ops tables exist)."""
    wanted = views(catalog)
    digest = definitions_hash(catalog)
    if _current_hash(spark, wanted[-1].fqname) == digest:
        return
    for view in wanted:
        # The hash goes last, on the last view: a run stopped midway replaces them all next time.
        properties = f" TBLPROPERTIES ('{HASH_PROPERTY}' = '{digest}')" if view is wanted[-1] else ""
        comment = view.description.replace("'", "\\'")
        spark.sql(f"CREATE OR REPLACE VIEW {view.fqname} COMMENT '{comment}'{properties} AS {view.sql}")
