"""Storage semantics of the lakehouse's Delta tables: create, append, MERGE upsert, SCD2,
gold refresh by difference, quarantine and audit. The only module that writes tables.

Every table is registered in the metastore with an explicit location under the
warehouse, so the local and cluster profiles differ only in the location's scheme.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date, datetime
from functools import reduce
from decimal import Decimal

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType, DateType, DoubleType, LongType, MapType, StringType, StructField, StructType, TimestampType,
)

from lakehouse import schema_evolution
from lakehouse.config import BRONZE, DATABASES, OPS, SILVER, Settings
from lakehouse.runs import COUNTS
from lakehouse.schema_evolution import AddColumn, SetMode, Wanted, WidenType
from lakehouse.specs import DatasetSpec

QUARANTINE_TABLE = f"{OPS}.quarantine"
AUDIT_TABLE = f"{OPS}.audit"
PUBLISHED_TABLE = f"{OPS}.published"
VALIDATIONS_TABLE = f"{OPS}.validations"
DQOPS_CHECKS_TABLE = f"{OPS}.dqops_checks"
LANDING_FILES_TABLE = f"{OPS}.landing_files"
DELETE_MARKERS_TABLE = f"{OPS}.delete_markers"

BRONZE_META = [
    StructField("_malformed_reason", StringType()),
    StructField("_schema_drift", StringType()),
    StructField("_rescued_data", StringType()),
    StructField("_raw", StringType()),
    StructField("_source_file", StringType()),
    StructField("_batch_id", StringType()),
    StructField("_ingested_at", TimestampType()),
    # The record's place in its file: increasing with its line (not a line number). Null in
    # rows loaded before it was kept.
    StructField("_position", LongType()),
]

QUARANTINE_SCHEMA = StructType([
    StructField("dataset", StringType()),
    StructField("batch_id", StringType()),
    StructField("rule", StringType()),
    StructField("reason", StringType()),
    StructField("raw", StringType()),
    StructField("source_file", StringType()),
    StructField("run_id", StringType()),
    StructField("quarantined_at", TimestampType()),
])

AUDIT_SCHEMA = StructType([
    StructField("run_id", StringType()),
    StructField("layer", StringType()),
    StructField("table_name", StringType()),
    StructField("batch_id", StringType()),
    StructField("started_at", TimestampType()),
    StructField("duration_s", DoubleType()),
    *[StructField(c, LongType()) for c in COUNTS],
    StructField("warnings", MapType(StringType(), LongType())),
    StructField("quarantined_by_rule", MapType(StringType(), LongType())),
    StructField("delta_version", LongType()),
    StructField("source_versions", MapType(StringType(), LongType())),
    StructField("spec_hash", StringType()),
    StructField("status", StringType()),
    StructField("detail", StringType()),
])

PUBLISHED_SCHEMA = StructType([
    StructField("table_name", StringType()),
    StructField("delta_version", LongType()),
    StructField("row_count", LongType()),
    StructField("interval_start", DateType()),
    StructField("interval_end", DateType()),
    StructField("run_id", StringType()),
    StructField("published_at", TimestampType()),
])
# One row per rule per validation (lakehouse.quality): what GX judged, and what it found.
VALIDATIONS_SCHEMA = StructType([
    StructField("run_id", StringType()),
    StructField("layer", StringType()),
    StructField("table_name", StringType()),
    StructField("scope", StringType()),
    StructField("rule", StringType()),
    StructField("expectation_type", StringType()),
    StructField("column_name", StringType()),
    StructField("action", StringType()),
    StructField("success", BooleanType()),
    StructField("outcome", StringType()),
    StructField("element_count", LongType()),
    StructField("unexpected_count", LongType()),
    StructField("docs_page", StringType()),
    StructField("validated_at", TimestampType()),
])
# DQOps's check results as the medallion DAG's dqops_results task copies them from DQOps's
# API (lakehouse.quality.dqops_results): one row per check and execution.
DQOPS_CHECKS_SCHEMA = StructType([
    StructField("table_name", StringType()),
    StructField("column_name", StringType()),
    StructField("check_name", StringType()),
    StructField("check_type", StringType()),
    StructField("category", StringType()),
    StructField("quality_dimension", StringType()),
    StructField("severity", StringType()),
    StructField("executed_at", TimestampType()),
    StructField("run_id", StringType()),
    StructField("recorded_at", TimestampType()),
])
# The file log (lakehouse.file_log): one row each time bronze loads a landing file, finds one
# re-delivered unchanged, or finds an append dataset's file a copy of one loaded before (not
# loaded: outcome "copy of <path>"). The newest row of a path is what the log holds of it.
LANDING_FILES_SCHEMA = StructType([
    StructField("dataset", StringType()),
    StructField("path", StringType()),
    StructField("size", LongType()),
    StructField("modified_at", TimestampType()),
    StructField("modified_ms", LongType()),
    StructField("fingerprint", StringType()),
    StructField("batch_id", StringType()),
    StructField("records", LongType()),
    StructField("outcome", StringType()),
    StructField("run_id", StringType()),
    StructField("recorded_at", TimestampType()),
])
# Silver's delete markers (lakehouse.transforms.silver.marker_state): per dataset and key, the
# newest delete that applied, so an older version arriving later cannot bring the key back.
DELETE_MARKERS_SCHEMA = StructType([
    StructField("dataset", StringType()),
    StructField("key", StringType()),
    StructField("ordering_column", StringType()),
    StructField("ordering", StringType()),
    StructField("batch_id", StringType()),
    StructField("run_id", StringType()),
    StructField("marked_at", TimestampType()),
])
OPS_TABLES = {QUARANTINE_TABLE: QUARANTINE_SCHEMA, AUDIT_TABLE: AUDIT_SCHEMA, PUBLISHED_TABLE: PUBLISHED_SCHEMA,
              VALIDATIONS_TABLE: VALIDATIONS_SCHEMA, DQOPS_CHECKS_TABLE: DQOPS_CHECKS_SCHEMA,
              LANDING_FILES_TABLE: LANDING_FILES_SCHEMA, DELETE_MARKERS_TABLE: DELETE_MARKERS_SCHEMA}
# The ops tables this process wrote since a run last took them to compact (maintenance.
# compact_ops_tables). Not the quarantine: one file per (dataset, batch) partition, where
# OPTIMIZE bins within a partition.
_ops_written: set[str] = set()


def ensure_databases(spark, settings: Settings) -> None:
    for db in DATABASES:
        spark.sql(f"CREATE DATABASE IF NOT EXISTS {db} LOCATION '{settings.table_location(db, '')}'")


def _sql_string(text: str) -> str:
    """Text as a quoted Spark SQL string literal (a column comment)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def drop_databases(spark) -> None:
    """Forget every lakehouse database in the session's metastore (tests and benchmarks start
    each lakehouse from an empty catalog; the tables' files stay where they are), and what
    the session cached of their tables: Delta keeps each table's log and snapshot, its state
    cached in memory, for an hour after its last use. A test run's session, which goes through
    hundreds of lakehouses, otherwise kept the dropped tables' snapshots: its 2 GB heap was 90 %
    full within half an hour, and it paused 95 s for garbage collection (35 full collections)
    in its first 40 minutes."""
    for db in DATABASES:
        spark.sql(f"DROP DATABASE IF EXISTS {db} CASCADE")
    spark.catalog.clearCache()
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    _ops_written.clear()


