"""Bronze records -> silver candidates. Pure: no I/O, no session, no settings.

`classify` gives every bronze record one fate, so a batch's accounting closes by
construction and can be checked:

- quarantine / drop / fail: the first blocking rule it breaks (malformed, schema drift,
  type mismatch, then the spec's expectations in declared order);
- duplicate: an exact repeat of a key at the same ordering value in the same batch (without an
  ordering column: an exact repeat of a record in the same batch);
- superseded: an older version of a key within the batch;
- candidate: the newest version of its key in its batch, to be merged into silver (in an
  append dataset, every record that breaks no blocking rule: none replaces another).

Warn-level rules never change a fate; they are counted per rule in `_warnings`.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse import rules as rule_types
from lakehouse.specs import DatasetSpec, Expectation

QUARANTINE, DROP, FAIL, WARN = "quarantine", "drop", "fail", "warn"
DUPLICATE, SUPERSEDED, CANDIDATE = "duplicate", "superseded", "candidate"


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    violated: Column  # true when the row breaks the rule
    reason: Column


def _q(name: str) -> str:
    return f"`{name}`"


STRUCTURAL = ("malformed", "schema_drift", "type_mismatch:")  # parsing rules, not expectations


def expectation_violation(e: Expectation, column_type: str | None = None) -> Column:
    """True when a row violates `e` (its type's module in lakehouse.rules says how). A null
    passes every rule but not_null; `column_type` is the DDL type of the rule's column
    (DatasetSpec): bounds and numeric values are compared in it."""
    return rule_types.of(e).violated(e, column_type)


def _raw_name(column: str) -> str:
    return f"__raw_{column}"


def _type_mismatch(column: str, type_: str) -> Column:
    raw, typed = F.col(_raw_name(column)), F.col(column)
    bad = raw.isNotNull() & typed.isNull()
    if type_.startswith("decimal"):
        # Casting '12.999' to decimal(10,2) rounds silently; a value must fit its type exactly.
        bad = bad | (raw.isNotNull() & (F.expr(f"try_cast({_q(_raw_name(column))} AS DECIMAL(38,18))") != typed))
    return bad


def rules(spec: DatasetSpec) -> list[Rule]:
    """All rules of a dataset, in the order they are applied."""
    out = [
        Rule("malformed", QUARANTINE, F.col("_malformed_reason").isNotNull(), F.col("_malformed_reason")),
        Rule(
            "schema_drift",
            FAIL if spec.schema_drift == "fail" else QUARANTINE,
            F.col("_schema_drift").isNotNull(),
            F.col("_schema_drift"),
        ),
    ]
    for c in spec.columns:
        out.append(Rule(
            f"type_mismatch:{c.name}", QUARANTINE, _type_mismatch(c.name, c.type),
            F.concat(F.lit(f"{c.name}: not a valid {c.type}: "), F.col(_raw_name(c.name))),
        ))
    for c in spec.columns:
        if c.required:
            out.append(Rule(f"not_null:{c.name}", QUARANTINE, F.col(c.name).isNull(), F.lit(f"{c.name} is required")))
    types = spec.column_types
    for e in spec.expectations:
        out.append(Rule(e.name, e.action, expectation_violation(e, types.get(e.column)), rule_types.of(e).reason(e)))
    return out


def is_parsed() -> Column:
    """True for a record that parsed into the spec's columns and types: what the expectations judge."""
    rule = F.col("_rule")
    return rule.isNull() | ~(rule.isin("malformed", "schema_drift") | rule.startswith("type_mismatch:"))


def warn_rule_names(spec: DatasetSpec) -> list[str]:
    """The warn rules, in rules() order (named without building rules' Columns, which costs)."""
    return [e.name for e in spec.expectations if e.action == WARN]


def judged_rule_names(spec: DatasetSpec) -> list[str]:
    """The rules GX judges (every rule but the structural ones), in rules() order."""
    return [f"not_null:{c.name}" for c in spec.columns if c.required] + [e.name for e in spec.expectations]


def fate_summary(classified: DataFrame, spec: DatasetSpec) -> DataFrame:
    """One row per batch, fate and rule: `n` records; `w<i>`: how many broke the i-th warn
    rule; `v<i>`: how many parsed records broke the i-th judged rule, each rule counted on
    its own, as Great Expectations counts. One aggregation: a batch's accounting and what GX
    must find cost one Spark job."""
    all_rules, parsed = rules(spec), is_parsed()
    warn = [r for r in all_rules if r.action == WARN]
    judged = [r for r in all_rules if not r.name.startswith(STRUCTURAL)]
    return classified.groupBy("_batch_id", "_fate", "_rule").agg(
        F.count("*").alias("n"),
        *[F.sum(F.array_contains("_warnings", r.name).cast("long")).alias(f"w{i}") for i, r in enumerate(warn)],
        *[F.sum((parsed & r.violated).cast("long")).alias(f"v{i}") for i, r in enumerate(judged)],
    )


def summary_violations(rows, spec: DatasetSpec) -> dict[str, int]:
    """Per judged rule, the parsed records breaking it, over fate_summary's rows."""
    return {name: sum(row[f"v{i}"] or 0 for row in rows) for i, name in enumerate(judged_rule_names(spec))}


def violation_counts(classified: DataFrame, spec: DatasetSpec) -> dict[str, int]:
    """Per judged rule, the parsed records that break it (a record breaking two rules counts
    for both, as Great Expectations counts)."""
    return summary_violations(fate_summary(classified, spec).collect(), spec)


def with_context(typed: DataFrame, spec: DatasetSpec, references: dict[str, DataFrame],
                 batch_changes: dict[str, float | None]) -> DataFrame:
    """What the rules need beyond the row (each rule type's `context`): a foreign key's
    referenced value (null when the referenced dataset does not hold it), the batch's
    row-count change."""
    for e in spec.expectations:
        typed = rule_types.of(e).context(typed, e, references, batch_changes)
    return typed


def classify(bronze: DataFrame, spec: DatasetSpec, references: dict[str, DataFrame] | None = None,
             batch_changes: dict[str, float | None] | None = None) -> DataFrame:
    """Type the bronze strings and give every record its fate (see the module docstring).

    Adds `_fate`, `_rule`, `_reason`, `_warnings` (array of warn rules broken) and keeps the
    raw record text in `_raw` for whatever is not a candidate. `references` holds, per
    foreign key rule, the referenced dataset's rows; `batch_changes` each batch's row-count
    change (see with_context).
    """
    names = spec.column_names
    meta = [c for c in bronze.columns if c not in names]
    typed = bronze.select(
        *meta,
        *[F.col(_q(n)).alias(_raw_name(n)) for n in names],
        *[F.expr(f"try_cast({_q(n)} AS {c.type})").alias(n) for n, c in zip(names, spec.columns)],
    )
    if not spec.ordering:
        typed = typed.withColumn(spec.version_column, arrival_order())
    typed = with_context(typed, spec, references or {}, batch_changes or {})
    all_rules = rules(spec)
    blocking = [r for r in all_rules if r.action != WARN]
    warnings = [r for r in all_rules if r.action == WARN]

    def first_broken(value) -> Column:
        expr = F.when(blocking[0].violated, value(blocking[0]))
        for r in blocking[1:]:
            expr = expr.when(r.violated, value(r))
        return expr

    warned = (
        F.filter(F.array(*[F.when(r.violated, F.lit(r.name)) for r in warnings]), lambda x: x.isNotNull())
        if warnings else F.array().cast("array<string>")
    )
    raw_record = F.coalesce(F.col("_raw"), F.to_json(F.struct(*[F.col(_raw_name(n)).alias(n) for n in names])))
    flagged = typed.select(
        "*",
        first_broken(lambda r: F.lit(r.name)).alias("_rule"),
        first_broken(lambda r: F.lit(r.action)).alias("_action"),
        first_broken(lambda r: r.reason).alias("_reason"),
        warned.alias("_warnings"),
    ).withColumn("_raw", raw_record)
    # A warning is about a record that is kept; a quarantined one is counted by its rule.
    flagged = flagged.withColumn("_warnings", F.when(F.col("_action").isNull(), F.col("_warnings"))
                                 .otherwise(F.array().cast("array<string>")))

    if spec.mode == "append":
        fate = F.coalesce(F.col("_action"), F.lit(CANDIDATE))
        return flagged.withColumn("_fate", fate).drop("_action", *[_raw_name(n) for n in names])
    keys = [F.col(k) for k in spec.keys]
    ordering = F.col(spec.version_column)
    clean = F.col("_action").isNull()
    # Only exact copies (same raw record) are duplicates. Different records of one key at
    # one ordering value are versions: the tie is broken by the raw text, so reruns agree.
    # In arrival order every record has its own place: the copy that arrived last is kept.
    same_version = Window.partitionBy("_batch_id", clean, *keys, *([ordering] if spec.ordering else []), "_raw") \
        .orderBy(ordering.desc(), "_source_file")
    ranked = flagged.withColumn("_version_rank", F.row_number().over(same_version))
    # Rank versions of a key among first copies only, so a duplicate never hides the newest.
    first_copy = clean & (F.col("_version_rank") == 1)
    same_key = Window.partitionBy("_batch_id", first_copy, *keys).orderBy(ordering.desc(), F.col("_raw"))
    ranked = ranked.withColumn("_key_rank", F.row_number().over(same_key))
    fate = (
        F.when(~clean, F.col("_action"))
        .when(F.col("_version_rank") > 1, F.lit(DUPLICATE))
        .when(F.col("_key_rank") > 1, F.lit(SUPERSEDED))
        .otherwise(F.lit(CANDIDATE))
    )
    return ranked.withColumn("_fate", fate).drop("_version_rank", "_key_rank", "_action",
                                                  *[_raw_name(n) for n in names])


def arrival_order() -> Column:
    """A bronze record's place in the landing as text that sorts in arrival order: its batch
    (a day, fixed width), its file's path, when bronze read the file (to the microsecond: a
    file re-ingested on purpose, `lakehouse reprocess --file`, arrives after what it held
    before), then its place in the file (zero-padded), joined by tabs. A tab sorts below
    every character a path holds (the few control characters below it count as '?'), so a
    path that begins another sorts first, as comparing the paths would. Rows bronze loaded
    before it kept places tie at 0 within a file (the raw text breaks the tie, so reruns
    agree)."""
    position = F.lpad(F.coalesce(F.col("_position"), F.lit(0)).cast("string"), 19, "0")
    read_at = F.coalesce(F.date_format("_ingested_at", READ_AT_FORMAT), F.lit(""))
    return F.concat_ws("\t", F.col("_batch_id"), arrival_path(F.col("_source_file")), read_at, position)


def arrival_path(path: Column) -> Column:
    """A path as arrival_order writes it."""
    return F.regexp_replace(path, r"[\x00-\x09]", "?")


_CONTROL = re.compile(r"[\x00-\x09]")  # what arrival_path writes as '?'
READ_AT_FORMAT = "yyyy-MM-dd HH:mm:ss.SSSSSS"  # a read time as arrival_order writes it (Spark's pattern)


def read_before(files: dict[str, list[str]], read_at: str, alias: str) -> Column:
    """True for a row of table `alias` holding a record of these files (per batch) as read
    before `read_at` (READ_AT_FORMAT): what re-ingesting the files replaces in an append
    dataset, whose rows are records, each its own arrival."""
    col = lambda name: F.col(f"{alias}.{name}")  # noqa: E731
    conditions = []
    for batch, paths in sorted(files.items()):
        for path in paths:
            prefix = "\t".join([batch, _CONTROL.sub("?", path), ""])
            conditions.append((col("_batch_id") == batch) & col("_arrival").startswith(prefix)
                              & (col("_arrival") < prefix + read_at))
    return reduce(lambda a, b: a | b, conditions)


def candidates(classified: DataFrame, spec: DatasetSpec) -> DataFrame:
    """The newest version of each key, typed, with `_is_delete` from the CDC column."""
    op = spec.operation
    is_delete = F.col(op.column).isin(op.delete_values) if op else F.lit(False)
    cols = [c.name for c in spec.data_columns] + ([] if spec.ordering else [spec.version_column])
    return classified.where(F.col("_fate") == CANDIDATE).select(
        *cols, F.coalesce(is_delete, F.lit(False)).alias("_is_delete"), "_batch_id", F.lit(False).alias("_absent")
    )


def keyless(spec: DatasetSpec) -> Column:
    """True for a record whose key could not be read (a malformed line, a key of the wrong
    type): the snapshot it belongs to cannot tell which keys it lacks."""
    return reduce(lambda a, b: a | b, [F.col(k).isNull() for k in spec.keys])


def absent_keys(classified: DataFrame, held: DataFrame, spec: DatasetSpec, batch_ids: list[str],
                complete: list[str]) -> DataFrame:
    """A snapshot dataset's deletes: per batch of `batch_ids` (pending, in order, none older
    than silver's newest) in `complete` (every record names its key), the keys held just
    before it that it lacks, as delete candidates (`_absent`).

    Held just before a batch: the keys of the last complete batch before it and of every batch
    after that one (a batch not complete deletes nothing, so what it holds adds to what was
    held), and what silver holds (`held`, its keys) while no complete batch came before. Each
    delete stands at its batch's start: its `_arrival` is the bare day, before every record of
    that day. Every record of the batch names a key it holds, whatever its fate: a quarantined
    record's key is still in the snapshot."""
    keys = spec.keys
    present = classified.where(F.col("_batch_id").isin(batch_ids) & ~keyless(spec)).select("_batch_id", *keys) \
        .distinct()
    # Each batch's keys (silver's: None) are held before the next complete batch after it: a
    # complete snapshot replaces what was held, one that is not adds to it.
    following = {source: next((b for b in batch_ids[i:] if b in complete), None)
                 for i, source in enumerate([None, *batch_ids])}
    targets = F.create_map(*[F.lit(x) for b in batch_ids if following[b] for x in (b, following[b])]) \
        if any(following[b] for b in batch_ids) else F.create_map().cast("map<string,string>")
    before = present.select(F.element_at(targets, F.col("_batch_id")).alias("_batch_id"), *keys) \
        .where(F.col("_batch_id").isNotNull())
    if following[None]:
        before = before.unionByName(held.select(F.lit(following[None]).alias("_batch_id"), *keys))
    absent = before.distinct().join(present, ["_batch_id", *keys], "left_anti")
    types = spec.column_types
    others = [c.name for c in spec.data_columns if c.name not in keys]
    return absent.select(*keys, *[F.lit(None).cast(types[c]).alias(c) for c in others],
                         F.col("_batch_id").alias(spec.version_column), F.lit(True).alias("_is_delete"), "_batch_id",
                         F.lit(True).alias("_absent"))


INSERT, UPDATE, DELETE = "insert", "update", "delete"
APPLIED = (INSERT, UPDATE, DELETE)


def target_state_scd1(target: DataFrame, spec: DatasetSpec) -> DataFrame:
    """Per key in silver: whether it exists and the ordering value of its last change. A row
    silver held before its spec dropped the ordering column has no arrival: its batch stands
    for it (a bare day sorts after every earlier batch's arrival and before its own day's)."""
    last = F.col(spec.version_column)
    if not spec.ordering:
        last = F.coalesce(last, F.col("_batch_id"))
    row = [data_row(spec).alias("_t_row")] if spec.mode == "snapshot" else []
    return target.select(*spec.keys, F.lit(True).alias("_t_exists"), last.alias("_t_last"), *row)


def data_row(spec: DatasetSpec) -> Column:
    """A version's values, as one comparable struct."""
    return F.struct(*[F.col(c.name) for c in spec.data_columns])


def target_state_scd2(target: DataFrame, spec: DatasetSpec) -> DataFrame:
    """Per key in SCD2 history: whether a current version exists, and the last change
    (the newest valid_from, or valid_to when the key was closed by a delete)."""
    return target.groupBy(*spec.keys).agg(
        F.max(F.col("is_current").cast("int")).cast("boolean").alias("_t_exists"),
        F.max(F.greatest("valid_from", F.coalesce("valid_to", "valid_from"))).alias("_t_last"),
    )


# Delete markers (ops.delete_markers): per key, the ordering value of the newest delete that
# applied. A deleted key leaves silver (SCD1) or no current row (SCD2), and without a marker
# an older version arriving later would bring it back: the marker makes a delete a version
# like any other. Keys are kept as JSON (one table for every dataset) and ordering values as
# text, timestamps to the microsecond with their offset. A marker names its ordering column:
# after a spec changes it, the markers of the old column compare nothing (in arrival order,
# they stand at their batch).
_TIMESTAMP_TEXT = "yyyy-MM-dd HH:mm:ss.SSSSSSXXX"
_KEY_JSON = {"timestampFormat": _TIMESTAMP_TEXT}


def marker_key(spec: DatasetSpec) -> Column:
    return F.to_json(F.struct(*[F.col(k) for k in spec.keys]), _KEY_JSON)


def marker_key_schema(spec: DatasetSpec) -> str:
    types = spec.column_types
    return ", ".join(f"`{k}` {types[k]}" for k in spec.keys)


def normalized_marker_key_sql(column: str, spec: DatasetSpec) -> str:
    """SQL for a stored key's JSON as marker_key writes it today: a key written before a
    decimal key widened (12.50 -> 12.5000) or the keys were reordered matches its new text."""
    options = f"map('timestampFormat', '{_TIMESTAMP_TEXT}')"
    return f"to_json(from_json({column}, '{marker_key_schema(spec)}', {options}), {options})"


def _ordering_text(spec: DatasetSpec) -> Column:
    o = F.col(spec.version_column)
    return F.date_format(o, _TIMESTAMP_TEXT) if spec.version_type == "timestamp" else o.cast("string")


def marker_state(markers: DataFrame, spec: DatasetSpec) -> DataFrame:
    """The dataset's markers (ops.delete_markers rows) as keys and `_m_last`, the newest
    delete's ordering value, typed as the spec's columns: one row per key, whatever the table
    holds (a key dropped from the spec's keys folds its markers together)."""
    last = F.expr(f"try_cast(ordering AS {spec.version_type})")
    if spec.ordering:
        markers = markers.where(F.col("ordering_column") == spec.version_column)
    else:  # a delete marked by an ordering column the spec dropped stands at its batch (target_state_scd1)
        last = F.when(F.col("ordering_column") == spec.version_column, last).otherwise(F.col("batch_id"))
    parsed = markers.select(F.from_json("key", marker_key_schema(spec), _KEY_JSON).alias("_k"), last.alias("_m_last"))
    keys = [F.col(f"_k.`{k}`").alias(k) for k in spec.keys]
    return parsed.select(*keys, "_m_last").where(F.col("_m_last").isNotNull()).groupBy(*spec.keys) \
        .agg(F.max("_m_last").alias("_m_last"))


def new_markers(planned: DataFrame, spec: DatasetSpec) -> DataFrame:
    """Per key, the newest delete among the candidates that applied (`_marks`): those that
    deleted a row and those that found nothing to delete (a delete landing before the key, or
    a retry after a crash between silver's MERGE and the markers' write). Columns: key,
    ordering_column, ordering, batch_id."""
    newest = Window.partitionBy(*spec.keys).orderBy(F.col(spec.version_column).desc())
    return (planned.where(F.col("_marks")).withColumn("_n", F.row_number().over(newest)).where("_n = 1")
            .select(marker_key(spec).alias("key"), F.lit(spec.version_column).alias("ordering_column"),
                    _ordering_text(spec).alias("ordering"), F.col("_batch_id").alias("batch_id")))


def plan_changes(cands: DataFrame, state: DataFrame, spec: DatasetSpec,
                 markers: DataFrame | None = None) -> DataFrame:
    """What each candidate does when its batches are applied oldest first: `_change` is
    insert, update, delete or superseded. Equivalent to merging batch after batch, but
    computed for all pending batches at once so they can be written in one MERGE.

    A candidate applies only if it is newer than silver's last change of the key, than the
    key's delete marker (`markers`, see marker_state) and than every candidate of the key in
    an earlier batch; so a replayed batch is all superseded. `_marks` is true for a delete
    that applies: its marker is to be written (new_markers).
    """
    o = F.col(spec.version_column)
    earlier = Window.partitionBy(*spec.keys).orderBy("_batch_id").rowsBetween(Window.unboundedPreceding, -1)
    prev_max = F.max(o).over(earlier)
    prev_is_delete = F.max_by("_is_delete", o).over(earlier)
    joined = cands.join(state, on=spec.keys, how="left")
    if markers is not None:
        # A marker newer than silver's last change is the key's last change, and it is absent;
        # but a key silver holds is there (silver restored to a version before a delete).
        marked = (F.col("_m_last").isNotNull() & ~F.coalesce(F.col("_t_exists"), F.lit(False))
                  & (F.col("_t_last").isNull() | (F.col("_m_last") > F.col("_t_last"))))
        joined = (joined.join(markers, on=spec.keys, how="left")
                  .withColumn("_t_exists", F.when(marked, F.lit(False)).otherwise(F.col("_t_exists")))
                  .withColumn("_t_last", F.when(marked, F.col("_m_last")).otherwise(F.col("_t_last")))
                  .drop("_m_last"))
    high_water = F.greatest(F.col("_t_last"), F.col("_prev_max"))
    applies = high_water.isNull() | (o > high_water)
    # Did the key exist just before this candidate? The newest earlier candidate decides,
    # if it was newer than silver; otherwise silver does.
    exists = (
        F.when(F.col("_prev_max").isNotNull() & (F.col("_t_last").isNull() | (F.col("_prev_max") > F.col("_t_last"))),
               ~F.col("_prev_is_delete"))
        .otherwise(F.coalesce(F.col("_t_exists"), F.lit(False)))
    )
    deleting = F.col("_is_delete")
    change = (
        F.when(~applies, F.lit(SUPERSEDED))
        .when(deleting & exists, F.lit(DELETE))
        .when(deleting, F.lit(SUPERSEDED))  # deleting a key silver does not hold: nothing to do
        .when(exists & _unchanged(spec), F.lit(SUPERSEDED))
        .when(exists, F.lit(UPDATE))
        .otherwise(F.lit(INSERT))
    )
    return (
        joined.withColumn("_prev_max", prev_max).withColumn("_prev_is_delete", prev_is_delete)
        .withColumn("_change", change).withColumn("_marks", deleting & applies)
        .drop("_prev_max", "_prev_is_delete", "_t_row")
    )


def _unchanged(spec: DatasetSpec) -> Column:
    """A snapshot's version equal to the one before it: nothing to write (each snapshot holds
    every key, mostly unchanged). Before it: the key's previous candidate of these batches, or
    silver's row. Every candidate of a snapshot applies (an older snapshot than silver's is
    superseded whole, see late_snapshot), so the previous candidate is what silver then holds."""
    if spec.mode != "snapshot":
        return F.lit(False)
    by_key = Window.partitionBy(*spec.keys).orderBy(spec.version_column)
    before = F.lag(F.struct(F.col("_is_delete").alias("deleted"), data_row(spec).alias("row"))).over(by_key)
    preceding = F.when(before.isNotNull(), F.when(~before["deleted"], before["row"])).otherwise(F.col("_t_row"))
    return preceding.isNotNull() & data_row(spec).eqNullSafe(preceding)


def late_snapshot(cands: DataFrame) -> DataFrame:
    """The plan of snapshots older than the newest batch silver applied: every candidate
    superseded (a snapshot is the whole table as it was; a newer one is already there)."""
    return cands.withColumn("_change", F.lit(SUPERSEDED)).withColumn("_marks", F.lit(False))


def plan_appends(cands: DataFrame, held: DataFrame) -> DataFrame:
    """An append dataset's plan: each candidate is inserted, unless silver holds it already
    (`held`: silver's `_batch_id` and `_arrival` of the pending batches; a retry after a crash
    between silver's write and its audit record), when it is superseded. A record's arrival,
    its batch, file and place in the file, is its identity."""
    present = held.select("_batch_id", "_arrival", F.lit(True).alias("_held")).distinct()
    return (cands.join(present, ["_batch_id", "_arrival"], "left")
            .withColumn("_change", F.when(F.col("_held"), F.lit(SUPERSEDED)).otherwise(F.lit(INSERT)))
            .withColumn("_marks", F.lit(False)).drop("_held"))


def final_scd1(planned: DataFrame, spec: DatasetSpec) -> DataFrame:
    """One row per key that changed: its newest applied version, and `_final` = what the
    MERGE does to silver (insert, update or delete)."""
    applied = planned.where(F.col("_change").isin(*APPLIED))
    newest = Window.partitionBy(*spec.keys).orderBy(F.col(spec.version_column).desc())
    last = applied.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")
    existed = F.coalesce(F.col("_t_exists"), F.lit(False))
    final = (
        F.when(F.col("_is_delete") & existed, F.lit(DELETE))
        .when(F.col("_is_delete"), F.lit(None))  # created and deleted within these batches
        .when(existed, F.lit(UPDATE))
        .otherwise(F.lit(INSERT))
    )
    return last.withColumn("_final", final).where(F.col("_final").isNotNull())


def versions_scd2(planned: DataFrame, spec: DatasetSpec) -> DataFrame:
    """The rows the MERGE writes into SCD2 history, `_kind` saying which:
    - close: the key's current silver row ends at its first applied change (`valid_to`);
    - version: a new version, valid from its ordering value until the next applied change.
    """
    o = F.col(spec.ordering)
    applied = planned.where(F.col("_change").isin(*APPLIED))
    by_key = Window.partitionBy(*spec.keys).orderBy(o)
    versions = (
        applied.withColumn("valid_from", o).withColumn("valid_to", F.lead(o).over(by_key))
        .where(~F.col("_is_delete"))
        .withColumn("is_current", F.col("valid_to").isNull())
        .withColumn("_kind", F.lit("version"))
    )
    closes = (
        applied.where(F.coalesce(F.col("_t_exists"), F.lit(False)))
        .groupBy(*spec.keys).agg(F.min(o).alias("valid_to"))
        .withColumn("_kind", F.lit("close"))
    )
    return versions.unionByName(closes, allowMissingColumns=True)
