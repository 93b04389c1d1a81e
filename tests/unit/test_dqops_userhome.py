"""dqops_userhome/: the committed files are what the specs render, DQOps's own models accept
every file with no key they do not know, only tables and columns of the specs are named, and
the connection points at the Thrift server as lakehouse.config configures it. No DQOps
server, no Spark session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

from lakehouse.config import ENV_PREFIX, PROJECT_ROOT, load_settings
from lakehouse.quality import dqops_userhome as du
from lakehouse.quality import dqops_validation as dv
from lakehouse.specs import Expectation, load_catalog

SPECS = PROJECT_ROOT / "pipelines"
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


@pytest.fixture(scope="module")
def catalog():
    return load_catalog(SPECS)


def table(name: str) -> dict:
    return yaml.safe_load((du.USERHOME_DIR / du.SOURCES / f"{name}{du.TABLE_SUFFIX}").read_text())["spec"]


def daily(node: dict) -> dict:
    return node["monitoring_checks"]["daily"]


@pytest.fixture
def home(tmp_path, catalog) -> Path:
    """A fresh copy of what the specs render, to break on purpose."""
    du.write_userhome(catalog, tmp_path / "userhome")
    return tmp_path / "userhome"


@pytest.fixture
def specs_with_returns(tmp_path) -> Path:
    """The shipped specs plus one more dataset, `returns` (a copy of products)."""
    specs = tmp_path / "pipelines"
    shutil.copytree(SPECS, specs)
    text = (SPECS / "datasets" / "products.yaml").read_text().replace("name: products", "name: returns", 1)
    (specs / "datasets" / "returns.yaml").write_text(text)
    return specs


# --- the committed user home -----------------------------------------------------------------

def test_the_committed_user_home_is_what_the_specs_render(catalog):
    stale = du.stale_files(catalog)
    assert not stale, f"dqops_userhome/ is stale ({', '.join(stale)}): run `lakehouse dqops userhome`"


def test_every_file_validates_with_dqops_models(catalog):
    assert dv.validate_userhome(du.USERHOME_DIR, catalog) == []


def test_every_silver_and_gold_table_has_a_file_and_nothing_else(catalog):
    files = {p.name for p in (du.USERHOME_DIR / du.SOURCES).iterdir()}
    assert files == {"connection.dqoconnection.yaml"} | {f"silver.{d}.dqotable.yaml" for d in catalog.datasets} \
        | {f"gold.{g}.dqotable.yaml" for g in catalog.gold}
    assert [p.name for p in (du.USERHOME_DIR / "sources").iterdir()] == [du.CONNECTION]
    # What makes it a user home DQOps opens as it is (LocalUserHomeCreatorImpl.isDqoUserHomeInitialized).
    assert (du.USERHOME_DIR / ".DQO_USER_HOME").is_file() and (du.USERHOME_DIR / ".gitignore").is_file()


def test_a_new_dataset_spec_needs_a_regeneration_and_gets_its_checks(specs_with_returns, tmp_path):
    catalog = load_catalog(specs_with_returns)
    assert "sources/lakehouse/silver.returns.dqotable.yaml" in du.stale_files(catalog)  # the committed one
    home = tmp_path / "userhome"
    shutil.copytree(du.USERHOME_DIR, home)
    assert du.write_userhome(catalog, home) == ["sources/lakehouse/silver.returns.dqotable.yaml"]
    assert dv.validate_userhome(home, catalog) == []
    assert du.stale_files(catalog, home) == [] and du.write_userhome(catalog, home) == []
    returns = yaml.safe_load((home / du.SOURCES / "silver.returns.dqotable.yaml").read_text())["spec"]
    assert daily(returns["columns"]["price"])["numeric"]["daily_number_in_range_percent"]["parameters"] == \
        {"min_value": 0.01, "max_value": 100000.0}
    # ... and a dataset whose spec goes away loses its file.
    (specs_with_returns / "datasets" / "returns.yaml").unlink()
    removed = du.write_userhome(load_catalog(specs_with_returns), home)
    assert removed == ["sources/lakehouse/silver.returns.dqotable.yaml"]
    assert not (home / du.SOURCES / "silver.returns.dqotable.yaml").exists()
    assert (home / "README.md").is_file()  # not the generator's


def test_cli_check_says_when_the_user_home_is_stale(specs_with_returns):
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    current = subprocess.run([LAKEHOUSE, "dqops", "userhome", "--check"], capture_output=True, text=True,
                             env=env, timeout=120)
    assert current.returncode == 0, current.stderr
    stale = subprocess.run([LAKEHOUSE, "dqops", "userhome", "--check"], capture_output=True, text=True,
                           env={**env, "LAKEHOUSE_SPECS_DIR": str(specs_with_returns)}, timeout=120)
    assert stale.returncode == 1
    assert len(stale.stderr.strip().splitlines()) == 1 and "run `lakehouse dqops userhome`" in stale.stderr


# --- the validator fails where DQOps would ----------------------------------------------------

def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def test_validator_catches_an_unknown_check_and_an_unknown_rule_field(home, catalog):
    orders = home / du.SOURCES / "silver.orders.dqotable.yaml"
    _edit(orders, "daily_row_count:", "daily_row_cnt:")
    _edit(orders, "min_percent: 100.0", "min_pct: 100.0")
    errors = dv.validate_userhome(home, catalog)
    assert any("volume.daily_row_cnt: unknown key" in e for e in errors), errors
    assert any("daily_text_found_in_set_percent.error.min_pct: unknown key" in e for e in errors), errors
    assert len(errors) == 2


def test_dqops_default_policies_ship_disabled_and_the_user_home_carries_them(home):
    """DQOps adds its default policies (enabled) to a user home that has none of their names;
    shipping all of them disabled keeps its runs to the specs' checks (the platform's DQOps
    test counts them)."""
    shipped = du.policy_files()
    assert [p.name for p in shipped] == sorted(du.DQOPS_DEFAULT_POLICIES)
    for path in shipped:
        doc = yaml.safe_load(path.read_text())
        kind = "default_table_checks" if path.name.endswith(du.TABLE_POLICY) else "default_column_checks"
        assert doc["kind"] == kind and doc["spec"]["disabled"] is True, path.name
    assert [(p.name, p.read_text()) for p in du.policy_files(home)] == [(p.name, p.read_text()) for p in shipped]


def test_the_user_homes_policies_are_the_committed_ones_again_after_a_write(home, catalog):
    """As compose mounts them read-only: a policy changed or added in the console natively is
    undone at the next start; a steward changes dqops_userhome/patterns/ instead."""
    policy = du.policy_files(home)[0]
    _edit(policy, "disabled: true", "disabled: false")
    added = home / du.POLICIES_DIR / f"Stewards' own{du.TABLE_POLICY}"
    added.write_text(policy.read_text())
    assert du.write_userhome(catalog, home) == sorted(str(p.relative_to(home)) for p in (policy, added))
    assert "disabled: true" in policy.read_text() and not added.exists()


def test_validator_catches_a_bad_policy_a_file_that_is_not_one_and_a_default_deleted(home, catalog):
    _edit(home / du.POLICIES_DIR / f"Detect empty tables daily{du.TABLE_POLICY}", "priority:", "prio:")
    (home / du.POLICIES_DIR / "notes.txt").write_text("x")
    (home / du.POLICIES_DIR / f"Detect empty columns{du.COLUMN_POLICY}").unlink()
    errors = dv.validate_userhome(home, catalog)
    assert any(e.startswith("patterns/Detect empty tables daily") and "prio: unknown key" in e for e in errors), errors
    assert any(e.startswith("patterns/notes.txt: not a DQOps policy file") for e in errors), errors
    assert f"patterns/Detect empty columns{du.COLUMN_POLICY}: missing (DQOps would add its own" in "\n".join(errors)
    assert len(errors) == 3, errors


def test_validator_catches_a_value_of_the_wrong_type(home, catalog):
    _edit(home / du.SOURCES / "gold.daily_revenue.dqotable.yaml", "min_count: 1", "min_count: one")
    [error] = dv.validate_userhome(home, catalog)
    assert "daily_row_count.error.min_count: 'one'" in error


def test_validator_catches_columns_and_tables_the_specs_do_not_declare(home, catalog):
    orders = home / du.SOURCES / "silver.orders.dqotable.yaml"
    _edit(orders, "    ship_country:\n", "    ship_county:\n")
    _edit(orders, "event_timestamp_column: updated_at", "event_timestamp_column: updated")
    _edit(orders, "foreign_table: silver.customers", "foreign_table: silver.clients")
    shutil.copy(orders, home / du.SOURCES / "silver.refunds.dqotable.yaml")
    (home / du.SOURCES / "gold.daily_revenue.dqotable.yaml").unlink()
    errors = "\n".join(dv.validate_userhome(home, catalog))
    assert "columns.ship_county: no column 'ship_county' in the spec of silver.orders" in errors
    assert "timestamp_columns.event_timestamp_column: no column 'updated'" in errors
    assert "no column 'customer_id' in a table silver.clients" in errors
    assert "silver.refunds.dqotable.yaml: no spec declares a table silver.refunds" in errors
    assert "gold.daily_revenue.dqotable.yaml: missing" in errors


def test_validator_catches_a_connection_that_is_not_the_thrift_server(home, catalog):
    _edit(home / du.CONNECTION_FILE, "provider_type: spark", "provider_type: postgresql")
    assert any("provider_type must be spark" in e for e in dv.validate_userhome(home, catalog))
    _edit(home / du.CONNECTION_FILE, "provider_type: postgresql", "provider_type: sparkling")
    assert any("refuses it" in e for e in dv.validate_userhome(home, catalog))


# --- the connection --------------------------------------------------------------------------

def test_connection_points_at_the_thrift_server_lakehouse_config_configures(monkeypatch, tmp_path):
    """Its parameters are ${NAME} references (DQOps expands them from its own environment, no
    credential committed), and NAME is the variable lakehouse.config reads for that very
    setting: the same environment gives DQOps and every other client the same server, over
    TLS checked against the platform's truststore."""
    from lakehouse.platform.tls import TlsFiles

    spark = yaml.safe_load((du.USERHOME_DIR / du.CONNECTION_FILE).read_text())["spec"]["spark"]
    assert set(spark) == {"host", "user", "password"}
    assert all(v.startswith("${") and v.endswith("}") for v in (spark["user"], spark["password"])), spark
    for key in [k for k in os.environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    configured = {"LAKEHOUSE_THRIFT_HOST": "thrift.internal", "LAKEHOUSE_THRIFT_PORT": "10001",
                  "LAKEHOUSE_DQOPS_THRIFT_USER": "dqops", "LAKEHOUSE_DQOPS_THRIFT_PASSWORD": "s3cret-pw",
                  "LAKEHOUSE_TLS_DIR": str(tmp_path / "tls"), "LAKEHOUSE_THRIFT_TRUSTSTORE_PASSWORD": "trust-pw"}
    for key, value in configured.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(home=tmp_path)
    env = dict(os.environ)
    host, port, database, variables = dv.parse_jdbc_url(dv.jdbc_url(spark, env))
    assert ((host, port, database) == (settings.thrift_host, settings.thrift_port, "default")
            == ("thrift.internal", 10001, "default"))
    assert variables["ssl"] == "true"
    assert variables["sslTrustStore"] == str(TlsFiles(settings.tls_dir).truststore)
    assert variables["trustStorePassword"] == settings.thrift_truststore_password.get_secret_value()
    assert (dv.resolve_env(spark["user"], env), dv.resolve_env(spark["password"], env)) == (
        settings.dqops_thrift_user, settings.dqops_thrift_password.get_secret_value())


def test_dqops_scheduler_runs_the_daily_monitoring_checks_on_a_declared_schedule():
    spec = yaml.safe_load((du.USERHOME_DIR / du.CONNECTION_FILE).read_text())["spec"]
    assert spec["schedules"] == {"monitoring_daily": {"cron_expression": du.MONITORING_DAILY_CRON}}
    minute, hour, *every = du.MONITORING_DAILY_CRON.split()
    assert every == ["*", "*", "*"] and 0 <= int(hour) < 24 and 0 <= int(minute) < 60, "once a day"


# --- the checks follow the specs ---------------------------------------------------------------

def test_silver_columns_are_the_columns_silver_writes(catalog, spark):
    """Against silver's own schema (lakehouse.tables, which needs a session to parse types)."""
    from lakehouse.tables import silver_schema

    for name, spec in catalog.datasets.items():
        written = [(f.name, f.dataType.simpleString()) for f in silver_schema(spec).fields]
        assert spec.silver_columns == written, name
        columns = table(f"silver.{name}")["columns"]
        assert set(columns) == {n for n, _ in written}
        count = daily(table(f"silver.{name}"))["schema"]["daily_column_count"]
        assert count == {"error": {"expected_value": len(written)}}


def test_silver_checks_follow_the_dataset_specs():
    orders = table("silver.orders")
    for column in ("order_id", "customer_id", "order_ts", "status", "ship_country", "updated_at"):  # required
        assert daily(orders["columns"][column])["nulls"]["daily_nulls_count"] == {"error": {"max_count": 0}}, column
    assert "nulls" not in daily(orders["columns"]["_batch_id"])
    assert "op" not in orders["columns"]  # the CDC column is not kept in silver
    assert daily(orders["columns"]["status"])["accepted_values"]["daily_text_found_in_set_percent"] == {
        "parameters": {"expected_values": ["placed", "paid", "shipped", "delivered", "cancelled"]},
        "error": {"min_percent": 100.0}}  # action quarantine: none may be left in silver
    assert daily(orders["columns"]["customer_id"])["integrity"]["daily_lookup_key_not_found"] == {
        "parameters": {"foreign_table": "silver.customers", "foreign_column": "customer_id"},
        "error": {"max_count": 0}}
    assert orders["timestamp_columns"] == {"event_timestamp_column": "updated_at"}
    assert daily(orders)["timeliness"]["daily_data_freshness"] == {"warning": {"max_days": 2.0}}
    assert daily(orders)["volume"]["daily_row_count"] == {"error": {"min_count": 1}}
    assert daily(orders)["uniqueness"]["daily_duplicate_record_count"] == {
        "parameters": {"columns": ["order_id"]}, "error": {"max_count": 0}}
    assert orders["columns"]["order_ts"]["type_snapshot"] == {"column_type": "TIMESTAMP", "nullable": True}

    items = table("silver.order_items")
    assert daily(items)["uniqueness"]["daily_duplicate_record_count"]["parameters"] == \
        {"columns": ["order_id", "line_no"]}
    assert daily(items["columns"]["quantity"])["numeric"]["daily_number_in_range_percent"] == {
        "parameters": {"min_value": 1.0, "max_value": 100.0}, "error": {"min_percent": 100.0}}
    assert items["columns"]["unit_price"]["type_snapshot"] == {"column_type": "decimal", "precision": 10, "scale": 2,
                                                               "nullable": True}

    customers = table("silver.customers")
    # SCD2 history repeats a key by design: unique among the current versions.
    assert daily(customers)["uniqueness"]["daily_duplicate_record_count"]["parameters"] == {
        "columns": ["customer_id"], "filter": "is_current"}
    assert {"valid_from", "valid_to", "is_current"} <= set(customers["columns"])
    # action warn: such rows reach silver on purpose, so DQOps warns.
    assert daily(customers["columns"]["email"])["patterns"]["daily_texts_not_matching_regex_percent"] == {
        "parameters": {"regex": "^[^@ ]+@[^@ ]+$"}, "warning": {"max_percent": 0.0}}
    for name in ("customers", "order_items", "orders", "products"):
        for column, spec in table(f"silver.{name}")["columns"].items():
            assert daily(spec)["schema"] == {"daily_column_exists": {"error": {}},
                                              "daily_column_type_changed": {"warning": {}}}, (name, column)


def test_gold_checks_cover_keys_and_the_columns_rules_name(catalog):
    for name, spec in catalog.gold.items():
        gold = table(f"gold.{name}")
        assert daily(gold)["uniqueness"]["daily_duplicate_record_count"]["parameters"] == {"columns": spec.keys}
        assert daily(gold)["volume"]["daily_row_count"] == {"error": {"min_count": 1}}
        assert set(daily(gold)["schema"]) == {"daily_column_count_changed", "daily_column_list_or_order_changed",
                                              "daily_column_types_changed"}
        assert "timestamp_columns" not in gold  # no declared timestamp column: no freshness check
        for key in spec.keys:
            assert daily(gold["columns"][key])["nulls"]["daily_nulls_count"] == {"error": {"max_count": 0}}
    revenue = table("gold.daily_revenue")["columns"]
    assert daily(revenue["revenue"])["numeric"]["daily_number_below_min_value"] == {
        "parameters": {"min_value": 0.0}, "error": {"max_count": 0}}  # action fail
    clv = table("gold.customer_lifetime_value")["columns"]
    assert daily(clv["segment"])["accepted_values"]["daily_text_found_in_set_percent"]["warning"] == \
        {"min_percent": 100.0}  # action warn


def test_every_expectation_type_is_mapped_or_deliberately_not():
    """A new expectation type must get a DQOps check or say why it has none (dqops_unmapped)."""
    from lakehouse import rules

    examples = {
        "not_null": {"column": "c"}, "accepted_values": {"column": "c", "values": ["a"]},
        "range": {"column": "c", "min": 1}, "regex": {"column": "c", "pattern": "^a$"},
        "expression": {"expr": "c > 0"}, "foreign_key": {"column": "c", "references": "other.c"},
        "row_count_change": {"max_change": 0.5, "action": "warn"},
    }
    types = typing.get_args(Expectation.model_fields["type"].annotation)
    assert set(types) <= set(examples), f"no example for {set(types) - set(examples)}: add one, then map it"
    for kind in types:
        e = Expectation(name="rule", type=kind, **examples[kind])
        mapped = du.expectation_check(e, "string")
        assert (mapped is None) == (rules.TYPES[kind].dqops_unmapped is not None), kind
        if mapped:
            target, category, check_name, check = mapped
            assert target == (e.column or "") and check["error"], kind


def test_two_rules_on_one_dqops_check_are_refused(tmp_path):
    from lakehouse.errors import LakehouseError

    specs = tmp_path / "pipelines"
    shutil.copytree(SPECS, specs)
    path = specs / "datasets" / "orders.yaml"
    path.write_text(path.read_text() + "  - {name: status_again, type: accepted_values, column: status, "
                                       "values: [paid], action: warn}\n")
    with pytest.raises(LakehouseError, match="two rules map to DQOps check accepted_values.daily_text_found_in_set"):
        du.render(load_catalog(specs))


def test_freshness_only_where_the_ordering_column_is_a_point_in_time(tmp_path):
    specs = tmp_path / "pipelines"
    shutil.copytree(SPECS, specs)
    path = specs / "datasets" / "products.yaml"
    text = path.read_text().replace("ordering: updated_at", "ordering: version")
    path.write_text(text.replace("columns:\n", "columns:\n  - {name: version, type: bigint, required: true}\n", 1))
    products = du.silver_table(load_catalog(specs).datasets["products"])["spec"]
    assert "timestamp_columns" not in products and "timeliness" not in daily(products)
    assert daily(table("silver.products"))["timeliness"]["daily_data_freshness"] == {"warning": {"max_days": 2.0}}


def test_an_append_dataset_is_unique_by_each_records_arrival():
    """Equal records of an append dataset are records in their own right (no keys), but each
    lands once."""
    from lakehouse.specs import DatasetSpec

    spec = DatasetSpec(name="clicks", source={"format": "csv"}, mode="append",
                       columns=[{"name": "page", "type": "string", "required": True}])
    checks = daily(du.silver_table(spec)["spec"])
    assert checks["uniqueness"]["daily_duplicate_record_count"]["parameters"] == {"columns": ["_batch_id", "_arrival"]}
    assert checks["schema"]["daily_column_count"] == {"error": {"expected_value": 3}}
