"""Which landing file loads with which batch (lakehouse.landing.plan)."""

from __future__ import annotations

import pytest

from lakehouse.landing import LandedFile, Logged, is_batch_folder, plan
from lakehouse.runs import BatchFilter

ROOT = "s3a://landing/orders"
ALL = BatchFilter()


def _file(relative: str, size: int = 10, modified: int = 1000) -> LandedFile:
    folder = relative.split("/")[0] if "/" in relative else ""
    return LandedFile(f"{ROOT}/{relative}", folder, size, modified)


def _logged(f: LandedFile, batch: str, fingerprint: str = "fp") -> Logged:
    return Logged(f.path, f.size, f.modified_ms, fingerprint, batch, 3)


def test_files_of_new_day_folders_at_any_depth_form_their_batches():
    a, b, c = _file("2026-01-01/a.csv"), _file("2026-01-01/x/y/b.csv"), _file("2026-01-02/c.csv")
    found = plan([a, b, c], {}, set(), ALL)
    assert found.batches == {"2026-01-01": [a, b], "2026-01-02": [c]}
    assert not (found.waiting or found.changed or found.unplaced or found.unlogged)


def test_selection_limits_the_batches():
    a, c = _file("2026-01-01/a.csv"), _file("2026-01-02/c.csv")
    assert plan([a, c], {}, set(), BatchFilter(batch="2026-01-02")).batches == {"2026-01-02": [c]}


def test_a_logged_file_unchanged_is_not_loaded_again():
    a = _file("2026-01-01/a.csv")
    found = plan([a], {a.path: _logged(a, "2026-01-01")}, {"2026-01-01"}, ALL)
    assert found.batches == {} and not found.changed


def test_a_logged_file_with_another_size_or_time_is_changed():
    a = _file("2026-01-01/a.csv")
    for now in (_file("2026-01-01/a.csv", size=11), _file("2026-01-01/a.csv", modified=2000)):
        found = plan([now], {a.path: _logged(a, "2026-01-01")}, {"2026-01-01"}, ALL)
        assert found.changed == [(now, _logged(a, "2026-01-01"))] and found.batches == {}


def test_the_log_counts_only_for_batches_the_audit_has_done():
    # Logged, but the audit record of its batch was lost: the batch loads again, with it.
    a = _file("2026-01-01/a.csv")
    assert plan([a], {a.path: _logged(a, "2026-01-01")}, set(), ALL).batches == {"2026-01-01": [a]}


def test_a_file_late_in_a_loaded_folder_is_first_looked_up_in_bronze():
    late = _file("2026-01-01/late.csv")
    found = plan([late], {}, {"2026-01-01"}, ALL)
    assert found.unlogged == [late] and found.batches == {}


def test_a_late_file_loads_with_the_next_batch_after_its_folder():
    old, late = _file("2026-01-01/a.csv"), _file("2026-01-01/late.csv")
    earlier, nxt, after = _file("2025-12-31/e.csv"), _file("2026-01-03/n.csv"), _file("2026-01-05/f.csv")
    found = plan([old, late, earlier, nxt, after], {old.path: _logged(old, "2026-01-01")}, {"2026-01-01"}, ALL,
                 in_bronze={})
    assert found.batches == {"2025-12-31": [earlier], "2026-01-03": [late, nxt], "2026-01-05": [after]}
    assert found.waiting == []


def test_a_copy_that_changed_is_a_new_file():
    """None of a copy's lines were loaded (lakehouse.layers.bronze.Copy): changed, it is a late
    file of its day, not a loaded file changed."""
    copy, nxt = _file("2026-01-01/resent.csv", size=12), _file("2026-01-02/n.csv")
    logged = {copy.path: Logged(copy.path, 10, copy.modified_ms, "fp", "2026-01-01", 3, "copy of x.csv")}
    found = plan([copy, nxt], logged, {"2026-01-01"}, ALL, in_bronze={})
    assert found.changed == [] and found.batches == {"2026-01-02": [copy, nxt]}
    unchanged = plan([_file("2026-01-01/resent.csv", size=10)], logged, {"2026-01-01"}, ALL, in_bronze={})
    assert unchanged.changed == [] and unchanged.batches == {} and unchanged.waiting == []


