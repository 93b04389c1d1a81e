"""Great Expectations at the layer boundaries: a gate validates a DataFrame against a list of
Checks and returns a Validation, one RuleResult per check (the rule's name and action taken
from the expectation's meta).

GX runs in an ephemeral context: its data sources, assets and suites live in memory for one
run and are built anew by the next, so nothing GX stores can break a later run. (A file
context kept validation definitions on disk, and one written by a run that used GX's Spark
engine pointed at an asset the next run's data source no longer held: every later run
failed.) Only what is worth keeping goes to disk, under `<home>/quality/gx/uncommitted`
(Settings.quality_dir), at the paths a file context uses: every validation result and GX's
Data Docs (HTML), whose index lists every run's results. A stored result is a record, never
read back to judge anything.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from datetime import datetime, UTC
from pathlib import Path

from lakehouse import timings
from lakehouse.errors import LakehouseError
from lakehouse.quality import checks as Q
from lakehouse.quality.checks import Check
from lakehouse.quality.gx_import import ready as gx_ready

DOCS_SITE = "local_site"  # the site a file context would have: gx/uncommitted/data_docs/local_site
# Counts, no sample values: each sample is one more Spark job per expectation (about 40%
# of a validation's time here), and ops.quarantine keeps every rejected record anyway.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 0}
# Every value that broke a rule: only asked for when the router and GX disagree.
COMPLETE = {"result_format": "COMPLETE"}
PANDAS, SPARK = "pandas", "spark"


@dataclass(frozen=True)
class RuleResult:
    rule: str
    action: str
    expectation_type: str
    column: str | None
    success: bool
    element_count: int
    unexpected_count: int

    @property
    def outcome(self) -> str:
        if self.success:
            return "passed"
        return {"quarantine": "quarantined", "drop": "dropped", "warn": "warned", "fail": "failed"}[self.action]


@dataclass
class Validation:
    table_name: str
    layer: str
    scope: str  # what was judged: the batches, or the silver versions a gold build read
    results: list[RuleResult] = field(default_factory=list)
    docs_page: str | None = None
    engine: str = PANDAS  # GX's engine that judged it

    def unexpected(self) -> dict[str, int]:
        return {r.rule: r.unexpected_count for r in self.results}

    def failed(self, action: str) -> list[RuleResult]:
        return [r for r in self.results if not r.success and r.action == action]


def _folder(path: Path) -> dict:
    return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(path)}


def _ephemeral_context(uncommitted: Path):
    """GX's context: everything in memory but the validation results and the Data Docs site
    (made from QualityGate._judge, which has waited for GX's import)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (DataContextConfig, DataContextConfigDefaults,
                                                            InMemoryStoreBackendDefaults, ProgressBarsConfig)

    # GX logs each metric it resolves at INFO and warns about its usage statistics.
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    stores = InMemoryStoreBackendDefaults()
    stores.stores[stores.validation_results_store_name]["store_backend"] = _folder(uncommitted / "validations")
    sites = copy.deepcopy(DataContextConfigDefaults.DEFAULT_DATA_DOCS_SITES.value)
    sites[DOCS_SITE]["store_backend"] = _folder(uncommitted / "data_docs" / DOCS_SITE)
    stores.data_docs_sites = sites
    ctx = gx.get_context(mode="ephemeral",
                         project_config=DataContextConfig(store_backend_defaults=stores, analytics_enabled=False))
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    return ctx


