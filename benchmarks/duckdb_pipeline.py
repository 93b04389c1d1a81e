"""The platform's bronze -> silver -> gold, written by hand in DuckDB SQL.

The baseline of the benchmark "the platform's pipeline vs the best single-node engine": the
same landing files in, the same gold tables out (pipelines/gold/*.yaml, column for column and
type for type), under the same rules (pipelines/datasets/*.yaml). It is written the way one
would for DuckDB, not ported from the Spark code: each dataset's landing files are read in one
scan, and silver is rebuilt in full with window functions instead of being merged batch by
batch (one batch = one day folder).

A full rebuild reaches the state the platform's batch-by-batch MERGEs leave, because a batch's
change to a key applies only if it is newer (by `updated_at`) than everything earlier batches
said about that key; so, per key:
- within a batch, exact copies are duplicates and older versions are superseded: the newest
  version is the batch's change;
- across batches, the changes that apply are the batch changes newer than all earlier ones
  (a late, older version is superseded; a delete of a key that is not there does nothing);
- SCD1 silver holds the last applied change unless it is a delete; SCD2 silver (customers)
  holds one version per applied non-delete change, valid until the next applied change.

Run:  python -m benchmarks.duckdb_pipeline --landing DIR [--db FILE] [--threads N]
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

COUNTRIES = "'DE', 'FR', 'GB', 'US', 'ES', 'IT', 'NL', 'PL', 'SE', 'BR'"
SEGMENTS = "'consumer', 'small_business', 'enterprise'"
CATEGORIES = "'electronics', 'books', 'home', 'garden', 'toys', 'sports', 'fashion', 'beauty'"
BATCH_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PipelineError(Exception):
    """The input cannot be loaded as the platform would load it (it would stop too)."""


@dataclass(frozen=True)
class Dataset:
    """One landing dataset: its columns as landed (all arrive as text) and their DuckDB types,
    its key, and its rules. `rules` are (name, action, SQL true when a row breaks the rule)
    over the typed columns, in the order the spec declares them; the first broken blocking
    rule is the record's fate. Warn rules only count."""

    name: str
    format: str  # csv | jsonl
    columns: dict[str, str]
    required: tuple[str, ...]
    keys: tuple[str, ...]
    rules: tuple[tuple[str, str, str], ...]
    scd2: bool = False
    ordering: str = "updated_at"
    delete_when: str = "op = 'D'"  # the CDC column: every other value is an upsert

    @property
    def data_columns(self) -> list[str]:
        """What silver keeps: everything but the CDC operation column."""
        return [c for c in self.columns if c != "op"]


# Referenced datasets first: orders' foreign key is checked against silver.customers.
DATASETS = (
    Dataset(
        "customers", "csv",
        {"customer_id": "VARCHAR", "email": "VARCHAR", "full_name": "VARCHAR", "country": "VARCHAR",
         "segment": "VARCHAR", "signup_date": "DATE", "updated_at": "TIMESTAMP", "op": "VARCHAR"},
        required=("customer_id", "email", "country", "updated_at"),
        keys=("customer_id",),
        rules=(
            ("country_is_known", "quarantine", f"country NOT IN ({COUNTRIES})"),
            ("segment_is_known", "quarantine", f"segment NOT IN ({SEGMENTS})"),
            ("email_is_plausible", "warn", "NOT regexp_matches(email, '^[^@ ]+@[^@ ]+$')"),
        ),
        scd2=True,
    ),
    Dataset(
        "products", "jsonl",
        {"product_id": "VARCHAR", "name": "VARCHAR", "category": "VARCHAR", "price": "DECIMAL(10,2)",
         "updated_at": "TIMESTAMP", "op": "VARCHAR"},
        required=("product_id", "name", "category", "price", "updated_at"),
        keys=("product_id",),
        rules=(("price_is_positive", "quarantine", "price NOT BETWEEN 0.01 AND 100000"),),
    ),
    Dataset(
        "orders", "csv",
        {"order_id": "VARCHAR", "customer_id": "VARCHAR", "order_ts": "TIMESTAMP", "status": "VARCHAR",
         "ship_country": "VARCHAR", "updated_at": "TIMESTAMP", "op": "VARCHAR"},
        required=("order_id", "customer_id", "order_ts", "status", "ship_country", "updated_at"),
        keys=("order_id",),
        rules=(
            ("status_is_known", "quarantine",
             "status NOT IN ('placed', 'paid', 'shipped', 'delivered', 'cancelled')"),
            ("ship_country_is_known", "quarantine", f"ship_country NOT IN ({COUNTRIES})"),
            # Against every customer silver has ever held (its SCD2 history), so an order of a
            # customer who was later forgotten stays valid. `_ref_customer` is joined in below.
            ("customer_exists", "quarantine", "customer_id IS NOT NULL AND _ref_customer IS NULL"),
            # A day with far more or fewer records than the day before: worth a look, not a stop.
            ("volume_within_bounds", "warn", "abs(_batch_change) > 0.5"),
        ),
    ),
    Dataset(
        "order_items", "jsonl",
        {"order_id": "VARCHAR", "line_no": "INTEGER", "product_id": "VARCHAR", "quantity": "INTEGER",
         "unit_price": "DECIMAL(10,2)", "updated_at": "TIMESTAMP", "op": "VARCHAR"},
        required=("order_id", "line_no", "product_id", "quantity", "unit_price", "updated_at"),
        keys=("order_id", "line_no"),
        rules=(
            ("quantity_in_range", "quarantine", "quantity NOT BETWEEN 1 AND 100"),
            ("unit_price_is_positive", "quarantine", "unit_price NOT BETWEEN 0.01 AND 100000"),
        ),
    ),
)

