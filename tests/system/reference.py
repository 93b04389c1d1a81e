"""What the platform's tables must hold, from the reference pipeline: the DuckDB script of
the benchmarks (benchmarks/duckdb_pipeline.py) on the same landing files.

tests/integration/test_pipeline.py holds the embedded pipeline to this reference (every gold
row, column and type; silver counts; every record's fate), so the system tests compare the
services' tables with it: seconds, where an embedded Spark run of the same days takes minutes
on the platform tests' worker, which is the longest path of `make test`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass
class Reference:
    counts: dict  # benchmarks.duckdb_pipeline.run's: per dataset and gold table
    db: Path

    def gold_columns(self, name: str) -> list[str]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'gold' "
                f"AND table_name = '{name}' ORDER BY ordinal_position").fetchall()]

    def gold_rows(self, name: str) -> list[tuple]:
        """Every row, each value as text (the same text Spark's CAST AS STRING gives)."""
        columns = ", ".join(f"CAST({c} AS VARCHAR)" for c in self.gold_columns(name))
        with duckdb.connect(str(self.db), read_only=True) as con:
            return _as_text(con.execute(f"SELECT {columns} FROM gold.{name}").fetchall())


def build(landing: Path, workdir: Path) -> Reference:
    from benchmarks.duckdb_pipeline import run

    db = workdir / "reference.duckdb"
    return Reference(run(landing, db_path=db), db)


def served_gold_rows(settings, name: str, columns: list[str]) -> list[tuple]:
    """A gold table's rows as the Thrift server serves them, each value as text."""
    from tests.system.test_platform import thrift_query

    return _as_text(thrift_query(settings, f"SELECT {', '.join(f'CAST({c} AS STRING)' for c in columns)} "
                                           f"FROM gold.{name}"))


def _as_text(rows) -> list[tuple]:
    return sorted(tuple(None if v is None else str(v) for v in row) for row in rows)
