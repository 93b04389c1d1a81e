"""The "Data quality" dashboard, generated from the specs for the bundle that provisioning
imports (superset_datasets.bundle): charts on the data-quality views of the ops tables
(lakehouse.ops_views) and on ops.published, so every number it shows is one an ops table
holds. What follows the specs: one volume chart per dataset with a `row_count_change` rule,
drawn against that rule's band.

Its charts and the dashboard are certified by GENERATED_BY: Superset shows the mark, and
`superset export` leaves them out (superset/manage.py), as it leaves out generated datasets.
Their UUIDs follow from their names, so provisioning again updates them in place.

Pure functions.
"""

from __future__ import annotations

import json
import uuid

from lakehouse import ops_views
from lakehouse.config import OPS
from lakehouse.specs import Catalog

# superset/manage.py keeps the same value (it runs without this package; a unit test keeps them equal).
GENERATED_BY = "lakehouse (generated from the specs)"
DETAILS = "Made by `lakehouse up` from pipelines/ and the ops views; edits are replaced at the next provisioning."
SLUG = "data-quality"
TITLE = "Lakehouse: data quality"
_NAMESPACE = uuid.UUID("5b0c3c8e-1d7a-4d0e-9a63-2f1f8a9e7c41")  # fixed: a chart's UUID never changes


def _uuid(kind: str, name: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}"))


def _metric(label: str, sql: str) -> dict:
    return {"expressionType": "SQL", "sqlExpression": sql, "label": label, "hasCustomLabel": True,
            "optionName": "metric_" + label.replace(" ", "_")}


def _chart(name: str, description: str, table: str, viz_type: str, params: dict, query: dict,
           datasets: dict) -> dict:
    params = {"datasource": "0__table", "viz_type": viz_type, **params, "extra_form_data": {}, "dashboards": []}
    # The saved query (what the chart data API and reports run); the dashboard builds its own
    # from params. No post-processing: the API answers with the rows as the view holds them.
    context = {"datasource": {"id": 0, "type": "table"}, "force": False,
               "queries": [{"filters": [], "extras": {"having": "", "where": ""}, "applied_time_extras": {},
                            "annotation_layers": [], "series_limit": 0, "url_params": {}, "custom_params": {},
                            "custom_form_data": {}, **query}],
               "form_data": params, "result_format": "json", "result_type": "full"}
    return {"slice_name": name, "description": description, "certified_by": GENERATED_BY,
            "certification_details": DETAILS, "viz_type": viz_type, "params": params,
            "query_context": json.dumps(context), "cache_timeout": None, "uuid": _uuid("chart", name),
            "version": "1.0.0", "dataset_uuid": str(datasets[(OPS, table)]["uuid"])}


def _table(name: str, description: str, table: str, columns: list[str], order: tuple[str, bool],
           datasets: dict, row_limit: int = 100) -> dict:
    params = {"query_mode": "raw", "all_columns": columns, "order_by_cols": [json.dumps(list(order))],
              "row_limit": row_limit, "adhoc_filters": [], "server_pagination": False,
              "table_timestamp_format": "smart_date", "include_search": True, "annotation_layers": []}
    query = {"columns": columns, "metrics": [], "orderby": [list(order)], "row_limit": row_limit, "order_desc": True}
    return _chart(name, description, table, "table", params, query, datasets)


def _lines(name: str, description: str, table: str, metrics: list[dict], datasets: dict,
           groupby: list[str] = (), where: dict[str, str] | None = None, y_format: str = "SMART_NUMBER") -> dict:
    filters = [{"clause": "WHERE", "expressionType": "SIMPLE", "subject": column, "operator": "==",
                "comparator": value} for column, value in (where or {}).items()]
    params = {"x_axis": "batch_date", "time_grain_sqla": "P1D", "metrics": metrics, "groupby": list(groupby),
              "adhoc_filters": filters, "show_legend": True, "legendType": "scroll", "legendOrientation": "top",
              "rich_tooltip": True, "markerEnabled": True, "truncateYAxis": False, "y_axis_format": y_format,
              "x_axis_time_format": "smart_date", "color_scheme": "supersetColors", "row_limit": 10000,
              "annotation_layers": [], "comparison_type": "values"}
    query = {"columns": [{"columnType": "BASE_AXIS", "sqlExpression": "batch_date", "label": "batch_date",
                          "expressionType": "SQL", "timeGrain": "P1D"}, *groupby],
             "metrics": metrics, "orderby": [], "row_limit": 10000, "order_desc": True,
             "filters": [{"col": column, "op": "==", "val": value} for column, value in (where or {}).items()]}
    return _chart(name, description, table, "echarts_timeseries_line", params, query, datasets)