# Joins a dataset's rules need beyond the row itself (`typed` is the typed bronze relation).
REFERENCES = {
    "orders": "LEFT JOIN (SELECT DISTINCT customer_id AS _ref_customer FROM silver.customers) ref "
              "ON ref._ref_customer = typed.customer_id",
}

GOLD = {
    "customer_lifetime_value": """
        SELECT c.customer_id,
               c.country,
               c.segment,
               COUNT(DISTINCT o.order_id)                                        AS orders,
               CAST(COALESCE(SUM(i.quantity * i.unit_price), 0) AS DECIMAL(18,2)) AS lifetime_value,
               MIN(o.order_ts)                                                   AS first_order_ts,
               MAX(o.order_ts)                                                   AS last_order_ts
        FROM silver.customers c
        LEFT JOIN silver.orders o      ON o.customer_id = c.customer_id AND o.status <> 'cancelled'
        LEFT JOIN silver.order_items i ON i.order_id = o.order_id
        WHERE c.is_current
        GROUP BY c.customer_id, c.country, c.segment""",
    "daily_revenue": """
        SELECT CAST(o.order_ts AS DATE)                               AS order_date,
               p.category                                             AS category,
               o.ship_country                                         AS country,
               CAST(SUM(i.quantity * i.unit_price) AS DECIMAL(18,2))  AS revenue,
               COUNT(DISTINCT o.order_id)                             AS orders,
               CAST(SUM(i.quantity) AS BIGINT)                        AS units
        FROM silver.orders o
        JOIN silver.order_items i ON i.order_id = o.order_id
        JOIN silver.products p    ON p.product_id = i.product_id
        WHERE o.status <> 'cancelled'
        GROUP BY CAST(o.order_ts AS DATE), p.category, o.ship_country""",
    "product_performance": """
        SELECT p.product_id,
               p.name,
               p.category,
               p.price                                                           AS list_price,
               CAST(COALESCE(SUM(s.quantity), 0) AS BIGINT)                      AS units_sold,
               CAST(COALESCE(SUM(s.quantity * s.unit_price), 0) AS DECIMAL(18,2)) AS revenue,
               COUNT(DISTINCT s.order_id)                                        AS orders,
               decimal_avg(SUM(s.unit_price), COUNT(s.unit_price))               AS avg_selling_price
        FROM silver.products p
        LEFT JOIN (
          SELECT i.product_id, i.order_id, i.quantity, i.unit_price
          FROM silver.order_items i
          JOIN silver.orders o ON o.order_id = i.order_id
          WHERE o.status <> 'cancelled'
        ) s ON s.product_id = p.product_id
        GROUP BY p.product_id, p.name, p.category, p.price""",
}
# Gold rules: a broken `fail` rule stops the run (the platform would not write the table).
GOLD_RULES = {
    "customer_lifetime_value": (("lifetime_value_not_negative", "fail", "lifetime_value < 0"),
                                ("segment_is_known", "warn", f"segment NOT IN ({SEGMENTS})")),
    "daily_revenue": (("revenue_not_negative", "fail", "revenue < 0"),
                      ("orders_at_least_one", "fail", "orders < 1")),
    "product_performance": (("units_sold_not_negative", "fail", "units_sold < 0"),
                            ("category_is_known", "warn", f"category NOT IN ({CATEGORIES})")),
}