def ensure_table(spark, settings: Settings, fqname: str, schema: StructType,
                 partition_by: tuple[str, ...] = (), merge_target: bool = False,
                 comments: dict[str, str] | None = None, replace: bool = False,
                 properties: dict[str, str] | None = None) -> None:
    """`merge_target`: a table that MERGEs update in place (silver). It keeps a change feed
    (gold reads what changed) and deletion vectors: a MERGE then marks the rows it replaces
    instead of rewriting every file that holds one, so an update of 1% of the rows writes
    those rows, not the table (BENCHMARKS.md, B2). Readers need Delta reader version 3:
    Spark and the Thrift server have it; delta-rs reads such tables through its QueryBuilder,
    not through to_pyarrow_dataset. Gold keeps no deletion vectors: its MERGEs touch few rows
    and analysts' tools read it directly.

    `comments`: what the spec says each column means, kept as the column's comment; an
    existing table's comments follow the spec (see set_comments).

    `replace`: an existing table becomes an empty one of this schema, in one commit of its own
    history (gold whose columns changed), so its versions keep rising.

    `properties`: table properties set when the table is created (silver's MODE_PROPERTY)."""
    if not replace and spark.catalog.tableExists(fqname):  # a metastore lookup; creating runs a Spark job
        if comments is not None:
            set_comments(spark, fqname, comments)
        return
    db, name = fqname.split(".")
    start = DeltaTable.createOrReplace if replace else DeltaTable.createIfNotExists
    builder = (
        start(spark).tableName(fqname).addColumns(with_comments(schema, comments or {}))
        .location(settings.table_location(db, name))
    )
    if partition_by:
        builder = builder.partitionedBy(*partition_by)
    if merge_target:
        builder = builder.property("delta.enableChangeDataFeed", "true").property("delta.enableDeletionVectors", "true")
    for key, value in (properties or {}).items():
        builder = builder.property(key, value)
    builder.execute()


# A silver table's dataset mode, set when it is created: an upsert or snapshot table holds one
# row per key, an append table equal records side by side, so neither kind can become the
# other. Tables made before the property existed are upsert tables.
MODE_PROPERTY = "lakehouse.mode"


def table_mode(spark, fqname: str) -> str:
    held = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {fqname}").collect()}
    return held.get(MODE_PROPERTY, "upsert")


def with_comments(schema: StructType, comments: dict[str, str]) -> StructType:
    """The schema with these comments and no other: Spark carries a column's comment through
    selects and aliases, so a gold query's columns hold their silver sources' comments."""
    def metadata(f: StructField) -> dict:
        kept = {k: v for k, v in f.metadata.items() if k != "comment"}
        return {**kept, "comment": comments[f.name]} if comments.get(f.name) else kept

    return StructType([StructField(f.name, f.dataType, f.nullable, metadata(f)) for f in schema.fields])


