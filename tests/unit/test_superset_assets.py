"""superset/assets, the dashboards as code, checked without Superset: the bundle is whole
(every reference resolves, nothing is orphaned), its tables are the pipeline's, and no
credential is written into it. tests/system/test_superset.py imports it into a real
Superset and compares the datasets with the Thrift server's own columns."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from lakehouse.config import GOLD, OPS, load_settings
from lakehouse import ops_views
from lakehouse.platform import superset_datasets, superset_quality
from lakehouse.platform.superset import ASSETS_DIR
from lakehouse.specs import GoldSpec, load_catalog
from lakehouse.tables import OPS_TABLES


def _load(kind: str) -> dict[str, dict]:
    return {p.relative_to(ASSETS_DIR).as_posix(): yaml.safe_load(p.read_text())
            for p in sorted((ASSETS_DIR / kind).rglob("*.yaml"))}


DATABASES, DATASETS, CHARTS, DASHBOARDS = (_load(k) for k in ("databases", "datasets", "charts", "dashboards"))


def test_bundle_is_an_assets_export_with_one_of_each_kind():
    meta = yaml.safe_load((ASSETS_DIR / "metadata.yaml").read_text())
    assert meta["type"] == "assets" and meta["version"] == "1.0.0"
    assert len(DATABASES) == 1 and len(DASHBOARDS) == 1 and DATASETS and CHARTS
    uuids = [c["uuid"] for group in (DATABASES, DATASETS, CHARTS, DASHBOARDS) for c in group.values()]
    assert len(uuids) == len(set(uuids)), "a UUID is used twice: the import would merge two assets"


def test_database_is_the_thrift_server_through_pyhive_without_a_password():
    (db,) = DATABASES.values()
    uri = urlparse(db["sqlalchemy_uri"])
    assert uri.scheme == "hive" and parse_qs(uri.query)["auth"] == ["CUSTOM"]
    # Superset masks it on export; provisioning passes the real one apart.
    assert uri.password in (None, "XXXXXXXXXX") and "password" not in db
    uploads = db.get("allow_csv_upload", db.get("allow_file_upload"))  # the export's name, the API's name
    assert not db["allow_dml"] and not uploads, "analysts read; only the pipeline writes"


def test_datasets_are_the_gold_tables_and_the_ops_trail():
    catalog = load_catalog(load_settings().specs_dir)
    tables = {(d["schema"], d["table_name"]) for d in DATASETS.values()}
    assert {(GOLD, name) for name in catalog.gold} <= tables, "every gold table gets a dataset"
    known = {(GOLD, name) for name in catalog.gold} | {tuple(t.split(".")) for t in OPS_TABLES}
    assert tables <= known
    (db,) = DATABASES.values()
    ops_columns = {tuple(t.split(".")): set(schema.fieldNames()) for t, schema in OPS_TABLES.items()}
    for name, d in DATASETS.items():
        assert d["database_uuid"] == db["uuid"], name
        assert d["sql"] is None, f"{name}: a physical dataset, so the table's own columns apply"
        physical = {c["column_name"] for c in d["columns"] if not c["expression"]}
        if d["schema"] == OPS:
            assert physical <= ops_columns[(d["schema"], d["table_name"])], name
        assert d["main_dttm_col"] is None or d["main_dttm_col"] in {c["column_name"] for c in d["columns"]}


def _names(dataset: dict) -> tuple[set[str], set[str]]:
    return {c["column_name"] for c in dataset["columns"]}, {m["metric_name"] for m in dataset["metrics"]}


@pytest.mark.parametrize("name", sorted(CHARTS))
def test_chart_uses_only_its_datasets_columns_and_metrics(name):
    chart = CHARTS[name]
    dataset = next(d for d in DATASETS.values() if d["uuid"] == chart["dataset_uuid"])
    columns, metrics = _names(dataset)
    params = chart["params"]
    assert params["viz_type"] == chart["viz_type"]
    used_metrics = [m for m in [params.get("metric"), *params.get("metrics", [])] if m]
    assert used_metrics or chart["viz_type"] in {"table", "histogram_v2"}
    assert all(isinstance(m, str) and m in metrics for m in used_metrics), "saved metrics only, by name"
    used_columns = [params.get("x_axis"), params.get("column"), *params.get("groupby", []),
                    *params.get("all_columns", [])]
    assert {c for c in used_columns if c} <= columns
    # The saved query (what the chart-data API and reports run) asks what the chart shows.
    context = json.loads(chart["query_context"])
    assert context["form_data"]["viz_type"] == chart["viz_type"]
    for query in context["queries"]:
        assert set(query["metrics"]) <= set(used_metrics)
        asked = {c if isinstance(c, str) else c["sqlExpression"] for c in query["columns"]}
        assert asked <= columns and asked <= {c for c in used_columns if c}


def test_dashboard_shows_every_chart_once():
    (dashboard,) = DASHBOARDS.values()
    placed = Counter(node["meta"]["uuid"] for node in dashboard["position"].values()
                     if isinstance(node, dict) and node.get("type") == "CHART")
    assert set(placed) == {c["uuid"] for c in CHARTS.values()}
    assert set(placed.values()) == {1}
    assert dashboard["slug"] and dashboard["published"]


# -- datasets generated from the specs (lakehouse/platform/superset_datasets.py) ----------
def _bundle(catalog) -> dict[str, dict]:
    return {name: yaml.safe_load(text) for name, text in superset_datasets.bundle(catalog, ASSETS_DIR).items()}


def _catalog_with(extra_gold: dict | None = None):
    catalog = load_catalog(load_settings().specs_dir)
    if extra_gold is None:
        return catalog
    return catalog.model_copy(update={"gold": {**catalog.gold, extra_gold["name"]: GoldSpec(**extra_gold)}})


STATUS_COUNTS = {"name": "order_status_counts", "description": "Orders per status.", "sources": ["orders"],
                 "keys": ["status"], "columns": {"orders": "orders with that status now"},
                 "sql": "SELECT status, COUNT(*) AS orders FROM silver.orders GROUP BY status"}


def test_bundle_gives_every_gold_and_ops_table_exactly_one_dataset():
    catalog = _catalog_with()
    datasets = [d for name, d in _bundle(catalog).items() if name.startswith("datasets/")]
    tables = Counter((d["schema"], d["table_name"]) for d in datasets)
    views = {(OPS, v.name) for v in ops_views.views(catalog)}
    assert set(tables) == {(GOLD, n) for n in catalog.gold} | {tuple(t.split(".")) for t in OPS_TABLES} | views
    assert set(tables.values()) == {1}, "two datasets of one table"
    hand_made = {d["uuid"] for d in DATASETS.values()}
    for d in datasets:
        marker = (d.get("extra") or {}).get(superset_datasets.GENERATED)
        assert (marker is None) == (d["uuid"] in hand_made), d["table_name"]
        assert d["description"], f"{d['table_name']}: no description"


def test_hand_designed_datasets_keep_their_charts_and_get_the_specs_descriptions():
    bundle = _bundle(_catalog_with())
    for name, hand_made in DATASETS.items():
        imported = bundle[name]
        assert imported["uuid"] == hand_made["uuid"] and imported["metrics"] == hand_made["metrics"]
        assert [c["column_name"] for c in imported["columns"]] == [c["column_name"] for c in hand_made["columns"]]
    revenue = next(d for d in bundle.values() if d.get("table_name") == "daily_revenue")
    described = {c["column_name"]: c["description"] for c in revenue["columns"]}
    assert described["order_date"] == ("the day the orders were placed (cancelled orders left out); "
                                       "key: one row per order_date, category, country")
    assert described["units"] == "items sold that day" and described["category"] == (
        "key: one row per order_date, category, country")


def test_a_new_gold_spec_gets_a_generated_dataset_that_goes_with_the_spec():
    with_spec = _bundle(_catalog_with(STATUS_COUNTS))
    (added,) = [d for d in with_spec.values() if d.get("table_name") == "order_status_counts"]
    assert added["schema"] == GOLD and added["uuid"] == superset_datasets.dataset_uuid(GOLD, "order_status_counts")
    assert added["extra"][superset_datasets.GENERATED] == {"spec": "pipelines/gold/order_status_counts.yaml",
                                                           "keys": ["status"]}
    assert {c["column_name"]: c["description"] for c in added["columns"]} == {
        "status": "key: one row per status", "orders": "orders with that status now"}
    assert added["description"] == "Orders per status. One row per status."
    assert added["database_uuid"] == next(iter(DATABASES.values()))["uuid"]
    assert _bundle(_catalog_with(STATUS_COUNTS)) == with_spec, "the same specs, the same bundle"
    without = _bundle(_catalog_with())
    assert set(with_spec) - set(without) == {"datasets/Lakehouse/gold.order_status_counts.yaml"}


def test_generated_ops_datasets_have_every_column_and_a_time_column(tmp_path):
    written = superset_datasets.write_bundle(_catalog_with(), ASSETS_DIR, tmp_path / "bundle")
    (written / "datasets" / "stale.yaml").write_text("left over")
    superset_datasets.write_bundle(_catalog_with(), ASSETS_DIR, written)
    assert not (written / "datasets" / "stale.yaml").exists(), "a removed spec's file stays behind"
    generated = [yaml.safe_load(p.read_text()) for p in (written / "datasets").rglob("ops.*.yaml")]
    views = {v.name: [c for c, _, _ in v.columns] for v in ops_views.views(_catalog_with())}
    assert {d["table_name"] for d in generated} == {"published", "validations", "dqops_checks", "landing_files",
                                                     "delete_markers", *views}
    for d in generated:
        fields = views.get(d["table_name"]) or OPS_TABLES[f"{OPS}.{d['table_name']}"].fieldNames()
        assert [c["column_name"] for c in d["columns"]] == fields
        time_columns = [c["column_name"] for c in d["columns"] if c["is_dttm"]]
        assert d["main_dttm_col"] in time_columns


def _manage():
    spec = importlib.util.spec_from_file_location("superset_manage", ASSETS_DIR.parent / "manage.py")
    manage = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(manage)
    return manage


def test_superset_side_markers_match():
    assert _manage().GENERATED == superset_datasets.GENERATED
    assert _manage().GENERATED_BY == superset_quality.GENERATED_BY


def test_export_leaves_generated_datasets_out_unless_an_exported_chart_uses_one():
    bundle = superset_datasets.bundle(_catalog_with(STATUS_COUNTS), ASSETS_DIR)
    datasets = {name: yaml.safe_load(text) for name, text in bundle.items() if name.startswith("datasets/")}
    generated = {name: d for name, d in datasets.items() if superset_datasets.GENERATED in (d["extra"] or {})}
    used, unused = sorted(generated)[:1], sorted(generated)[1:]
    chart = {"slice_name": "made in the UI", "dataset_uuid": generated[used[0]]["uuid"]}
    exported = _manage().exportable({**bundle, "charts/made_in_the_UI_99.yaml": yaml.safe_dump(chart)})
    assert not set(unused) & set(exported), "a dataset the specs make was exported"
    kept = yaml.safe_load(exported[used[0]])
    assert kept["uuid"] == generated[used[0]]["uuid"] and not (kept["extra"] or {}).get(superset_datasets.GENERATED)
    hand_made = {n for n in bundle if not n.startswith("datasets/") and "quality" not in n}
    assert {n for n in exported if not n.startswith("datasets/")} == hand_made | {"charts/made_in_the_UI_99.yaml"}


def test_gold_column_descriptions_do_not_change_what_decides_a_rebuild():
    from lakehouse.layers.gold import spec_hash

    described = GoldSpec(**STATUS_COUNTS)
    plain = GoldSpec(**{k: v for k, v in STATUS_COUNTS.items() if k != "columns"})
    assert spec_hash(described) == spec_hash(plain)
    assert spec_hash(plain) != spec_hash(plain.model_copy(update={"sql": plain.sql + " HAVING COUNT(*) > 0"}))
    with pytest.raises(ValueError, match="lower-case identifiers"):
        GoldSpec(**{**STATUS_COUNTS, "columns": {"Orders": "x"}})


# -- the "Data quality" dashboard (lakehouse/platform/superset_quality.py) ----------------
def _quality(bundle: dict) -> tuple[dict, dict]:
    charts = {d["uuid"]: d for name, d in bundle.items() if name.startswith("charts/quality_")}
    (dashboard,) = [d for d in bundle.values() if d.get("slug") == superset_quality.SLUG]
    return charts, dashboard


def test_the_quality_dashboard_places_every_generated_chart_on_a_dataset_of_the_bundle():
    bundle = _bundle(_catalog_with())
    charts, dashboard = _quality(bundle)
    datasets = {d["uuid"]: d for name, d in bundle.items() if name.startswith("datasets/")}
    placed = [n["meta"]["uuid"] for n in dashboard["position"].values()
              if isinstance(n, dict) and n.get("type") == "CHART"]
    assert sorted(placed) == sorted(charts) and len(charts) == 8
    for chart in charts.values():
        assert chart["certified_by"] == dashboard["certified_by"] == superset_quality.GENERATED_BY
        dataset = datasets[chart["dataset_uuid"]]
        assert dataset["schema"] == OPS, chart["slice_name"]
        columns = {c["column_name"] for c in dataset["columns"]}
        query = json.loads(chart["query_context"])["queries"][0]
        named = [c if isinstance(c, str) else c["sqlExpression"] for c in query["columns"]]
        assert set(named) <= columns, (chart["slice_name"], set(named) - columns)
    uuids = [d["uuid"] for d in bundle.values() if "uuid" in d]
    assert len(uuids) == len(set(uuids))


def test_a_volume_chart_per_row_count_change_rule_follows_the_specs():
    catalog = _catalog_with()
    titles = {c["slice_name"] for c in _quality(_bundle(catalog))[0].values()}
    assert "Volume of orders against its band" in titles
    datasets = dict(catalog.datasets)
    orders = datasets["orders"]
    datasets["orders"] = orders.model_copy(update={"expectations": [e for e in orders.expectations
                                                                    if e.type != "row_count_change"]})
    without = catalog.model_copy(update={"datasets": datasets})
    assert not [t for t in (c["slice_name"] for c in _quality(_bundle(without))[0].values()) if t.startswith("Volume")]
    volume = next(v.sql for v in ops_views.views(without) if v.name == "volume")
    assert "(SELECT CAST(NULL AS STRING) AS dataset" in volume
    assert ops_views.definitions_hash(without) != ops_views.definitions_hash(catalog)


def test_export_leaves_the_generated_dashboard_and_its_charts_out():
    bundle = superset_datasets.bundle(_catalog_with(), ASSETS_DIR)
    exported = _manage().exportable(bundle)
    assert not [n for n in exported if "quality" in n or n.startswith("datasets/Lakehouse/ops.")]
    assert {n for n in exported if n.startswith(("charts/", "dashboards/"))} == {
        f"{k}/{n}" for k, group in (("charts", CHARTS), ("dashboards", DASHBOARDS)) for n in
        (p.split("/", 1)[1] for p in group)}
