"""The embedded run's "nothing new" state (lakehouse.run_state): what makes a rerun start Spark."""

from lakehouse import run_state
from lakehouse.config import load_settings


def _settings(tmp_path, **overrides):
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / "orders.yaml").write_text("name: orders\n")
    return load_settings(home=tmp_path / "home", specs_dir=str(specs), **overrides)


def test_an_empty_day_folder_or_a_new_file_is_something_new(tmp_path):
    settings = _settings(tmp_path)
    landing = tmp_path / "home" / "landing" / "orders" / "2026-01-01"
    landing.mkdir(parents=True)
    (landing / "orders.csv").write_text("id\n1\n")
    before = run_state.seen(settings, ["run"])
    assert run_state.seen(settings, ["run"]) == before
    (landing.parent / "2026-01-02").mkdir()  # an empty day: a batch of nothing the run records
    after_folder = run_state.seen(settings, ["run"])
    assert after_folder != before
    (landing.parent / "2026-01-02" / "orders.csv").write_text("id\n2\n")
    assert run_state.seen(settings, ["run"]) != after_folder


def test_a_run_recorded_is_found_again_only_with_the_same_tables(tmp_path):
    settings = _settings(tmp_path)
    start = run_state.seen(settings, ["run"])
    run_state.record(settings, start, "run-1")
    assert run_state.unchanged(settings, start) == "run-1"
    log = settings.home / "warehouse" / "silver" / "orders" / "_delta_log"
    log.mkdir(parents=True)
    (log / f"{0:020d}.json").write_text("{}\n")  # a table written since
    assert run_state.unchanged(settings, start) is None


def test_object_storage_never_takes_the_fast_path(tmp_path):
    settings = _settings(tmp_path, landing_uri="s3a://landing", warehouse_uri="s3a://warehouse")
    start = run_state.seen(settings, ["run"])
    assert start is None
    run_state.record(settings, start, "run-1")
    assert run_state.unchanged(settings, start) is None
