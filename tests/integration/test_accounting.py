"""Accounting that can fail. Each layer reconciles what it planned with what the table holds
after its commit, counted from the table; a write broken on purpose (rows dropped between
the plan and the commit) fails the run with the accounting error, and the next run (the
write no longer broken) repairs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse import tables
from lakehouse.errors import AccountingError
from lakehouse.generate import generate
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration


@pytest.fixture
def manifest(lakehouse):
    return generate(Path(lakehouse.landing_uri), scale=0.05, seed=7, days=1)["batches"]["2026-01-01"]


def _losing_one_row(monkeypatch, name: str, table_prefix: str, frame_at: int = 2, table_at: int = 1) -> None:
    """Make tables.<name> write one row less than it is given, for tables under `table_prefix`
    (its positional arguments: the frame at `frame_at`, the table's name at `table_at`)."""
    original = getattr(tables, name)

    def write(*args):
        args = list(args)
        if args[table_at].startswith(table_prefix):
            args[frame_at] = args[frame_at].exceptAll(args[frame_at].limit(1))
        return original(*args)

    monkeypatch.setattr(tables, name, write)


def _run(spark, settings, datasets, layers):
    return run_pipeline(spark, settings, load_catalog(settings.specs_dir), datasets=datasets, layers=layers)


def test_bronze_write_losing_a_record_fails_and_the_rerun_replaces_the_batch(spark, lakehouse, manifest, monkeypatch):
    with monkeypatch.context() as broken:
        _losing_one_row(broken, "replace_batches", "bronze.", frame_at=0, table_at=1)
        with pytest.raises(AccountingError, match=r"has \d+ record\(s\) .* but bronze holds"):
            _run(spark, lakehouse, ["products"], ("bronze",))
    assert spark.table("bronze.products").count() == manifest["products"]["rows"] - 1  # the broken commit
    (run,) = _run(spark, lakehouse, ["products"], ("bronze",)).by_layer("bronze")
    assert run.rows_read == run.inserted == manifest["products"]["rows"] and run.detail != "already in bronze"
    assert spark.table("bronze.products").count() == manifest["products"]["rows"]


@pytest.mark.parametrize("dataset, merge", [("products", "merge_scd1"), ("customers", "merge_scd2")])
def test_silver_merge_losing_a_row_fails_and_the_rerun_completes(spark, lakehouse, manifest, monkeypatch,
                                                                 dataset, merge):
    _run(spark, lakehouse, [dataset], ("bronze",))
    with monkeypatch.context() as broken:
        _losing_one_row(broken, merge, "silver.")
        with pytest.raises(AccountingError, match="the table holds .* after the MERGE; the plan was"):
            _run(spark, lakehouse, [dataset], ("silver",))
    (run,) = _run(spark, lakehouse, [dataset], ("silver",)).by_layer("silver")
    assert run.rows_read == run.accounted == manifest[dataset]["rows"]
    assert run.inserted == 1  # the row the broken write lost; the rest it wrote are now superseded


def test_gold_build_losing_a_row_fails_and_the_rerun_completes(spark, lakehouse, manifest, monkeypatch):
    _run(spark, lakehouse, None, ("bronze", "silver"))
    with monkeypatch.context() as broken:
        _losing_one_row(broken, "merge_by_difference", "gold.")
        with pytest.raises(AccountingError, match="the table holds .* after the commit"):
            _run(spark, lakehouse, None, ("gold",))
    runs = _run(spark, lakehouse, None, ("gold",)).by_layer("gold")
    for run in runs:
        assert tables.row_count(spark, run.table_name) == run.rows_read == run.inserted + run.updated + run.superseded