def charts(catalog: Catalog, datasets: dict) -> list[dict]:
    """The dashboard's charts, in reading order. `datasets`: every dataset of the bundle by
    (schema, table), generated or hand-designed (their UUIDs are what charts point at)."""
    out = [
        _lines("Share of records passing, per dataset", "Per landing batch, the share of a dataset's records "
               "that no rule quarantined or dropped (ops.quality_by_batch).", "quality_by_batch",
               [_metric("share passing", "SUM(passed) / SUM(rows_read)")], datasets, groupby=["dataset"],
               y_format=".1%"),
        _table("Freshness per dataset", "The newest batch silver applied per dataset and its lag in days "
               "(ops.freshness).", "freshness", ["dataset", "last_batch", "lag_days", "last_loaded_at"],
               ("lag_days", False), datasets),
        _table("Rules broken in the latest run", "Each table's rules that rows broke in its latest validated "
               "run, with the rows and what the rule did with them (ops.broken_rules).", "broken_rules",
               ["table_name", "rule", "action", "rows_breaking", "rows_judged", "validated_at"],
               ("rows_breaking", False), datasets),
    ]
    for name, max_change in ops_views.band(catalog).items():
        out.append(_lines(f"Volume of {name} against its band", f"Records per batch of {name}, and the band its "
                          f"row_count_change rule allows: the previous batch's count ± {max_change:.0%} (ops.volume).",
                          "volume",
                          [_metric("records", "SUM(rows_read)"), _metric("band low", "MAX(band_low)"),
                           _metric("band high", "MAX(band_high)")], datasets, where={"dataset": name}))
    out += [
        _table("Quarantine by rule", "Quarantined records by dataset and rule, with the latest one's reason and "
               "raw text (ops.quarantine_by_rule).", "quarantine_by_rule",
               ["dataset", "rule", "rows_quarantined", "batches", "sample_reason", "sample_raw"],
               ("rows_quarantined", False), datasets),
        _table("Accounting per run", "Every run's records read against where they went; rows_unaccounted is 0 "
               "when its accounting closes (ops.accounting).", "accounting",
               ["run_id", "started_at", "steps", "steps_not_ok", "rows_read", "rows_accounted", "rows_unaccounted"],
               ("started_at", False), datasets, row_limit=50),
        _table("DQOps checks: latest results", "DQOps's latest result of every check of every silver and gold "
               "table, problems first (ops.dqops_latest, copied from DQOps after each DAG run).", "dqops_latest",
               ["severity_rank", "severity", "table_name", "column_name", "check_name", "category", "executed_at"],
               ("severity_rank", False), datasets),
        _table("Published gold versions", "The gold versions published for the intervals Airflow ran "
               "(ops.published).", "published",
               ["table_name", "delta_version", "row_count", "interval_start", "interval_end", "published_at"],
               ("published_at", False), datasets, row_limit=50),
    ]
    return out


def dashboard(chart_docs: list[dict]) -> dict:
    """Two charts a row, in the charts' order."""
    position: dict = {"DASHBOARD_VERSION_KEY": "v2",
                      "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
                      "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
                      "HEADER_ID": {"id": "HEADER_ID", "type": "HEADER", "meta": {"text": TITLE}}}
    for n, chart in enumerate(chart_docs, start=1):
        row = f"ROW-{(n + 1) // 2}"
        if row not in position:
            position["GRID_ID"]["children"].append(row)
            position[row] = {"type": "ROW", "id": row, "children": [], "parents": ["ROOT_ID", "GRID_ID"],
                             "meta": {"background": "BACKGROUND_TRANSPARENT"}}
        position[row]["children"].append(f"CHART-{n}")
        position[f"CHART-{n}"] = {"type": "CHART", "id": f"CHART-{n}", "children": [],
                                  "parents": ["ROOT_ID", "GRID_ID", row],
                                  "meta": {"width": 6, "height": 50, "chartId": n, "uuid": chart["uuid"],
                                           "sliceName": chart["slice_name"]}}
    metadata = {"color_scheme": "supersetColors", "refresh_frequency": 0, "expanded_slices": {},
                "label_colors": {}, "shared_label_colors": [], "timed_refresh_immune_slices": [],
                "cross_filters_enabled": True, "chart_configuration": {},
                "global_chart_configuration": {"scope": {"rootPath": ["ROOT_ID"], "excluded": []},
                                               "chartsInScope": []},
                "native_filter_configuration": []}
    return {"dashboard_title": TITLE, "description": None, "css": "", "slug": SLUG, "certified_by": GENERATED_BY,
            "certification_details": DETAILS, "published": True, "uuid": _uuid("dashboard", SLUG),
            "position": position, "metadata": metadata, "version": "1.0.0"}


def assets(catalog: Catalog, datasets: dict) -> dict[str, dict]:
    """The dashboard and its charts by their path in the bundle."""
    chart_docs = charts(catalog, datasets)
    out = {f"charts/quality_{n}.yaml": doc for n, doc in enumerate(chart_docs, start=1)}
    out["dashboards/Lakehouse_data_quality.yaml"] = dashboard(chart_docs)
    return out