# AVG of a DECIMAL(10,2) as Spark computes it: exactly, rounded half-up to a DECIMAL(14,6),
# which the gold SQL's CAST then rounds half-up to cents. DuckDB's AVG(DECIMAL) is a DOUBLE,
# which now and then lands on the wrong side of a half cent; so count in integer micro-units.
# (Half-up by integer division: the prices averaged are positive, silver's rules see to that.)
DECIMAL_AVG = """
CREATE OR REPLACE MACRO decimal_avg(total, n) AS
    CASE WHEN n > 0 THEN CAST(
        CAST(((CAST(total * 100 AS HUGEINT) * 20000 + n) // (2 * n) * 2 + 10000) // 20000 AS DECIMAL(38,0))
        * 0.01 AS DECIMAL(10,2)) END
"""


# -- landing ---------------------------------------------------------------------------------
def landing_files(landing_dir: Path, dataset: Dataset) -> list[tuple[str, str]]:
    """(batch id, file) for every landing file of a dataset, as the platform picks them: day
    folders named YYYY-MM-DD, hidden and marker files (. or _) skipped. Like the platform it
    refuses an empty batch folder or a zero-byte file rather than load a batch in part."""
    root = landing_dir / dataset.name
    if not root.is_dir():
        raise PipelineError(f"{dataset.name}: landing path {root} does not exist")
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and BATCH_FOLDER.match(p.name)):
        files = sorted(f for f in folder.iterdir() if f.is_file() and not f.name.startswith((".", "_")))
        if not files:
            raise PipelineError(f"{folder}: batch folder has no files")
        for f in files:
            if f.stat().st_size == 0:
                raise PipelineError(f"{f}: empty file (0 bytes); the batch is refused rather than loaded in part")
            found.append((folder.name, str(f.resolve())))
    return found


def _csv_header(path: str) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        for line in f:
            if line.strip(" \r\n"):
                return [h.strip() for h in next(csv.reader([line]))]
    raise PipelineError(f"{path}: CSV file has no header line")


def _sql_list(values) -> str:
    return "[" + ", ".join("'" + str(v).replace("'", "''") + "'" for v in values) + "]"


# DuckDB reads a file of lines, one VARCHAR per line: no quoting, a delimiter no line of JSON
# can hold raw (control characters must be escaped inside JSON strings).
def _lines(files: list[str]) -> str:
    return (f"read_csv({_sql_list(files)}, columns = {{'line': 'VARCHAR'}}, header = false, auto_detect = false, "
            "delim = E'\\x1f', quote = '', escape = '', filename = true, strict_mode = false)")


# -- bronze ----------------------------------------------------------------------------------
def load_bronze(con, dataset: Dataset, files: list[tuple[str, str]]) -> None:
    """bronze.<dataset>: one row per landing record (blank lines are not records), every field
    as text, with its batch and file; a record that cannot be parsed keeps its raw text and
    `_malformed`. Columns the spec does not know are schema drift: the platform refuses them
    (schema_drift: fail), so does this."""
    cols = list(dataset.columns)
    con.execute(f"CREATE OR REPLACE TABLE bronze.{dataset.name} ("
                + ", ".join(f"{c} VARCHAR" for c in cols)
                + ", _malformed VARCHAR, _raw VARCHAR, _source_file VARCHAR, _batch_id VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE landing_files (batch_id VARCHAR, path VARCHAR)")
    con.executemany("INSERT INTO landing_files VALUES (?, ?)", files)
    paths = [p for _, p in files]
    if dataset.format == "csv":
        _load_csv(con, dataset, paths)
    else:
        _load_jsonl(con, dataset, paths)