def test_a_late_file_with_no_later_batch_waits():
    late = _file("2026-01-02/late.csv")
    found = plan([late, _file("2026-01-01/x.csv")], {}, {"2026-01-02"}, ALL, in_bronze={})
    assert found.waiting == [late] and list(found.batches) == ["2026-01-01"]


def test_files_bronze_holds_under_a_done_batch_are_recovered_into_the_log():
    a = _file("2026-01-01/a.csv")
    found = plan([a], {}, {"2026-01-01"}, ALL, in_bronze={a.path: "2026-01-01"})
    assert found.recovered == [(a, "2026-01-01")] and found.batches == {} and found.waiting == []


def test_a_late_file_bronze_holds_under_a_pending_batch_stays_with_it():
    # Loaded with 2026-01-03 by a run whose audit record was lost: the retry keeps it there.
    late, nxt = _file("2026-01-01/late.csv"), _file("2026-01-03/n.csv")
    found = plan([late, nxt], {}, {"2026-01-01"}, ALL, in_bronze={late.path: "2026-01-03"})
    assert found.batches == {"2026-01-03": [late, nxt]}
    # ... unless that batch is not selected: it is left to the run that selects it.
    found = plan([late, nxt], {}, {"2026-01-01"}, BatchFilter(batch="2026-01-04"), in_bronze={late.path: "2026-01-03"})
    assert found.batches == {} and found.waiting == []


def test_files_outside_a_day_folder_are_unplaced():
    stray = [_file("readme.txt"), _file("misc/a.csv"), _file("2026-02-30/a.csv"), _file("2026-1-1/a.csv")]
    assert plan(stray, {}, set(), ALL).unplaced == stray


def test_batch_folders_are_real_dates():
    assert is_batch_folder("2026-02-28") and not is_batch_folder("2026-02-30") and not is_batch_folder("latest")


# --- file patterns: the batch a file's path names (a spec's source.files) ----------------------

@pytest.mark.parametrize(("pattern", "relative", "batch"), [
    ("{date}/**", "2026-01-03/region=eu/part-0.csv", "2026-01-03"),
    ("{date}/**", "orders.csv", None),
    ("{date}/**", "2026-02-30/orders.csv", None),
    ("orders_{yyyy}{mm}{dd}.csv", "orders_20260103.csv", "2026-01-03"),
    ("orders_{yyyy}{mm}{dd}.csv", "archive/orders_20260103.csv", None),
    ("orders_{yyyy}{mm}{dd}.csv", "orders_20260103.csv.bak", None),
    ("{yyyy}/{mm}/{dd}/*.csv", "2026/01/03/a b.csv", "2026-01-03"),
    ("{dd}.{mm}.{yyyy}/*", "03.01.2026/x.json", "2026-01-03"),
    ("**/dt={date}/*", "eu/shop-1/dt=2026-01-03/x", "2026-01-03"),
    ("**/dt={date}/*", "dt=2026-01-03/x", "2026-01-03"),
    ("export-{date}-part?.csv", "export-2026-01-03-part1.csv", "2026-01-03"),
    ("export-{date}-part?.csv", "export-2026-01-03-part12.csv", None),
    ("x/**/{date}.csv", "x/2026-01-03.csv", "2026-01-03"),
    ("{date}/**", "2026-01-03/a\nb.csv", "2026-01-03"),  # any character a name may hold
    ("{date}/**", "2026-01-03/", None),
])
def test_a_file_pattern_names_the_batch_of_a_path(pattern, relative, batch):
    from lakehouse.file_pattern import compile_pattern

    assert compile_pattern(pattern).batch_of(relative) == batch