def set_comments(spark, fqname: str, comments: dict[str, str]) -> list[str]:
    """Give the table's columns these comments, and none to a column `comments` leaves out (a
    description the spec dropped); returns the columns changed. Each change is a metadata
    commit (CHANGE COLUMN), which no gold build or publication takes for new data; none when
    all agree."""
    held = {f.name: f.metadata.get("comment", "") for f in spark.table(fqname).schema.fields}
    changed = [c for c, text in held.items() if comments.get(c, "") != text]
    for column in changed:
        spark.sql(f"ALTER TABLE {fqname} ALTER COLUMN `{column}` COMMENT {_sql_string(comments.get(column, ''))}")
    return changed


def ensure_ops_tables(spark, settings: Settings) -> None:
    if all(spark.catalog.tableExists(t) for t in OPS_TABLES):
        return
    ensure_databases(spark, settings)
    # Partitioned by batch so replacing one batch's rows touches only that partition.
    ensure_table(spark, settings, QUARANTINE_TABLE, QUARANTINE_SCHEMA, partition_by=("dataset", "batch_id"))
    ensure_table(spark, settings, AUDIT_TABLE, AUDIT_SCHEMA)
    ensure_table(spark, settings, PUBLISHED_TABLE, PUBLISHED_SCHEMA)
    ensure_table(spark, settings, VALIDATIONS_TABLE, VALIDATIONS_SCHEMA)
    ensure_table(spark, settings, DQOPS_CHECKS_TABLE, DQOPS_CHECKS_SCHEMA)
    ensure_table(spark, settings, LANDING_FILES_TABLE, LANDING_FILES_SCHEMA)
    # Partitioned by dataset: silver jobs of two datasets write their markers side by side.
    ensure_table(spark, settings, DELETE_MARKERS_TABLE, DELETE_MARKERS_SCHEMA, partition_by=("dataset",))


def bronze_schema(spec: DatasetSpec) -> StructType:
    return StructType([StructField(c, StringType()) for c in spec.column_names] + BRONZE_META)


def same_columns(a: StructType, b: StructType) -> bool:
    """The same columns, types and nullability, whatever their comments."""
    return [(f.name, f.dataType, f.nullable) for f in a.fields] == [(f.name, f.dataType, f.nullable) for f in b.fields]


def silver_schema(spec: DatasetSpec) -> StructType:
    return StructType([StructField(name, _spark_type(ddl)) for name, ddl in spec.silver_columns])


def silver_column_names(spec: DatasetSpec) -> list[str]:
    """silver_schema's column names, without a SparkSession (its types need one to parse)."""
    return [name for name, _ in spec.silver_columns]


def _spark_type(ddl: str):
    from pyspark.sql.types import _parse_datatype_string

    return _parse_datatype_string(ddl)


def plan_evolution(spark, spec: DatasetSpec) -> list[tuple[str, list[AddColumn | WidenType | SetMode]]]:
    """What bringing the dataset's existing bronze and silver tables to its spec takes (see
    lakehouse.schema_evolution): both are planned before either changes, so a refused change
    alters neither. A table that does not exist yet is created from the spec as it is."""
    comments, required = spec.column_comments, {c.name for c in spec.columns if c.required}
    wanted = {
        f"{BRONZE}.{spec.name}": [Wanted(c.name, "string", c.required, c.description) for c in spec.columns]
        + [Wanted(f.name, f.dataType.simpleString()) for f in BRONZE_META],
        f"{SILVER}.{spec.name}": [Wanted(name, ddl, name in required, comments.get(name, ""))
                                  for name, ddl in spec.silver_columns],
    }
    operation = spec.operation.column if spec.operation else None
    plans = []
    for fqname, columns in wanted.items():
        if spark.catalog.tableExists(fqname):
            held = {f.name: f.dataType.simpleString() for f in spark.table(fqname).schema.fields}
            changes = schema_evolution.plan(fqname, held, columns, operation)
            if fqname.startswith(f"{SILVER}."):
                changes += filter(None, [schema_evolution.mode_change(fqname, table_mode(spark, fqname), spec.mode)])
            plans.append((fqname, changes))
    return plans


def apply_evolution(spark, plans: list[tuple[str, list[AddColumn | WidenType | SetMode]]]) -> None:
    for fqname, changes in plans:
        _alter(spark, fqname, changes)


def evolve_dataset(spark, spec: DatasetSpec) -> None:
    """Bring the dataset's existing bronze and silver tables to its spec, or refuse (one line)."""
    apply_evolution(spark, plan_evolution(spark, spec))


def _alter(spark, fqname: str, changes: list[AddColumn | WidenType | SetMode]) -> None:
    """Each change is one metadata commit (ADD COLUMNS, CHANGE COLUMN, SET TBLPROPERTIES). A
    type is widened through Delta's type widening, a table feature enabled on the table's
    first widening."""
    if any(isinstance(c, WidenType) for c in changes):
        spark.sql(f"ALTER TABLE {fqname} SET TBLPROPERTIES ('delta.enableTypeWidening' = 'true')")
    for change in changes:
        if isinstance(change, SetMode):
            spark.sql(f"ALTER TABLE {fqname} SET TBLPROPERTIES ('{MODE_PROPERTY}' = '{change.mode}')")
            continue
        if isinstance(change, WidenType):
            spark.sql(f"ALTER TABLE {fqname} ALTER COLUMN `{change.name}` TYPE {change.type}")
            continue
        position = f"AFTER `{change.after}`" if change.after else "FIRST"
        spark.sql(f"ALTER TABLE {fqname} ADD COLUMNS "
                  f"(`{change.name}` {change.type} COMMENT {_sql_string(change.comment)} {position})")