class QualityGate:
    """A GX context, created on the first validation (importing and opening GX costs
    seconds; a run with nothing new validates nothing)."""

    def __init__(self, root: Path, pandas_max_rows: int = 200_000):
        self.root = root
        self.pandas_max_rows = pandas_max_rows  # Settings.gx_pandas_max_rows
        self.validations: list[Validation] = []
        self._unrecorded: list[Validation] = []
        self._rendered: list = []  # validation results whose Data Docs pages are not built yet
        self._batches: dict[tuple[str, str], object] = {}  # (engine, table) -> GX batch definition
        self._ctx = None

    @property
    def _uncommitted(self) -> Path:
        return self.root / "gx" / "uncommitted"

    def _context(self):
        if self._ctx is None:
            self._uncommitted.mkdir(parents=True, exist_ok=True)
            self._ctx = _ephemeral_context(self._uncommitted)
        return self._ctx

    @property
    def docs_index(self) -> Path:
        return self._uncommitted / "data_docs" / DOCS_SITE / "index.html"

    def _data(self, frame, checks: list[Check]):
        """(engine, what GX judges): a pandas copy of the checked columns up to pandas_max_rows
        (one Spark job, no count first), else the Spark DataFrame itself."""
        columns = list(dict.fromkeys(c for check in checks for c in check.columns))
        small = _pandas_columns(frame, columns).limit(self.pandas_max_rows + 1).toPandas()
        if len(small) <= self.pandas_max_rows:
            return PANDAS, small
        return SPARK, frame

    def _batch(self, engine: str, table_name: str, data):
        """A batch of `data` through this run's data source and asset for the engine and table."""
        if (engine, table_name) not in self._batches:
            sources = self._context().data_sources
            source = next((s for name, s in sources.all().items() if name == engine), None)
            if source is None:
                # persist=False: GX would otherwise cache every DataFrame it validates and never
                # release it; the layers persist what they reuse themselves.
                source = sources.add_pandas(engine) if engine == PANDAS else sources.add_spark(engine, persist=False)
            asset = source.add_dataframe_asset(table_name)
            self._batches[(engine, table_name)] = asset.add_batch_definition_whole_dataframe("judged")
        return self._batches[(engine, table_name)].get_batch(batch_parameters={"dataframe": data})

    def _judge(self, table_name: str, frame, checks: list[Check], result_format: dict):
        """(engine, batch, GX's result) for `checks` on `frame`, their bounds and value sets in
        the types the frame's columns hold (checks.in_frame_types)."""
        gx_ready()
        import great_expectations as gx

        engine, data = self._data(frame, checks)
        batch = self._batch(engine, table_name, data)
        typed = Q.in_frame_types(checks, frame.schema)
        suite = gx.ExpectationSuite(name=table_name, expectations=[c.expectation for c in typed])
        return engine, batch, batch.validate(suite, result_format=result_format)

    def validate(self, layer: str, table_name: str, scope: str, frame, checks: list[Check]) -> Validation:
        with timings.phase("quality"):
            engine, batch, result = self._judge(table_name, frame, checks, RESULT_FORMAT)
            identifier = self._store(table_name, batch, result)
        validation = Validation(table_name, layer, scope, docs_page=self._page(identifier), engine=engine)
        by_rule = {c.rule: c for c in checks}
        for er in _results(table_name, result):
            check = by_rule[er.expectation_config.meta["rule"]]
            validation.results.append(RuleResult(
                rule=check.rule, action=check.action, expectation_type=er.expectation_config.type,
                column=check.column, success=bool(er.success),
                element_count=int(er.result.get("element_count") or 0),
                unexpected_count=int(er.result.get("unexpected_count") or 0),
            ))
        validation.results.sort(key=lambda r: list(by_rule).index(r.rule))
        self.validations.append(validation)
        self._unrecorded.append(validation)
        return validation

    def unexpected_values(self, table_name: str, frame, checks: list[Check]) -> dict[str, list]:
        """Per rule, every value GX finds breaking it (one per record; not kept as a result).
        A COMPLETE result lists them all: costly, so only where the router and GX disagree."""
        _, _, result = self._judge(table_name, frame, checks, COMPLETE)
        return {er.expectation_config.meta["rule"]: list(er.result.get("unexpected_list") or [])
                for er in _results(table_name, result)}

    def _store(self, table_name: str, batch, result):
        """Keep the result where a checkpoint would, stamped with its run time as one would (after
        _judge, which has waited for GX's import)."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (ExpectationSuiteIdentifier,
                                                                                ValidationResultIdentifier)

        run_id = RunIdentifier(run_time=datetime.now(UTC))
        result.meta.update(run_id=run_id, validation_time=run_id.run_time)
        identifier = ValidationResultIdentifier(expectation_suite_identifier=ExpectationSuiteIdentifier(table_name),
                                                run_id=run_id, batch_identifier=batch.id)
        self._context().validation_results_store.store_validation_results(result, identifier)
        self._rendered.append(identifier)
        return identifier

    def record(self, spark, run_id: str) -> None:
        """Build the Data Docs pages of this run's validations (and the index) once, and keep
        the results in ops.validations, in one commit. Once per run, not per validation:
        rebuilding the index reads every stored result."""
        from lakehouse import tables

        self.build_docs()
        if self._unrecorded:
            tables.replace_validations(spark, [r for v in self._unrecorded for r in _records(v, run_id)],
                                       [(v.table_name, v.scope) for v in self._unrecorded])
            self._unrecorded = []

    def build_docs(self) -> None:
        """The Data Docs pages of the results stored since the last call, and the index."""
        if self._rendered:
            self._ctx.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=self._rendered)
            self._rendered = []

    def _page(self, identifier) -> str | None:
        # Built at the end of the run (record), so not there yet.
        urls = self._context().get_docs_sites_urls(resource_identifier=identifier, site_name=DOCS_SITE,
                                                   only_if_exists=False)
        return urls[0]["site_url"] if urls else None


def _pandas_columns(frame, columns: list[str]):
    """The columns of the pandas copy. A bigint column with a null arrives in pandas as
    float64, which rounds values beyond 2**53: it travels as decimal(20,0), exact Decimals."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as ST

    types = {f.name: f.dataType for f in frame.schema.fields}
    return frame.select(*[F.col(f"`{c}`").cast("decimal(20,0)").alias(c) if isinstance(types.get(c), ST.LongType)
                          else F.col(f"`{c}`") for c in columns])


def _results(table_name: str, result) -> list:
    """The expectations' results; an expectation GX could not evaluate is an error, not a pass."""
    for er in result.results:
        if er.exception_info and er.exception_info.get("raised_exception"):
            rule = (er.expectation_config.meta or {}).get("rule")
            raise LakehouseError(f"{table_name}: expectation {rule} could not be evaluated: "
                                 f"{er.exception_info.get('exception_message', '').splitlines()[0]}")
    return list(result.results)


def _records(validation: Validation, run_id: str) -> list[dict]:
    now = datetime.now(UTC)
    return [{
        "run_id": run_id, "layer": validation.layer, "table_name": validation.table_name, "scope": validation.scope,
        "rule": r.rule, "expectation_type": r.expectation_type, "column_name": r.column, "action": r.action,
        "success": r.success, "outcome": r.outcome, "element_count": r.element_count,
        "unexpected_count": r.unexpected_count, "docs_page": validation.docs_page, "validated_at": now,
    } for r in validation.results]
