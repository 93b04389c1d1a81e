"""bronze -> silver -> gold -> publish for the selected datasets and batches, in one SparkSession.

Used by `lakehouse run` (local profile) and by the spark-submit jobs in jobs/ (one layer
each). It stops at the first error: every batch is atomic, so a rerun resumes where the
failed run stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from lakehouse import tables
from lakehouse.config import Settings
from lakehouse.layers.bronze import run_bronze
from lakehouse.layers.gold import run_gold
from lakehouse.layers.publish import Publication, run_publish
from lakehouse.layers.silver import run_silver
from lakehouse.ledger import Ledger
from lakehouse.runs import BatchFilter, TableRun, new_run_id
from lakehouse.specs import Catalog

LAYERS = ("bronze", "silver", "gold", "publish")


@dataclass
class PipelineResult:
    run_id: str
    runs: list[TableRun] = field(default_factory=list)
    published: list[Publication] = field(default_factory=list)

    def by_layer(self, layer: str) -> list[TableRun]:
        return [r for r in self.runs if r.layer == layer]


def run_pipeline(spark, settings: Settings, catalog: Catalog, datasets: list[str] | None = None,
                 selection: BatchFilter = BatchFilter(), layers: tuple[str, ...] = LAYERS,
                 on_step: Callable[[str], None] | None = None,
                 on_result: Callable[[TableRun], None] | None = None, run_id: str | None = None) -> PipelineResult:
    result = PipelineResult(run_id or new_run_id())
    specs = catalog.select(datasets)
    tables.ensure_ops_tables(spark, settings)
    ledger = Ledger(spark)

    def record(run: TableRun) -> None:
        result.runs.append(run)
        if on_result:
            on_result(run)

    for layer, fn in (("bronze", run_bronze), ("silver", run_silver)):
        if layer not in layers:
            continue
        for spec in specs:
            if on_step:
                on_step(f"{layer} {spec.name}")
            fn(spark, settings, spec, selection, ledger, result.run_id, on_result=record)
    if "gold" in layers:
        if on_step:
            on_step("gold")
        run_gold(spark, settings, list(catalog.gold.values()), ledger, result.run_id, on_result=record)
    if "publish" in layers:
        if on_step:
            on_step("publish")
        result.published = run_publish(spark, list(catalog.gold.values()), selection, result.run_id)
    return result