def last_commit(spark, fqname: str) -> dict:
    """The table's newest commit: its version, operation and metrics, read from its commit
    file in _delta_log (DESCRIBE HISTORY runs a Spark job for the same; a run asks this after
    every write)."""
    log = DeltaTable.forName(spark, fqname)._jdt.deltaLog()
    version = _newest(spark, log).version()
    info = _commit_info(spark, log.logPath().toString(), version)
    if info is None:  # never the newest commit's file, but say what the history says if so
        row = DeltaTable.forName(spark, fqname).history(1).collect()[0]
        info = {"operation": row["operation"], "operationMetrics": row["operationMetrics"]}
        version = row["version"]
    metrics = {k: int(v) for k, v in (info.get("operationMetrics") or {}).items() if str(v).lstrip("-").isdigit()}
    return {"version": version, "operation": info.get("operation"), "metrics": metrics}


def current_version(spark, fqname: str) -> int:
    """The table's newest version, from its Delta log: a listing of _delta_log, where
    DESCRIBE HISTORY runs a Spark job (about 4x the time; a run asks this some 20 times)."""
    return _newest(spark, DeltaTable.forName(spark, fqname)._jdt.deltaLog()).version()


def _newest(spark, log):
    """The Delta log's newest snapshot (`update` lists _delta_log; its other arguments are
    Scala Options, None here)."""
    none = spark.sparkContext._jvm.scala.Option.apply(None)
    return log.update(False, none, none)


# Commits that change no row of a table: maintenance and metadata. Every other operation, an
# unknown one included, counts as a change (at worst one more build or publication).
NO_DATA_CHANGE = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UNSET TBLPROPERTIES",
                            "ADD CONSTRAINT", "DROP CONSTRAINT", "CHANGE COLUMN", "UPGRADE PROTOCOL",
                            "ADD COLUMNS"})


def _commit_operation(spark, log_path: str, version: int) -> str | None:
    """The operation of one commit, from its JSON file in _delta_log (no Spark job); None if
    the file is gone (log cleanup) or names none."""
    return (_commit_info(spark, log_path, version) or {}).get("operation")


def _commit_info(spark, log_path: str, version: int) -> dict | None:
    """One commit's commitInfo, from its JSON file in _delta_log (no Spark job); None if the
    file is gone (log cleanup) or holds none."""
    return next((a["commitInfo"] for a in _commit_actions(spark, log_path, version) or [] if "commitInfo" in a), None)


def _commit_actions(spark, log_path: str, version: int) -> list[dict] | None:
    """One commit's actions (commitInfo, add, remove...), from its JSON file in _delta_log (no
    Spark job); None if the file is gone (log cleanup)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{log_path}/{version:020d}.json")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return None
    stream = fs.open(path)
    try:
        text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def replaced_partition_rows(spark, fqname: str, before: int, partition: dict[str, str],
                            by: str, appended_to_empty: bool = False) -> dict[str, int] | None:
    """Rows per value of partition column `by` within `partition` (column: value), after an
    overwrite of them made the version after `before`: the record counts of the files it added
    there, read from its commit (no Spark job). An overwrite whose predicate names partition
    columns alone removes every file of the partitions it replaces, so what it added is what
    they hold; so does an append to partitions that held no file (`appended_to_empty`: the
    caller looked before it wrote). None, for the caller to count in the table, when the log
    cannot tell: no commit since `before` touched the partitions or more than one did, the one
    is not an overwrite (nor that append), or a file lacks its count."""
    def inside(file: dict) -> bool:
        return all(file.get("partitionValues", {}).get(k) == v for k, v in partition.items())

    log = DeltaTable.forName(spark, fqname)._jdt.deltaLog()
    log_path = log.logPath().toString()
    touching = []
    for version in range(before + 1, _newest(spark, log).version() + 1):
        actions = _commit_actions(spark, log_path, version)
        if actions is None:
            return None
        if any(inside(a.get("add") or a.get("remove")) for a in actions if "add" in a or "remove" in a):
            touching.append(actions)
    if len(touching) != 1:
        return None
    info = next((a["commitInfo"] for a in touching[0] if "commitInfo" in a), {})
    modes = ("Overwrite", "Append") if appended_to_empty else ("Overwrite",)
    if info.get("operation") != "WRITE" or (info.get("operationParameters") or {}).get("mode") not in modes:
        return None
    rows: dict[str, int] = {}
    for add in (a["add"] for a in touching[0] if "add" in a and inside(a["add"])):
        records = json.loads(add.get("stats") or "{}").get("numRecords")
        if records is None or add.get("deletionVector"):
            return None
        rows[add["partitionValues"][by]] = rows.get(add["partitionValues"][by], 0) + records
    return rows


def data_changed(spark, fqname: str, since: int, until: int) -> bool:
    """Whether a commit after version `since`, up to `until`, changed the table's rows. Gold
    builds and publish ask it, so maintenance (OPTIMIZE, VACUUM, the statistics kept as table
    properties) makes no new build and no new publication: a rerun after it still changes
    nothing. A commit whose file is gone (log cleanup) counts as a change."""
    log_path = DeltaTable.forName(spark, fqname)._jdt.deltaLog().logPath().toString()
    return any(_commit_operation(spark, log_path, v) not in NO_DATA_CHANGE for v in range(until, since, -1))


def never_written(spark, fqname: str) -> bool:
    """Whether the table's newest commit is its creation (ensure_table's, which writes no row),
    so it holds nothing and a query of it (about a second on a table just made) can be skipped.
    From its log, no Spark job. Sound because Delta commits a creation only to an empty folder
    (a table re-registered over its log commits nothing), a creation with rows is "CREATE TABLE
    AS SELECT", and a newest commit without its file reads as another operation."""
    return last_commit(spark, fqname)["operation"] == "CREATE TABLE"