@pytest.mark.parametrize(("pattern", "message"), [
    ("{date}/{date}/*", "{date} appears twice"),
    ("{yyyy}{mm}.csv", r"all of \{yyyy\}, \{mm\} and \{dd\} \(found \{yyyy\}, \{mm\}\)"),
    ("{day}.csv", "unknown placeholder {day}"),
    ("../{date}/*", "relative path pattern"),
    ("/data/{date}/*", "relative path pattern"),
    ("s3://b/{date}/*", "relative path pattern"),
    ("{yyyy}/*.csv", r"name the day with \{date\}.* or none of them \(arrival order\)"),
    ("_exports/{date}.csv", "markers"),
    ("{date}/.x", "markers"),
    ("a**b/{date}.csv", "'\\*\\*' is a whole folder name"),
])
def test_a_file_pattern_that_cannot_place_files_is_refused(pattern, message):
    from lakehouse.file_pattern import compile_pattern

    with pytest.raises(ValueError, match=message):
        compile_pattern(pattern)


def test_the_spark_regex_of_a_pattern_takes_what_python_takes(spark):
    """Bronze's files are matched in Spark SQL (Java's regex), the listing in Python."""
    from pyspark.sql import functions as F

    from lakehouse.file_pattern import compile_pattern

    paths = ["orders_20260103.csv", "orders_2026013.csv", "x/orders_20260103.csv", "orders_20260103.csv.gz"]
    pattern = compile_pattern("orders_{yyyy}{mm}{dd}.csv*")
    df = spark.createDataFrame([(f"file:/l/orders/{p}",) for p in paths], "f string")
    got = [r[0] for r in df.select(F.regexp_extract("f", f"/orders/({pattern.java_regex})$", 1)).collect()]
    assert got == [p if pattern.batch_of(p) else "" for p in paths] == [paths[0], "", "", paths[3]]


def test_a_loaded_file_the_pattern_no_longer_places_is_not_unplaced():
    """A spec whose source.files changed: files it loaded before stay loaded, not refused."""
    old = _file("2026-01-01/orders.csv")
    renamed = LandedFile(old.path, "", old.size, old.modified_ms)  # the new pattern takes no day from it
    found = plan([renamed], {old.path: _logged(old, "2026-01-01")}, {"2026-01-01"}, ALL)
    assert (found.unplaced, found.batches, found.changed) == ([], {}, [])


def test_datasets_sharing_a_folder_take_their_own_files_and_refuse_one_both_take():
    from lakehouse.errors import LandingError
    from lakehouse.file_pattern import compile_pattern
    from lakehouse.layers.discovery import _own_files
    from lakehouse.specs import DatasetSpec

    spec = DatasetSpec(name="orders", source={"format": "csv", "files": "orders_{yyyy}{mm}{dd}*.csv"},
                       keys=["id"], ordering="id", columns=[{"name": "id", "type": "string", "required": True}])
    mine = spec.source.file_pattern
    files = [LandedFile(f"{ROOT}/{r}", mine.batch_of(r) or "", 1, 1, r)
             for r in ("orders_20260101.csv", "customers_20260101.csv")]
    sharing = {"customers": compile_pattern("customers_{yyyy}{mm}{dd}.csv")}
    assert [f.relative for f in _own_files(spec, files, sharing)] == ["orders_20260101.csv"]
    greedy = {"customers": compile_pattern("*_{yyyy}{mm}{dd}.csv")}
    with pytest.raises(LandingError, match=r"orders_20260101.csv: both orders \(orders_\{yyyy\}.*\) and customers "
                                           r"\(\*_\{yyyy\}\{mm\}\{dd\}.csv\) take it"):
        _own_files(spec, files, greedy)