def _load_csv(con, dataset: Dataset, paths: list[str]) -> None:
    cols = list(dataset.columns)
    # Columns are matched by the header's names, so a file with its columns reordered still
    # loads: read the files of each header together.
    by_header: dict[tuple[str, ...], list[str]] = {}
    for path in paths:
        header = _csv_header(path)
        if sorted(header) != sorted(cols):
            extra, missing = sorted(set(header) - set(cols)), sorted(set(cols) - set(header))
            raise PipelineError(f"{path}: schema drift (unexpected {extra}, missing {missing}); "
                                "the spec refuses it (schema_drift: fail)")
        by_header.setdefault(tuple(header), []).append(path)
    for header, group in by_header.items():
        columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in header) + "}"
        con.execute("DROP TABLE IF EXISTS temp.rejects; DROP TABLE IF EXISTS temp.rejects_scans")
        # Fields as text (types are silver's business); a line with too many or too few fields
        # is not dropped but set aside in `rejects` with its raw text (store_rejects).
        con.execute(f"""
            INSERT INTO bronze.{dataset.name} BY NAME
            SELECT r.* EXCLUDE (filename), NULL AS _malformed, NULL AS _raw,
                   r.filename AS _source_file, f.batch_id AS _batch_id
            FROM read_csv({_sql_list(group)}, columns = {columns}, header = true, auto_detect = false,
                          delim = ',', quote = '"', escape = '"', filename = true,
                          store_rejects = true, rejects_table = 'rejects', rejects_scan = 'rejects_scans') r
            JOIN landing_files f ON f.path = r.filename""")
        # One malformed record per rejected line (DuckDB can report a line twice). A line of
        # spaces is blank: not a record, as for the platform.
        con.execute(f"""
            INSERT INTO bronze.{dataset.name} BY NAME
            SELECT any_value(e.error_type) AS _malformed, any_value(trim(e.csv_line, E'\\r\\n')) AS _raw,
                   s.file_path AS _source_file, any_value(f.batch_id) AS _batch_id
            FROM temp.rejects e
            JOIN temp.rejects_scans s USING (scan_id, file_id)
            JOIN landing_files f ON f.path = s.file_path
            WHERE trim(e.csv_line, E' \\r\\n') <> ''
            GROUP BY s.file_path, e.line""")
    # Every line must be a record: count them independently of the CSV reader (a stray quote
    # could make a reader join lines; better to stop than to lose records silently).
    lines = con.execute(f"SELECT count(*) FROM {_lines(paths)} WHERE trim(line) <> ''").fetchone()[0] - len(paths)
    records = con.execute(f"SELECT count(*) FROM bronze.{dataset.name}").fetchone()[0]
    if lines != records:
        raise PipelineError(f"bronze.{dataset.name}: {lines} data lines but {records} records read")