def commit_since(spark, fqname: str, before: int) -> dict | None:
    """The commit a write made, or None if it committed nothing (Delta records no empty
    commit). Under the one-writer-per-table rule the newest commit is ours."""
    if current_version(spark, fqname) <= before:
        return None
    return last_commit(spark, fqname)


def row_count(spark, fqname: str, version: int | None = None, where: str | None = None) -> int:
    """Rows the table holds (at `version`), counted from the table: Delta answers a plain
    count from its log's file statistics, without reading data files."""
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    df = reader.table(fqname)
    return (df.where(where) if where else df).count()


def committed_changes(spark, fqname: str, version: int) -> dict[str, int]:
    """What one commit did to a table with a change feed, counted from the change data it
    wrote: rows per change type (insert, update_postimage, delete, update_preimage)."""
    rows = spark.sql(f"SELECT _change_type, count(*) AS n FROM table_changes('{fqname}', {version}, {version}) "
                     "GROUP BY _change_type").collect()
    return {r["_change_type"]: r["n"] for r in rows}


# -- bronze -------------------------------------------------------------------------------
def append(df: DataFrame, fqname: str) -> None:
    # DataFrameWriterV2 writes through the Delta catalog and leaves the metastore entry as
    # is (saveAsTable would try to alter it in the Hive metastore on every write).
    df.writeTo(fqname).append()


# A write into nothing is an append. An overwrite of partitions that hold no file, or a MERGE
# into an empty table, commits the same rows as an append, but first rebuilds the table's
# snapshot and plans a scan of what it replaces or matches: on a small table in a warm
# session an overwrite took 0.85 s and an append 0.19 s (median of 10), and a fresh
# lakehouse's run makes some 15 such writes. The callers know the table holds nothing of what
# they write (they looked, in its log or its checksum's file list, or bronze by a query, under
# the one-writer rule), and reconcile an append's commit as they reconcile the write it stands for.
def append_as_table(spark, df: DataFrame, fqname: str) -> None:
    """Append `df`'s columns named as the table's, each cast to the table's type, as a MERGE's
    insert casts its values (a column the table has and `df` lacks is NULL, as there). A column
    the table lacks is refused, as a MERGE inserting it would be, not dropped."""
    target = spark.table(fqname).schema
    unknown = [c for c in df.columns if c not in target.fieldNames()]
    if unknown:
        raise ValueError(f"{fqname} has no column {', '.join(unknown)}: nothing was appended")
    append(df.select(*[(F.col(f"`{f.name}`") if f.name in df.columns else F.lit(None)).cast(f.dataType).alias(f.name)
                       for f in target.fields]), fqname)


def replace_batches(df: DataFrame, fqname: str, batch_ids: list[str], held: bool = True) -> None:
    """Bronze's write: the rows of these batches replace whatever the table held of them, in
    one commit. `held`: False when the table holds no row of them (the caller looked): an append."""
    if held:
        df.writeTo(fqname).overwrite(F.col("_batch_id").isin(batch_ids))
    else:
        append(df, fqname)


# -- silver -------------------------------------------------------------------------------
# Silver's MERGE leaves out its matched clauses when the plan only inserts (a day of new keys
# alone): the same result, since no matched row of such a plan had a clause to apply, and
# Delta runs its insert-only MERGE, which reads the source once, in an anti join with the
# target, without materialising it first (a first day of the sample's datasets: 191 Spark jobs
# instead of 207). Into an empty table (a history load) such a plan is an append.


def merge_scd1(spark, fqname: str, final: DataFrame, spec: DatasetSpec, inserts_only: bool = False,
               into_empty: bool = False) -> None:
    """Apply the newest change per key (`_final`: insert, update or delete); `inserts_only`:
    the plan holds no update or delete; `into_empty` too, and the table holds no row: an append."""
    cols = silver_column_names(spec)
    if into_empty:
        append_as_table(spark, final.where("_final = 'insert'").select(*[f"`{c}`" for c in cols]), fqname)
        return
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.keys)
    merge = DeltaTable.forName(spark, fqname).alias("t").merge(final.alias("s"), on)
    if not inserts_only:
        merge = (merge.whenMatchedDelete(condition="s._final = 'delete'")
                 .whenMatchedUpdate(condition="s._final = 'update'", set={f"`{c}`": f"s.`{c}`" for c in cols}))
    _execute_packed(spark, merge.whenNotMatchedInsert(condition="s._final = 'insert'",
                                                      values={f"`{c}`": f"s.`{c}`" for c in cols}))