def test_bronze_paths_are_named_as_the_listing_names_them_wherever_the_landing_path_was(spark):
    """A lost file log is rebuilt from bronze's `_source_file`: read from this landing path,
    by its path; from one that moved, by the pattern after a folder of the dataset's name,
    the first or the last of them, whichever names a file looked for."""
    from lakehouse.layers.discovery import relative_under
    from lakehouse.specs import DatasetSpec

    spec = DatasetSpec(name="exports", source={"format": "csv", "files": "**/customers_{date}.csv"}, keys=["id"],
                       ordering="id", columns=[{"name": "id", "type": "string", "required": True}])
    root = "file:/new/landing/exports/"
    wanted = ["exports/customers_2026-01-01.csv", "eu/customers_2026-01-02.csv", "customers_2026-01-03.csv"]
    unlogged = [LandedFile(root + r, "2026-01-01", 1, 1, r) for r in wanted]
    paths = [root + wanted[0],                               # here: by its path
             "file:/old/landing/exports/exports/customers_2026-01-01.csv",  # a folder of the name under it
             "s3a://exports/landing/exports/eu/customers_2026-01-02.csv",  # an ancestor of the name
             "file:/old/exports/customers_2026-01-03.csv"]
    df = spark.createDataFrame([(p,) for p in paths], "_source_file string")
    got = [r[0] for r in df.select(relative_under(spec, unlogged)).collect()]
    assert got == [wanted[0], wanted[0], wanted[1], wanted[2]]


# --- arrival order: a pattern naming no day (a drop folder) ----------------------------------

def _arriving(relative: str) -> LandedFile:
    from lakehouse.file_pattern import compile_pattern

    return LandedFile(f"{ROOT}/{relative}", compile_pattern("**").batch_of(relative) or "", 10, 1, relative)


def test_a_file_of_arrival_order_takes_its_runs_day_once_bronze_is_asked():
    from lakehouse.file_pattern import ARRIVAL

    new, held, crashed = _arriving("drop/a.csv"), _arriving("b.csv"), _arriving("c.csv")
    assert new.batch == ARRIVAL
    first = plan([new, held, crashed], {}, {"2026-01-01"}, ALL, arrival_day="2026-01-02")
    assert first.unlogged == [new, held, crashed] and first.batches == {}  # bronze first: a path is all it has
    found = plan([new, held, crashed], {}, {"2026-01-01"}, ALL,
                 in_bronze={held.path: "2026-01-01", crashed.path: "2025-12-31"}, arrival_day="2026-01-02")
    # bronze's batches keep their files: one done (logged as it is), one not (loaded with it again)
    assert found.recovered == [(held, "2026-01-01")]
    assert found.batches == {"2025-12-31": [crashed], "2026-01-02": [new]}
    later = plan([new], {}, {"2026-01-02"}, ALL, in_bronze={}, arrival_day="2026-01-02")
    assert later.batches == {} and [f.batch for f in later.waiting] == ["2026-01-02"]  # its day is loaded
    # A run of an earlier interval (a cleared Airflow run, --batch): what arrives now is newer
    # than every batch loaded, so it waits for a later one.
    earlier = plan([new], {}, {"2026-01-05"}, ALL, in_bronze={}, arrival_day="2026-01-03")
    assert earlier.batches == {} and len(earlier.waiting) == 1


def test_the_arrival_day_is_the_last_day_a_selection_takes_up_to_today():
    from datetime import date

    today = date(2026, 3, 10)
    assert BatchFilter().arrival_day(today) == "2026-03-10"
    assert BatchFilter(batch="2026-03-01").arrival_day(today) == "2026-03-01"
    assert BatchFilter(start=date(2026, 3, 1), end=date(2026, 3, 3)).arrival_day(today) == "2026-03-02"
    assert BatchFilter(start=date(2026, 3, 9), end=date(2026, 3, 20)).arrival_day(today) == "2026-03-10"
    assert BatchFilter(batch="2026-03-12").arrival_day(today) is None  # a day yet to come takes nothing now
