import shutil

import pytest
import yaml

from lakehouse.config import load_settings
from lakehouse.errors import ConfigError, LakehouseError, SpecError
from lakehouse.runs import BatchFilter
from lakehouse.specs import load_catalog
from lakehouse.spark import spark_conf
from lakehouse.config import PROJECT_ROOT


def test_shipped_specs_are_valid():
    catalog = load_catalog(PROJECT_ROOT / "pipelines")
    assert set(catalog.datasets) == {"customers", "products", "orders", "order_items"}
    assert set(catalog.gold) == {"daily_revenue", "customer_lifetime_value", "product_performance"}
    assert catalog.datasets["customers"].scd == 2


def _fields(model, prefix: str = "") -> set[str]:
    """Every field of a spec model, nested ones dotted (`source.files`, `columns[].type`)."""
    import typing

    from pydantic import BaseModel

    out = set()
    for name, info in model.model_fields.items():
        nested = [a for a in (info.annotation, *typing.get_args(info.annotation))
                  for a in (a, *typing.get_args(a)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested:
            listed = typing.get_origin(info.annotation) is list
            out |= _fields(nested[0], f"{prefix}{name}{'[]' if listed else ''}.")
        else:
            out.add(prefix + name)
    return out


def test_the_readme_spec_reference_names_every_field():
    from lakehouse.specs import DatasetSpec, GoldSpec

    readme = (PROJECT_ROOT / "README.md").read_text()
    reference = readme[readme.index("**Spec reference.**"):readme.index("A CSV export in its own dialect")]
    named = set()
    for row in reference.splitlines():
        if row.startswith("| `"):
            cell = row.split(" | ")[0]
            first = cell.split("`")[1]
            parent = first.rsplit(".", 1)[0] if "." in first else ""
            for name in cell.split("`")[1::2]:
                named.add(f"{parent}{name}" if name.startswith(".") else name)
    gold = {f"gold:{f}" for f in _fields(GoldSpec)}
    named_gold = {f"gold:{n}" for n in named}
    expected = _fields(DatasetSpec) | gold
    missing = sorted(f for f in expected if f not in named and f not in named_gold)
    assert not missing, f"README's spec reference lacks {missing}"


def _write_specs(tmp_path, dataset: dict, gold: dict | None = None):
    (tmp_path / "datasets").mkdir(parents=True)
    (tmp_path / "gold").mkdir(parents=True)
    (tmp_path / "datasets" / f"{dataset.get('name', 'x')}.yaml").write_text(yaml.safe_dump(dataset))
    if gold:
        (tmp_path / "gold" / f"{gold['name']}.yaml").write_text(yaml.safe_dump(gold))
    return tmp_path


GOOD = {"name": "t", "source": {"format": "csv"}, "columns": [{"name": "id", "type": "string", "required": True}],
        "keys": ["id"], "ordering": "id"}


@pytest.mark.parametrize("change, message", [
    ({"keys": ["nope"]}, "keys names unknown column(s) nope"),
    ({"columns": [{"name": "id", "type": "varchar"}]}, "columns.0.type"),
    ({"source": {"format": "xml"}}, "source.format"),
    ({"source": {"format": "csv", "path": "../../etc"}}, "source.path: '../../etc' must be a relative folder"),
    ({"source": {"format": "csv", "path": "/etc"}}, "source.path: '/etc' must be a relative folder"),
    ({"source": {"format": "csv", "path": "s3a://other-bucket/x"}}, "must be a relative folder"),
    ({"expectations": [{"name": "e", "type": "range", "column": "id"}]}, "needs min or max"),
    ({"extra_field": 1}, "extra_field"),
    ({"expectations": [{"name": "e", "type": "foreign_key", "column": "id", "references": "nope.id"}]},
     "no column 'id' in a dataset 'nope'"),
    ({"expectations": [{"name": "e", "type": "foreign_key", "column": "id"}]}, "needs references"),
    ({"expectations": [{"name": "e", "type": "row_count_change", "max_change": 0.5}]}, "must be warn or fail"),
    ({"expectations": [{"name": "e", "type": "row_count_change", "max_change": 0, "action": "warn"}]},
     "max_change"),
])
def test_bad_spec_names_file_and_field(tmp_path, change, message):
    specs = _write_specs(tmp_path, {**GOOD, **change})
    with pytest.raises(SpecError) as err:
        load_catalog(specs)
    assert "t.yaml" in str(err.value) and message in str(err.value)
    assert "\n" not in str(err.value)


def test_gold_spec_must_read_every_sources_changes(tmp_path):
    gold = {"name": "g", "sources": ["t"], "keys": ["id"], "sql": "SELECT 1",
            "incremental": {"partition_column": "id", "touched_sql": "SELECT 1"}}
    with pytest.raises(SpecError, match="changes_t"):
        load_catalog(_write_specs(tmp_path, GOOD, gold))


def test_invalid_yaml_is_one_line(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "t.yaml").write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_catalog(tmp_path)


def test_local_profile_is_the_default_and_needs_no_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_PROFILE", raising=False)
    s = load_settings(home=tmp_path)
    assert s.profile == "local"
    assert s.warehouse_uri == str(tmp_path / "warehouse")
    conf = spark_conf(s)  # the embedded catalog: no metastore to open (lakehouse.embedded_catalog)
    assert conf["spark.sql.catalogImplementation"] == "in-memory"
    assert not any("jdo" in key or "derby" in value for key, value in conf.items())


def test_cluster_profile_refuses_to_start_spark_without_credentials(monkeypatch, tmp_path):
    """Services that touch no storage (the Spark master, Superset) start without S3 keys; a
    Spark session of the cluster profile does not."""
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "cluster")
    monkeypatch.delenv("LAKEHOUSE_S3_ACCESS_KEY", raising=False)
    settings = load_settings(home=tmp_path)  # no generated secrets there
    with pytest.raises(ConfigError, match="LAKEHOUSE_S3_ACCESS_KEY and LAKEHOUSE_S3_SECRET_KEY"):
        spark_conf(settings)


def test_cluster_profile_configures_s3a_and_the_metastore(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "cluster")
    monkeypatch.setenv("LAKEHOUSE_S3_ACCESS_KEY", "k" * 20)
    monkeypatch.setenv("LAKEHOUSE_S3_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("LAKEHOUSE_SPARK_AUTH_SECRET", "x" * 32)
    s = load_settings()
    conf = spark_conf(s)
    assert s.warehouse_uri == "s3a://warehouse" and s.spark_master == "spark://127.0.0.1:7077"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.hive.metastore.uris"] == "thrift://127.0.0.1:9083"
    assert conf["spark.authenticate"] == "true"
    assert "s" * 40 not in repr(s)  # secrets never show in logs


def test_bad_setting_names_the_variable(monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_SCALE", "lots")
    with pytest.raises(ConfigError, match="LAKEHOUSE_SCALE"):
        load_settings()


def test_batch_filter_interval_is_half_open():
    f = BatchFilter(start=__import__("datetime").date(2026, 1, 2), end=__import__("datetime").date(2026, 1, 4))
    assert [b for b in ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "junk"] if f.accepts(b)] == \
        ["2026-01-02", "2026-01-03"]
    with pytest.raises(LakehouseError):
        BatchFilter(batch="yesterday")


@pytest.mark.parametrize("change, message", [
    ({"columns": [{"name": "id", "type": "string"}]}, "keys and ordering must be required"),
    ({"columns": [{"name": "id", "type": "string", "required": True}, {"name": "is_current", "type": "boolean"}]},
     "reserved"),
    ({"scd": 2}, "timestamp ordering"),
    ({"keys": []}, "an upsert dataset needs at least one key"),
    ({"mode": "append"}, "mode: append takes no keys, ordering: every record is kept as it arrived"),
    ({"mode": "append", "keys": [], "ordering": None, "scd": 2}, "mode: append takes no scd: 2"),
    ({"mode": "snapshot"}, "mode: snapshot takes no ordering: snapshots replace each other"),
    ({"mode": "snapshot", "keys": []}, "keys: a snapshot dataset needs at least one key"),
    ({"source": {"format": "csv", "copies": "load"}}, "source.copies applies to append datasets only"),
    ({"columns": [{"name": "id", "type": "decimal(5,7)", "required": True}]}, "s <= p"),
])
def test_specs_that_cannot_be_merged_are_refused(tmp_path, change, message):
    with pytest.raises(SpecError, match=message):
        load_catalog(_write_specs(tmp_path, {**GOOD, **change}))


def test_ordering_is_optional_and_then_versions_compare_by_arrival(tmp_path):
    spec = load_catalog(_write_specs(tmp_path, {k: v for k, v in GOOD.items() if k != "ordering"})).datasets["t"]
    assert (spec.ordering, spec.version_column, spec.version_type) == (None, "_arrival", "string")
    assert spec.silver_columns == [("id", "string"), ("_batch_id", "string"), ("_arrival", "string")]
    without = {k: v for k, v in GOOD.items() if k != "ordering"}
    with pytest.raises(SpecError, match="scd: 2 needs a timestamp ordering column"):
        load_catalog(_write_specs(tmp_path / "scd2", {**without, "scd": 2}))


def test_an_append_dataset_has_no_keys_and_keeps_each_records_arrival(tmp_path):
    appended = {**{k: v for k, v in GOOD.items() if k not in ("keys", "ordering")}, "mode": "append"}
    spec = load_catalog(_write_specs(tmp_path, appended)).datasets["t"]
    assert (spec.mode, spec.keys) == ("append", [])
    assert spec.silver_columns == [("id", "string"), ("_batch_id", "string"), ("_arrival", "string")]


def _dataset(name: str, references: str | None = None) -> dict:
    spec = {**GOOD, "name": name}
    if references:
        spec["columns"] = GOOD["columns"] + [{"name": "ref", "type": "string"}]
        spec["expectations"] = [{"name": "ref_exists", "type": "foreign_key", "column": "ref",
                                 "references": f"{references}.id"}]
    return spec


def test_a_referenced_dataset_comes_first_and_cycles_are_refused(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "gold").mkdir()
    for spec in (_dataset("a", references="b"), _dataset("b", references="c"), _dataset("c")):
        (tmp_path / "datasets" / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))
    catalog = load_catalog(tmp_path)
    assert list(catalog.datasets) == ["c", "b", "a"]
    assert [s.name for s in catalog.select(["a", "c"])] == ["c", "a"]
    (tmp_path / "datasets" / "c.yaml").write_text(yaml.safe_dump(_dataset("c", references="a")))
    with pytest.raises(SpecError, match="cycle"):
        load_catalog(tmp_path)


@pytest.mark.parametrize("expectation", [
    {"name": "e", "type": "range", "column": "id", "min": 0, "action": "quarantine"},
    {"name": "e", "type": "foreign_key", "column": "id", "references": "t.id", "action": "fail"},
])
def test_gold_rules_can_only_warn_or_fail_on_their_own_rows(tmp_path, expectation):
    gold = {"name": "g", "sources": ["t"], "keys": ["id"], "sql": "SELECT 1", "expectations": [expectation]}
    with pytest.raises(SpecError, match="gold takes rules of type not_null, accepted_values, range, regex, expression, "
                                        "with action warn or fail"):
        load_catalog(_write_specs(tmp_path, GOOD, gold))


def test_the_drivers_jvm_runs_in_utc_whatever_the_machines_zone(spark):
    """Its sessions compute in UTC, and Delta rebuilds a table's whole state after every commit
    of a JVM outside UTC (lakehouse.spark): the JVM's own zone is UTC, not the machine's (on
    this machine Etc/UTC; on a user's, often another)."""
    jvm = spark.sparkContext._jvm
    assert jvm.java.util.TimeZone.getDefault().getID() == "UTC"
    assert jvm.java.lang.System.getProperty("user.timezone") == "UTC"


def test_silver_column_names_are_the_schemas(spark):
    # The system tests read silver's columns without a SparkSession: the two must agree.
    from lakehouse import tables

    for spec in load_catalog(PROJECT_ROOT / "pipelines").datasets.values():
        assert tables.silver_column_names(spec) == tables.silver_schema(spec).fieldNames(), spec.name


def test_a_landing_path_inside_another_datasets_is_refused(tmp_path):
    specs = tmp_path / "specs"
    shutil.copytree(PROJECT_ROOT / "pipelines", specs)
    path = specs / "datasets" / "orders.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["source"]["path"] = "customers/orders"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SpecError, match=r"orders.yaml: source.path 'customers/orders' is inside the landing path "
                                        r"of customers"):
        load_catalog(specs)