def merge_append(spark, fqname: str, rows: DataFrame, spec: DatasetSpec, batch_ids: list[str],
                 replaced: Column | None = None, into_empty: bool = False) -> None:
    """Insert the records silver does not hold yet (by batch and arrival, their identity): a
    retry inserts nothing twice. Only the batches' rows are read (by `_batch_id`'s file
    statistics: batches are appended in order). `replaced`: silver's rows (of table `t`) that
    the rows replace, deleted in the same commit (a file re-ingested: what it held before).
    `into_empty`: the table holds no row and nothing is replaced: an append."""
    cols = silver_column_names(spec)
    if into_empty and replaced is None:
        append_as_table(spark, rows.select(*[f"`{c}`" for c in cols]), fqname)
        return
    pending = ", ".join(sql_literal(b) for b in batch_ids)
    merge = (
        DeltaTable.forName(spark, fqname).alias("t")
        .merge(rows.alias("s"), f"t._batch_id IN ({pending}) AND t._batch_id = s._batch_id "
                                "AND t._arrival = s._arrival")
        .whenNotMatchedInsert(values={f"`{c}`": f"s.`{c}`" for c in cols})
    )
    if replaced is not None:
        merge = merge.whenNotMatchedBySourceDelete(condition=replaced)
    _execute_packed(spark, merge)


def merge_scd2(spark, fqname: str, rows: DataFrame, spec: DatasetSpec, inserts_only: bool = False,
               into_empty: bool = False) -> None:
    """Close current versions (`_kind` close) and insert new ones (`_kind` version);
    `inserts_only`: the plan closes none; `into_empty` too, and the table holds no row: an append.

    New versions carry a NULL merge key, so they never match and always insert."""
    cols = [c.name for c in spec.data_columns] + ["_batch_id", "valid_from", "valid_to", "is_current"]
    if into_empty:
        append_as_table(spark, rows.where("_kind = 'version'").select(*[f"`{c}`" for c in cols]), fqname)
        return
    closing = F.col("_kind") == "close"
    staged = rows.select(
        *[F.when(closing, F.col(k)).alias(f"_mk_{k}") for k in spec.keys], *cols, "_kind"
    )
    on = " AND ".join(f"t.`{k}` = s.`_mk_{k}`" for k in spec.keys) + " AND t.is_current"
    merge = DeltaTable.forName(spark, fqname).alias("t").merge(staged.alias("s"), on)
    if not inserts_only:
        merge = merge.whenMatchedUpdate(condition="s._kind = 'close'",
                                        set={"is_current": "false", "valid_to": "s.valid_to"})
    _execute_packed(spark, merge.whenNotMatchedInsert(condition="s._kind = 'version'",
                                                      values={f"`{c}`": f"s.`{c}`" for c in cols}))


def merge_delete_markers(spark, spec: DatasetSpec, markers: DataFrame, key_sql: str, into_empty: bool = False) -> None:
    """Keep the newer delete per key (`key_sql`: the stored key as `markers` writes it): a
    retry rewrites nothing (one commit, and only the dataset's partition is read, so datasets
    never conflict). `into_empty`: the dataset's partition holds no marker: an append."""
    _ops_written.add(DELETE_MARKERS_TABLE)
    if into_empty:
        append_as_table(spark, markers, DELETE_MARKERS_TABLE)
        return
    stored, new = (f"try_cast({side}.ordering AS {spec.version_type})" for side in ("t", "s"))
    _execute_packed(spark, (
        DeltaTable.forName(spark, DELETE_MARKERS_TABLE).alias("t")
        .merge(markers.alias("s"), f"t.dataset = '{spec.name}' AND t.ordering_column = s.ordering_column "
                                   f"AND {key_sql} = s.key")
        .whenMatchedUpdateAll(condition=f"{stored} IS NULL OR {new} > {stored}")
        .whenNotMatchedInsertAll()
    ))


USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


def replace_quarantine(spark, rows: DataFrame, dataset: str, batch_ids: list[str], metadata: str | None = None,
                       held: bool = True) -> None:
    """Idempotent per (dataset, batch): a retried batch replaces its own quarantine rows.
    `metadata` is kept with the commit (its userMetadata, in the table's history). `held`:
    False when the table holds no row of the batches (the caller looked): an append."""
    previous = spark.conf.get(USER_METADATA, None)  # a job's own label (lakehouse.task_state)
    if metadata:
        spark.conf.set(USER_METADATA, metadata)
    try:
        if held:
            rows.writeTo(QUARANTINE_TABLE).overwrite((F.col("dataset") == dataset) & F.col("batch_id").isin(batch_ids))
        else:
            append(rows, QUARANTINE_TABLE)
    finally:
        if metadata and previous is not None:
            spark.conf.set(USER_METADATA, previous)
        elif metadata:
            spark.conf.unset(USER_METADATA)


def commit_metadata(spark, fqname: str) -> list[str]:
    """The userMetadata of the table's commits that have one, newest first (a Spark job)."""
    return [r[0] for r in DeltaTable.forName(spark, fqname).history().where("userMetadata IS NOT NULL")
            .select("userMetadata").collect()]


