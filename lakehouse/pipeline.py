"""bronze -> silver -> gold -> publish for the selected datasets and batches, in one SparkSession.

Used by `lakehouse run` (local profile) and by the spark-submit jobs in jobs/ (one layer
each). It stops at the first error: every batch is atomic, so a rerun resumes where the
failed run stopped.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from collections.abc import Callable

from lakehouse import ops_views, tables, timings
from lakehouse.config import Settings
from lakehouse.errors import one_line
from lakehouse.file_log import FileLog
from lakehouse.layers.bronze import run_bronze
from lakehouse.layers.gold import run_gold
from lakehouse.layers.publish import Publication, run_publish
from lakehouse.layers.reprocess import Replayed, reingest_files, replay_quarantined
from lakehouse.layers.silver import run_silver
from lakehouse.ledger import Ledger
from lakehouse.maintenance import compact_ops_tables
from lakehouse.quality.gate import QualityGate, Validation
from lakehouse.quality.gx_import import preload as preload_gx
from lakehouse.runs import BatchFilter, TableRun, new_run_id
from lakehouse.specs import Catalog

LAYERS = ("bronze", "silver", "gold", "publish")


@dataclass
class PipelineResult:
    run_id: str
    runs: list[TableRun] = field(default_factory=list)
    published: list[Publication] = field(default_factory=list)
    validations: list[Validation] = field(default_factory=list)
    data_docs: str | None = None  # GX's Data Docs index, when the run validated anything
    notices: list[str] = field(default_factory=list)  # what the run left for later, and why

    def by_layer(self, layer: str) -> list[TableRun]:
        return [r for r in self.runs if r.layer == layer]


def run_pipeline(spark, settings: Settings, catalog: Catalog, datasets: list[str] | None = None,
                 selection: BatchFilter = BatchFilter(), layers: tuple[str, ...] = LAYERS,
                 on_step: Callable[[str], None] | None = None,
                 on_result: Callable[[TableRun], None] | None = None, run_id: str | None = None) -> PipelineResult:
    result = PipelineResult(run_id or new_run_id())
    specs = catalog.select(datasets)
    if {"silver", "gold"} & set(layers):
        preload_gx()  # while the catalog, the ledger and bronze keep the JVM busy
    with timings.phase("catalog"):
        tables.ensure_ops_tables(spark, settings)
        ops_views.ensure_views(spark, catalog)
    with timings.phase("ledger"):
        ledger = Ledger(spark)
    gate = QualityGate(settings.quality_dir, settings.gx_pandas_max_rows)
    result.validations = gate.validations

    def record(run: TableRun) -> None:
        result.runs.append(run)
        if on_result:
            on_result(run)

    try:
        _run_layers(spark, settings, catalog, specs, selection, layers, ledger, gate, result, on_step, record)
    except BaseException:
        with contextlib.suppress(Exception):  # a failed validation is the one most worth keeping
            gate.record(spark, result.run_id)
        raise
    with timings.phase("validations"):
        gate.record(spark, result.run_id)
    if gate.validations:
        result.data_docs = gate.docs_index.as_uri()
    with timings.phase("ops compaction"):  # last: a run that ends in an error leaves it to the next
        try:
            compact_ops_tables(spark, settings)
        except Exception as exc:  # noqa: BLE001 - the run's writes are committed; this only tidies
            result.notices.append(f"the ops tables it wrote were not compacted ({one_line(exc)}): the next run that "
                                  "writes them, or the maintenance DAG, compacts them")
    return result


def run_reprocess(spark, settings: Settings, catalog: Catalog, dataset: str, rule: str | None = None,
                  files: list[str] | None = None, run_id: str | None = None) -> tuple[Replayed, PipelineResult]:
    """Replay the records `rule` quarantined in `dataset`, or read its landing `files` again
    (lakehouse.layers.reprocess); gold and publish follow in the same run."""
    result = PipelineResult(run_id or new_run_id())
    preload_gx()
    tables.ensure_ops_tables(spark, settings)
    gate = QualityGate(settings.quality_dir, settings.gx_pandas_max_rows)
    try:
        if files:
            replayed = reingest_files(spark, settings, catalog, dataset, files, result.run_id, Ledger(spark), gate)
        else:
            replayed = replay_quarantined(spark, settings, catalog, dataset, rule, result.run_id, Ledger(spark), gate)
    except BaseException:
        with contextlib.suppress(Exception):  # the error that ended the replay is the one to report
            gate.record(spark, result.run_id)
        raise
    gate.record(spark, result.run_id)
    result.runs, result.validations = list(replayed.runs), list(gate.validations)
    # Always, not only when this replay changed silver: a retry after a replay whose gold
    # build failed finds nothing to replay, and gold must still catch up (a no-op otherwise).
    later = run_pipeline(spark, settings, catalog, layers=("gold", "publish"), run_id=result.run_id)
    result.runs += later.runs
    result.notices += later.notices
    result.published = later.published
    result.validations += later.validations
    result.data_docs = later.data_docs or (gate.docs_index.as_uri() if gate.validations else None)
    return replayed, result


def _run_layers(spark, settings, catalog, specs, selection, layers, ledger, gate, result, on_step, record) -> None:
    # A dataset others' foreign keys reference also takes its earlier batches that arrived
    # late (a reference file landing after its day's run): the keys are judged against every
    # batch of it that has arrived, and no later interval waits on one forever. (A file landing
    # late in a day folder it already loaded waits for its next batch like any other's: the
    # records referencing its keys are quarantined meanwhile, for `lakehouse reprocess`.)
    referenced = {name for spec in specs for name in spec.references}

    def batches(spec) -> BatchFilter:
        return selection.and_earlier() if spec.name in referenced else selection

    if "bronze" in layers or "silver" in layers:
        # Every selected dataset's spec change is planned before any table changes: one that
        # cannot be applied stops the run before it writes (lakehouse.schema_evolution).
        with timings.phase("catalog"):
            plans = [tables.plan_evolution(spark, spec) for spec in specs]
            for plan in plans:
                tables.apply_evolution(spark, plan)
    if "bronze" in layers:
        file_log = FileLog(spark)
        try:
            with timings.phase("bronze"), ledger.one_commit():
                for spec in specs:
                    if on_step:
                        on_step(f"bronze {spec.name}")
                    run_bronze(spark, settings, spec, batches(spec), ledger, result.run_id, file_log,
                               on_result=record, on_notice=result.notices.append, sharing=catalog.sharing(spec))
        except BaseException:
            with contextlib.suppress(Exception):  # the error that ended bronze is the one to report
                file_log.flush()
            raise
        # After the audit records: a file logged for a batch the audit lacks is not taken as loaded.
        with timings.phase("bronze"):
            file_log.flush()
    if "silver" in layers:
        for spec in specs:
            if on_step:
                on_step(f"silver {spec.name}")
            with timings.phase("silver"):
                run_silver(spark, settings, catalog, spec, batches(spec), ledger, result.run_id, gate,
                           on_result=record)
    if "gold" in layers:
        if on_step:
            on_step("gold")
        with timings.phase("gold"), ledger.one_commit():
            run_gold(spark, settings, list(catalog.gold.values()), ledger, result.run_id, gate, on_result=record)
    if "publish" in layers:
        if on_step:
            on_step("publish")
        with timings.phase("publish"):
            result.published = run_publish(spark, list(catalog.gold.values()), selection, result.run_id)
