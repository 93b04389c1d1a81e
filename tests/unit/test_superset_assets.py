"""superset/assets, the dashboards as code, checked without Superset: the bundle is whole
(every reference resolves, nothing is orphaned), its tables are the pipeline's, and no
credential is written into it. tests/system/test_superset.py imports it into a real
Superset and compares the datasets with the Thrift server's own columns."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

from lakehouse.config import GOLD, OPS, load_settings
from lakehouse.platform.superset import ASSETS_DIR
from lakehouse.specs import load_catalog
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