def records_frame(spark, records: list[dict], schema: StructType) -> DataFrame:
    """The ops tables' records (audit, file log, validations, published, DQOps's results) as a
    frame, through Arrow: the driver's JVM holds them as a local relation (a LocalTableScan),
    where a frame of Python rows is a Python RDD that starts Python workers on every read (a
    CI run spent 182 CPU-s in such workers, session 41's count). Times must be aware: Arrow takes a naive one as UTC,
    where Spark's row conversion takes it as local time, so one is refused rather than moved.

    One partition, so the records make one file: a local relation spreads its rows over the
    cores (two files per commit here, more on a larger machine), and every task reads ops.audit
    whole, opening each of its files. An append adds that file alone; a MERGE or an overwrite
    may also rewrite files it touches (and a MERGE's join into a large table may split them)."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    times = [f.name for f in schema.fields if isinstance(f.dataType, TimestampType)]
    for record in records:
        for name in times:
            if isinstance(value := record.get(name), datetime) and value.tzinfo is None:
                raise ValueError(f"{name}={value.isoformat()}: a naive time; the ops tables take aware ones (UTC)")
    table = pa.Table.from_pylist(records, schema=to_arrow_schema(schema))
    return spark.createDataFrame(table, schema).coalesce(1)


def replace_validations(spark, records: list[dict], judged: list[tuple[str, str]]) -> None:
    """Idempotent per (table, scope) judged: a retried batch or build replaces its own results."""
    replaced = reduce(lambda a, b: a | b, [(F.col("table_name") == t) & (F.col("scope") == s) for t, s in judged])
    records_frame(spark, records, VALIDATIONS_SCHEMA).writeTo(VALIDATIONS_TABLE).overwrite(replaced)
    _ops_written.add(VALIDATIONS_TABLE)


def append_audit(spark, records: list[dict]) -> None:
    if records:
        append(records_frame(spark, records, AUDIT_SCHEMA), AUDIT_TABLE)
        _ops_written.add(AUDIT_TABLE)


def append_landing_files(spark, records: list[dict]) -> None:
    if records:
        append(records_frame(spark, records, LANDING_FILES_SCHEMA), LANDING_FILES_TABLE)
        _ops_written.add(LANDING_FILES_TABLE)


def file_count(spark, location: str) -> int | None:
    """The data files of the newest version of the Delta table at `location`, from the
    commit's checksum (Delta holds it after this process's own write, else reads its .crc file
    from _delta_log); None without one (Delta writes it with every commit, but a failure to is
    no error). No Spark job and no metastore call: the snapshot's own count computes its state
    (3 jobs, 1.2-1.6 s on MinIO for a table the process had not read), and DeltaTable.forName
    asks the metastore (0.14 s on MinIO, against 0.02 s for the whole count by path)."""
    log = spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, location)
    checksum = _scala_option_value(_newest(spark, log).checksumOpt())
    return None if checksum is None else checksum.numFiles()


def partitions_hold_files(spark, fqname: str, partitions: dict[str, set[str]]) -> bool | None:
    """Whether the newest version of the table holds a data file in the partitions whose
    columns take one of the given values each (column: values), from the commit's checksum:
    Delta lists every live file there while a table has few (allFilesInCrc, at most 50 by
    default). No Spark job, where a query of the table rebuilds its snapshot and plans a scan
    (0.5-2.5 s embedded; on the native platform 0.09 s against 0.3-4.0 s, 1.3 s after a commit).
    None, for the caller to query, when the checksum lists no files (a lakehouse's
    ops.quarantine passes 50 files within weeks: one or more per dataset and batch that
    quarantined), when a column named is not a partition column, or when the table maps its
    columns to physical names (its files' partition values are then keyed by those)."""
    log = DeltaTable.forName(spark, fqname)._jdt.deltaLog()
    snapshot = _newest(spark, log)
    metadata = snapshot.metadata()
    if metadata.columnMappingMode().name() != "none" or not set(partitions) <= set(_scala_list(
            metadata.partitionColumns())):
        return None
    checksum = _scala_option_value(snapshot.checksumOpt())
    files = None if checksum is None else _scala_option_value(checksum.allFiles())
    if files is None:
        return None
    for file in _scala_list(files):
        values = file.partitionValues()
        if all(_scala_option_value(values.get(column)) in wanted for column, wanted in partitions.items()):
            return True
    return False


def _scala_list(seq) -> list:
    """A Scala collection's elements, through py4j."""
    found, elements = seq.iterator(), []
    while found.hasNext():
        elements.append(found.next())
    return elements


def _scala_option_value(option):
    """A Scala Option's value, or None for None (py4j cannot pass getOrElse its function)."""
    return option.get() if option.isDefined() else None


def ops_written() -> frozenset[str]:
    """The ops tables this process wrote since it last took them (take_ops_written)."""
    return frozenset(_ops_written)


def take_ops_written() -> list[str]:
    written = sorted(_ops_written)
    _ops_written.clear()
    return written


def merge_dqops_checks(spark, records: list[dict]) -> None:
    """Add the DQOps check executions the table does not hold (a rerun adds nothing)."""
    source = records_frame(spark, records, DQOPS_CHECKS_SCHEMA)
    (DeltaTable.forName(spark, DQOPS_CHECKS_TABLE).alias("t")
     .merge(source.alias("s"), "t.table_name = s.table_name AND t.column_name <=> s.column_name "
                               "AND t.check_name = s.check_name AND t.executed_at = s.executed_at")
     .whenNotMatchedInsertAll().execute())
    _ops_written.add(DQOPS_CHECKS_TABLE)


# -- publish ------------------------------------------------------------------------------
def published_versions(spark) -> dict[str, set[int]]:
    rows = spark.table(PUBLISHED_TABLE).select("table_name", "delta_version").collect()
    found: dict[str, set[int]] = {}
    for r in rows:
        found.setdefault(r["table_name"], set()).add(r["delta_version"])
    return found


def append_published(spark, records: list[dict]) -> None:
    if records:
        append(records_frame(spark, records, PUBLISHED_SCHEMA), PUBLISHED_TABLE)
        _ops_written.add(PUBLISHED_TABLE)


# -- gold ---------------------------------------------------------------------------------
def sql_literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


# merge_by_difference's columns of its own: a differing row's mark (its key is gone from the
# result), and which side of the comparison holds a key.
_GONE, _HELD, _COMPUTED = "__lakehouse_gone", "__lakehouse_held", "__lakehouse_computed"


def merge_by_difference(spark, fqname: str, result: DataFrame, keys: list[str], scope: str | None = None,
                        empty: bool = False) -> int:
    """Make the table equal to `result` (within `scope`, a SQL condition on the target aliased
    `t`) by writing only what differs: changed rows update, new rows insert, vanished rows
    delete. Returns how many rows differed; none: no MERGE, no commit. `empty`: the table holds
    no row (just created or replaced), so every row differs: the result is appended whole.

    The difference is found first (one join of the result with the table) and is the MERGE's
    whole source. A MERGE of the whole result would have to delete the keys the result lacks
    with a NOT MATCHED BY SOURCE clause, and Delta rewrites every file such a MERGE reads:
    every build copied the whole table (376,650 rows of gold.customer_lifetime_value at a
    million orders, when not one of them had changed) and made a version for publish to
    announce. This MERGE rewrites only the files that hold a differing key."""
    if empty:
        count = result.count()
        if count:
            with _packed_writes(spark):
                append_as_table(spark, result, fqname)
        return count
    same_key = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)  # null-safe: the join and the MERGE alike
    differing = _difference(spark, fqname, result, keys, same_key, scope).persist()
    try:
        count = differing.count()
        if count:
            columns = {f"`{c}`": f"s.`{c}`" for c in result.columns}
            _execute_packed(spark, (
                DeltaTable.forName(spark, fqname).alias("t")
                .merge(differing.alias("s"), f"({scope}) AND {same_key}" if scope else same_key)
                .whenMatchedDelete(condition=f"s.{_GONE}")
                .whenMatchedUpdate(set=columns)
                .whenNotMatchedInsert(condition=f"NOT s.{_GONE}", values=columns)
            ))
    finally:
        differing.unpersist()
    return count