def _load_jsonl(con, dataset: Dataset, paths: list[str]) -> None:
    cols = list(dataset.columns)
    # Lines as text, parsed here rather than by read_json: read_json stops at (or with
    # ignore_errors, silently skips) a malformed line and drops keys it was not asked for;
    # every line must become a record, and an unknown key is schema drift.
    # Every field is kept as text, whatever its JSON type (a number's text, as the platform).
    shape = "{" + ", ".join(f'"{c}": "VARCHAR"' for c in cols) + "}"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE json_lines AS
        SELECT l.line, l.filename AS _source_file, f.batch_id AS _batch_id,
               CASE WHEN json_type(TRY_CAST(l.line AS JSON)) = 'OBJECT' THEN TRY_CAST(l.line AS JSON) END AS j
        FROM {_lines(paths)} l
        JOIN landing_files f ON f.path = l.filename
        WHERE trim(l.line) <> ''""")
    drift = con.execute(f"""
        SELECT _source_file, list_filter(json_keys(j), lambda k: NOT list_contains({_sql_list(cols)}, k)) AS extra
        FROM json_lines WHERE len(extra) > 0 LIMIT 1""").fetchone()
    if drift:
        raise PipelineError(f"{drift[0]}: schema drift (unexpected {drift[1]}); the spec refuses it "
                            "(schema_drift: fail)")
    con.execute(f"""
        INSERT INTO bronze.{dataset.name} BY NAME
        SELECT unnest(json_transform(j, '{shape}')),
               CASE WHEN j IS NULL THEN 'not a valid JSON object' END AS _malformed,
               CASE WHEN j IS NULL THEN line END AS _raw,
               _source_file, _batch_id
        FROM json_lines""")
    con.execute("DROP TABLE temp.json_lines")


# -- silver ----------------------------------------------------------------------------------
def _typed(column: str, type_: str) -> str:
    if type_ == "TIMESTAMP":
        # Through TIMESTAMPTZ, so an offset ('...Z', '+02:00') is honoured: UTC wall time, as the
        # platform's UTC session reads it.
        return f"CAST(TRY_CAST(b.{column} AS TIMESTAMPTZ) AS TIMESTAMP)"
    if type_ == "VARCHAR":
        return f"b.{column}"
    return f"TRY_CAST(b.{column} AS {type_})"


def _type_mismatch(column: str, type_: str) -> str:
    bad = f"raw_{column} IS NOT NULL AND {column} IS NULL"
    if type_.startswith("DECIMAL"):
        # A cast rounds '12.999' to 13.00: a value must fit its type exactly.
        bad += f" OR TRY_CAST(raw_{column} AS DECIMAL(38,18)) <> {column}"
    return bad


def classify(con, dataset: Dataset) -> None:
    """work.<dataset>: every bronze record with its fate: the first blocking rule it breaks
    (quarantine / drop), or duplicate, superseded, candidate (its batch's change to its key)."""
    name, keys, o = dataset.name, ", ".join(dataset.keys), dataset.ordering
    raw_cols = ", ".join(f"raw_{c}" for c in dataset.columns)
    # Parsing first, then types, then required fields, then the spec's rules in its order.
    blocking = (
        [("malformed", "quarantine", "_malformed IS NOT NULL")]
        + [(f"type_mismatch:{c}", "quarantine", _type_mismatch(c, t)) for c, t in dataset.columns.items()]
        + [(f"not_null:{c}", "quarantine", f"{c} IS NULL") for c in dataset.required]
        + [r for r in dataset.rules if r[1] != "warn"]
    )
    rule = "CASE " + " ".join(f"WHEN {sql} THEN '{n}'" for n, _, sql in blocking) + " END"
    action = "CASE " + " ".join(f"WHEN {sql} THEN '{a}'" for _, a, sql in blocking) + " END"
    con.execute(f"""
        CREATE OR REPLACE TABLE work.{name} AS
        WITH batch_sizes AS (
            -- each batch's record count relative to the batch before it (a volume rule's input)
            SELECT _batch_id, count(*) / lag(count(*)) OVER (ORDER BY _batch_id) - 1 AS _batch_change
            FROM bronze.{name} GROUP BY _batch_id
        ),
        typed AS (
            SELECT {", ".join(f"b.{c} AS raw_{c}" for c in dataset.columns)},
                   {", ".join(f"{_typed(c, t)} AS {c}" for c, t in dataset.columns.items())},
                   b._malformed, b._raw, b._source_file, b._batch_id, s._batch_change
            FROM bronze.{name} b JOIN batch_sizes s USING (_batch_id)
        ),
        judged AS (
            SELECT typed.*, {rule} AS _rule, {action} AS _action
            FROM typed {REFERENCES.get(name, "")}
        ),
        copies AS (
            -- an exact copy of a record in the same batch is a duplicate: keep the first
            SELECT *, row_number() OVER (PARTITION BY _batch_id, {raw_cols} ORDER BY _source_file) AS _copy
            FROM judged WHERE _rule IS NULL
        ),
        versions AS (
            -- of the different versions of a key in a batch, the newest is the batch's change
            -- (equal times: the record's text decides, so a rerun picks the same one)
            SELECT *, row_number() OVER (PARTITION BY _batch_id, {keys}
                                         ORDER BY {o} DESC, {raw_cols}) AS _version
            FROM copies WHERE _copy = 1
        )
        SELECT * EXCLUDE (_action), _action AS _fate FROM judged WHERE _rule IS NOT NULL
        UNION ALL BY NAME
        SELECT *, 'duplicate' AS _fate FROM copies WHERE _copy > 1
        UNION ALL BY NAME
        SELECT *, CASE WHEN _version = 1 THEN 'candidate' ELSE 'superseded' END AS _fate FROM versions""")
    failed = con.execute(f"SELECT _batch_id, _rule, count(*) FROM work.{name} WHERE _fate = 'fail' "
                         "GROUP BY ALL ORDER BY ALL LIMIT 1").fetchone()
    if failed:
        raise PipelineError(f"silver.{name} batch {failed[0]}: {failed[2]} record(s) broke fail rule {failed[1]}")


def apply_changes(con, dataset: Dataset) -> None:
    """work.<dataset>_changes: each batch's change per key, and what it does to silver when
    the batches are applied oldest first: insert, update, delete or superseded."""
    name, keys, o = dataset.name, ", ".join(dataset.keys), dataset.ordering
    con.execute(f"""
        CREATE OR REPLACE TABLE work.{name}_changes AS
        WITH candidates AS (
            SELECT *, coalesce({dataset.delete_when}, false) AS _is_delete,
                   -- the newest thing earlier batches said about the key
                   max({o}) OVER (PARTITION BY {keys} ORDER BY _batch_id
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _seen
            FROM work.{name} WHERE _fate = 'candidate'
        ),
        newer AS (
            -- only a change newer than all of that applies; the one before it tells whether
            -- the key exists at that point (it does unless that was a delete, or there is none)
            SELECT *, coalesce(NOT lag(_is_delete) OVER (PARTITION BY {keys} ORDER BY _batch_id), false) AS _exists
            FROM candidates WHERE _seen IS NULL OR {o} > _seen
        )
        SELECT * EXCLUDE (_exists),
               CASE WHEN _is_delete AND _exists THEN 'delete'
                    WHEN _is_delete THEN 'superseded'  -- deleting a key that is not there
                    WHEN _exists THEN 'update'
                    ELSE 'insert' END AS _change
        FROM newer
        UNION ALL BY NAME
        SELECT *, 'superseded' AS _change FROM candidates WHERE NOT (_seen IS NULL OR {o} > _seen)""")


def build_silver(con, dataset: Dataset) -> None:
    name, keys, o = dataset.name, ", ".join(dataset.keys), dataset.ordering
    cols = ", ".join(dataset.data_columns)
    if dataset.scd2:
        # History: a version per applied upsert, valid until the key's next applied change
        # (an update, or the delete that closes it).
        con.execute(f"""
            CREATE OR REPLACE TABLE silver.{name} AS
            SELECT {cols},
                   {o} AS valid_from,
                   lead({o}) OVER (PARTITION BY {keys} ORDER BY {o}) AS valid_to,
                   lead({o}) OVER (PARTITION BY {keys} ORDER BY {o}) IS NULL AS is_current,
                   _batch_id
            FROM work.{name}_changes
            WHERE _change <> 'superseded'
            QUALIFY NOT _is_delete""")
    else:
        # Current state: the key's last applied change, unless that deleted it.
        con.execute(f"""
            CREATE OR REPLACE TABLE silver.{name} AS
            SELECT {cols}, _batch_id
            FROM work.{name}_changes
            WHERE _change <> 'superseded'
            QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY {o} DESC) = 1 AND NOT _is_delete""")
    # Rejected records keep their text, file and rule, for whoever fixes the source.
    raw_json = "CAST(to_json({" + ", ".join(f"'{c}': raw_{c}" for c in dataset.columns) + "}) AS VARCHAR)"
    con.execute(f"DELETE FROM ops.quarantine WHERE dataset = '{name}'")
    con.execute(f"""
        INSERT INTO ops.quarantine
        SELECT '{name}', _batch_id, _rule, coalesce(_raw, {raw_json}), _source_file
        FROM work.{name} WHERE _fate = 'quarantine'""")


def account(con, dataset: Dataset) -> dict:
    """Every record read has one fate; the counts must add up."""
    name = dataset.name
    fates = dict(con.execute(f"SELECT _fate, count(*) FROM work.{name} GROUP BY ALL").fetchall())
    changes = dict(con.execute(f"SELECT _change, count(*) FROM work.{name}_changes GROUP BY ALL").fetchall())
    read = con.execute(f"SELECT count(*) FROM bronze.{name}").fetchone()[0]
    by_rule = dict(con.execute(f"SELECT _rule, count(*) FROM work.{name} WHERE _fate IN ('quarantine', 'drop') "
                               "GROUP BY ALL ORDER BY ALL").fetchall())
    warnings = {}
    for rule, _, sql in (r for r in dataset.rules if r[1] == "warn"):
        # counted on the records kept (duplicates and older versions too), as the platform does
        n = con.execute(f"SELECT count(*) FROM work.{name} "
                        f"WHERE _fate NOT IN ('quarantine', 'drop') AND ({sql})").fetchone()[0]
        if n:
            warnings[rule] = n
    counts = {
        "read": read,
        "valid": read - fates.get("quarantine", 0) - fates.get("drop", 0),
        "quarantined": fates.get("quarantine", 0),
        "dropped": fates.get("drop", 0),
        "duplicates": fates.get("duplicate", 0),
        # older versions within a batch, late changes, deletes of keys that are not there
        "superseded": fates.get("superseded", 0) + changes.get("superseded", 0),
        "inserted": changes.get("insert", 0),
        "updated": changes.get("update", 0),
        "deleted": changes.get("delete", 0),
        "silver_rows": con.execute(f"SELECT count(*) FROM silver.{name}").fetchone()[0],
        "quarantined_by_rule": by_rule,
        "warnings": warnings,
    }
    outcomes = sum(counts[k] for k in ("quarantined", "dropped", "duplicates", "superseded",
                                       "inserted", "updated", "deleted"))
    if sum(fates.values()) != read or outcomes != read or fates.get("candidate", 0) != sum(changes.values()):
        raise PipelineError(f"silver.{name}: {read} records read but {outcomes} accounted for ({fates}, {changes})")
    return counts


# -- gold ------------------------------------------------------------------------------------
def build_gold(con) -> dict:
    con.execute(DECIMAL_AVG)
    counts, warnings = {}, {}
    for name, sql in GOLD.items():
        con.execute(f"CREATE OR REPLACE TABLE gold.{name} AS {sql}")
        for rule, action, broken in GOLD_RULES[name]:
            n = con.execute(f"SELECT count(*) FROM gold.{name} WHERE {broken}").fetchone()[0]
            if n and action == "fail":
                raise PipelineError(f"gold.{name}: {n} row(s) broke fail rule {rule}")
            if n:
                warnings[f"{name}.{rule}"] = n
        counts[name] = con.execute(f"SELECT count(*) FROM gold.{name}").fetchone()[0]
    return {"rows": counts, "warnings": warnings}


# -- the whole thing -------------------------------------------------------------------------
def run(landing_dir: Path, db_path: Path | None = None, threads: int | None = None) -> dict:
    """Rebuild bronze, silver and gold from every landing file under `landing_dir`, into
    `db_path` (in memory when None). Returns counts per dataset and gold table."""
    started = time.perf_counter()
    con = duckdb.connect(str(db_path) if db_path else ":memory:")
    try:
        # The platform's session time zone: it decides how '...Z' times and DATE casts read.
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET preserve_insertion_order = false")  # nothing here depends on row order
        # Offline by design: json and icu are built into the wheel; never try to download one.
        con.execute("SET autoinstall_known_extensions = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        for schema in ("bronze", "silver", "gold", "ops", "work"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        con.execute("CREATE OR REPLACE TABLE ops.quarantine "
                    "(dataset VARCHAR, batch_id VARCHAR, rule VARCHAR, raw VARCHAR, source_file VARCHAR)")
        datasets = {}
        for dataset in DATASETS:  # referenced datasets first (orders checks silver.customers)
            load_bronze(con, dataset, landing_files(Path(landing_dir), dataset))
            classify(con, dataset)
            apply_changes(con, dataset)
            build_silver(con, dataset)
            datasets[dataset.name] = account(con, dataset)
        gold = build_gold(con)
    finally:
        con.close()
    return {"datasets": datasets, "gold": gold["rows"], "gold_warnings": gold["warnings"],
            "seconds": round(time.perf_counter() - started, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The lakehouse pipeline (bronze -> silver -> gold) in DuckDB.")
    parser.add_argument("--landing", type=Path, required=True, help="landing folder (<dataset>/<YYYY-MM-DD>/files)")
    parser.add_argument("--db", type=Path, help="DuckDB database file to write (default: in memory)")
    parser.add_argument("--threads", type=int, help="DuckDB threads (default: all cores)")
    args = parser.parse_args(argv)
    counts = run(args.landing, args.db, args.threads)
    d = counts["datasets"].values()
    print(f"read {sum(x['read'] for x in d)} records, quarantined {sum(x['quarantined'] for x in d)}, "
          f"silver {sum(x['silver_rows'] for x in d)} rows, "
          f"gold {', '.join(f'{k} {v}' for k, v in counts['gold'].items())} rows in {counts['seconds']:.2f}s")


if __name__ == "__main__":
    main()