def _execute_packed(spark, merge) -> None:
    """Every MERGE of silver, gold and the delete markers: its new files packed by size."""
    with _packed_writes(spark):
        merge.execute()


@contextmanager
def _packed_writes(spark):
    """Delta's optimized writes within the block: the written rows are packed into files by
    size, not one file per shuffle partition. A MERGE's or a gold build's rows come out of a
    join or an aggregation, so without adaptive execution (Settings.adaptive_execution) to
    coalesce them a day's commit of a small gold table wrote 4 files instead of 1, and a 1%
    batch's MERGE into 1.08 million silver.orders rows 4 data and 4 change-data files instead of 2
    and 2. A history load's append into an empty silver table is not packed: it writes a file
    per partition of its input, on every core."""
    key = "spark.databricks.delta.optimizeWrite.enabled"
    before = spark.conf.get(key, None)
    spark.conf.set(key, "true")
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def _difference(spark, fqname: str, result: DataFrame, keys: list[str], same_key: str, scope: str | None) -> DataFrame:
    """The rows of `result` that the table (within `scope`) lacks or holds with other values,
    and, marked _GONE, the keys the table holds that `result` lacks (`same_key`: the MERGE's
    null-safe condition on the keys of `t` and `s`)."""
    values = [c for c in result.columns if c not in keys]
    held = spark.table(fqname).alias("t")
    if scope:
        held = held.where(scope)
    t = held.select(*[F.col(f"t.`{c}`").alias(c) for c in result.columns], F.lit(True).alias(_HELD)).alias("t")
    s = result.select("*", F.lit(True).alias(_COMPUTED)).alias("s")
    gone, new = F.col(f"s.{_COMPUTED}").isNull(), F.col(f"t.{_HELD}").isNull()
    changed = reduce(Column.__or__, [~F.col(f"t.`{c}`").eqNullSafe(F.col(f"s.`{c}`")) for c in values], F.lit(False))
    return t.join(s, F.expr(same_key), "full_outer").where(gone | new | changed).select(
        *[F.when(gone, F.col(f"t.`{k}`")).otherwise(F.col(f"s.`{k}`")).alias(k) for k in keys],
        *[F.col(f"s.`{c}`").alias(c) for c in values], gone.alias(_GONE))
