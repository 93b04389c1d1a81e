"""Superset follows the specs: what `lakehouse up` imports is superset/assets (the
hand-designed part: the database, the dashboards, their charts and datasets) plus a dataset
for every gold and ops table that no hand-designed dataset covers, generated here.

A generated dataset carries the table's description, its keys and what its columns mean
(a gold spec's `columns`, the ops tables' documentation below), a default time column and a
row count metric; superset/manage.py adds the columns' types as the Thrift server reports
them. Its UUID follows from the table's name, so provisioning again updates the same
dataset, and `extra` names the spec it comes from, so provisioning removes the generated
datasets whose spec is gone (unless a chart uses one: then it is kept and reported). A
hand-designed dataset of a spec's table stays the table's only dataset (its charts point at
it); it gets the spec's descriptions where it has none.

Pure functions, except `write_bundle`.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import yaml

from lakehouse import ops_views
from lakehouse.config import GOLD, OPS
from lakehouse.platform import superset_quality
from lakehouse.specs import Catalog

# The key in a generated dataset's `extra`: the spec it follows and the table's keys.
GENERATED = "lakehouse_generated"
_NAMESPACE = uuid.UUID("9a4f4a7e-52f4-4f4e-9d51-6c7c3b1f0a11")  # fixed: a table's UUID never changes
_DATASETS = Path("datasets") / "Lakehouse"

# The ops tables' meaning (their schemas are in lakehouse.tables): description, the time
# column analysts filter by, and what the columns a person reads first mean.
OPS_DOCS: dict[str, tuple[str, str, dict[str, str]]] = {
    "audit": ("One row per table, layer and batch of every run: what was read and where it went.", "started_at", {
        "run_id": "the run (lakehouse run or one Airflow task's job)",
        "layer": "bronze, silver or gold",
        "batch_id": "the landing batch (its date folder)",
        "rows_read": "records read; every one is counted in exactly one of the outcome columns",
        "status": "ok, or why the table's step stopped",
        "delta_version": "the table's Delta version this step committed",
    }),
    "quarantine": ("Every record a rule held back, with the rule, the reason and the raw record.", "quarantined_at", {
        "dataset": "the dataset the record was landed for",
        "rule": "the expectation (or parse check) it broke",
        "reason": "why, in words",
        "raw": "the record as it landed",
        "source_file": "the landing file it came from",
    }),
    "published": ("Gold versions published for the intervals Airflow ran: what analysts were given, when.",
                  "published_at", {
        "table_name": "the gold table",
        "delta_version": "its Delta version at publication",
        "row_count": "its rows at that version",
        "interval_start": "the data interval's first day",
        "interval_end": "the day after its last",
    }),
    "validations": ("One row per rule per validation by Great Expectations: what it judged and found.",
                    "validated_at", {
        "rule": "the spec's expectation",
        "action": "what the rule does with rows that break it: warn, drop, quarantine or fail",
        "success": "whether every row met it",
        "unexpected_count": "rows that broke it",
        "docs_page": "the validation's Data Docs page",
    }),
    "dqops_checks": ("DQOps's check results, one row per check and execution, copied from DQOps by the "
                     "medallion DAG's dqops_results task.", "executed_at", {
        "table_name": "the checked table",
        "column_name": "the column a column check judges (none: a table check)",
        "check_name": "DQOps's check",
        "severity": "valid, warning, error, fatal or execution_error",
        "executed_at": "when DQOps ran it",
        "run_id": "the dqops_results job that copied it",
    }),
    "landing_files": ("The file log: each landing file bronze loaded (or found re-delivered unchanged, or a copy "
                      "of a file loaded before), with the batch it loaded with.", "recorded_at", {
        "dataset": "the dataset whose landing path holds the file",
        "path": "the landing file",
        "batch_id": "the batch it loaded with (a later one than its folder's when it landed late)",
        "records": "its records (lines that are not blank or the CSV header)",
        "outcome": "loaded, re-delivered unchanged, or copy of <path> (an append dataset's file holding the same "
                   "lines as one loaded before: not loaded, so bronze holds none of its records)",
        "fingerprint": "its line count and the sum of its lines' 64-bit xxHash: the same lines in any order match",
    }),
    "delete_markers": ("Silver's delete markers: per dataset and key, the newest delete that applied, so an older "
                       "version arriving later cannot bring the key back.", "marked_at", {
        "dataset": "the dataset whose CDC operation (or snapshot lacking the key) deleted the key",
        "key": "the key's columns, as JSON",
        "ordering_column": "the dataset's ordering column when the delete was marked (_arrival: arrival order)",
        "ordering": "the delete's value of the ordering column (or its arrival): only a newer version brings the "
                    "key back",
        "batch_id": "the batch whose record deleted it",
    }),
}


def dataset_uuid(schema: str, table: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{schema}.{table}"))


def _column(name: str, description: str | None, column_type: str | None = None, is_dttm: bool | None = None) -> dict:
    # is_dttm None: Superset decides from the type (a gold column's comes from the Thrift server).
    return {"column_name": name, "verbose_name": None, "is_dttm": is_dttm, "is_active": True, "type": column_type,
            "advanced_data_type": None, "groupby": True, "filterable": True, "expression": None,
            "description": description, "python_date_format": None, "datetime_format": None, "extra": None}


def _dataset(schema: str, table: str, description: str, origin: str, keys: list[str], columns: list[dict],
             time_column: str | None, database_uuid: str) -> dict:
    count = {"metric_name": "count", "verbose_name": "Rows", "metric_type": "count", "expression": "COUNT(*)",
             "description": None, "d3format": ",d", "currency": None, "extra": None, "warning_text": None}
    return {"table_name": table, "main_dttm_col": time_column, "description": description,
            "default_endpoint": None, "offset": 0, "cache_timeout": None, "catalog": None, "schema": schema,
            "sql": None, "params": None, "template_params": None, "filter_select_enabled": True,
            "fetch_values_predicate": None, "extra": {GENERATED: {"spec": origin, "keys": keys}},
            "normalize_columns": False, "always_filter_main_dttm": False, "folders": None,
            "uuid": dataset_uuid(schema, table), "metrics": [count], "columns": columns, "version": "1.0.0",
            "database_uuid": database_uuid}


def _ops_columns(table: str) -> list[dict]:
    from lakehouse.tables import OPS_TABLES  # pyspark's types: only what a bundle needs

    _, time_column, docs = OPS_DOCS[table]
    return [_column(f.name, docs.get(f.name), f.dataType.simpleString().upper(),
                    is_dttm=f.dataType.typeName() in ("timestamp", "date"))
            for f in OPS_TABLES[f"{OPS}.{table}"].fields]


def spec_datasets(catalog: Catalog, database_uuid: str) -> dict[tuple[str, str], dict]:
    """The dataset each gold and ops table gets from its spec, by (schema, table)."""
    out = {}
    for name, spec in catalog.gold.items():
        keys = ", ".join(spec.keys)
        key_note = f"key: one row per {keys}"
        described = {k: "; ".join(filter(None, (spec.columns.get(k), key_note))) for k in spec.keys}
        described |= {c: text for c, text in spec.columns.items() if c not in described}
        description = " ".join(part for part in (spec.description, f"One row per {keys}.") if part)
        out[(GOLD, name)] = _dataset(GOLD, name, description, f"pipelines/gold/{name}.yaml", list(spec.keys),
                                     [_column(c, text) for c, text in described.items()], None, database_uuid)
    for table, (description, time_column, _) in OPS_DOCS.items():
        out[(OPS, table)] = _dataset(OPS, table, description, "lakehouse/tables.py", [], _ops_columns(table),
                                     time_column, database_uuid)
    for view in ops_views.views(catalog):
        columns = [_column(name, text, ddl.upper(), is_dttm=ddl in ("date", "timestamp"))
                   for name, ddl, text in view.columns]
        out[(OPS, view.name)] = _dataset(OPS, view.name, view.description, "lakehouse/ops_views.py", [], columns,
                                         view.time_column, database_uuid)
    return out


def _enrich(hand_made: dict, generated: dict) -> dict:
    """A hand-designed dataset with the spec's descriptions where it has none."""
    described = {c["column_name"]: c["description"] for c in generated["columns"] if c["description"]}
    columns = [{**c, "description": c.get("description") or described.get(c["column_name"])}
               for c in hand_made.get("columns", [])]
    return {**hand_made, "description": hand_made.get("description") or generated["description"],
            "columns": columns}


def bundle(catalog: Catalog, assets_dir: Path) -> dict[str, str]:
    """What provisioning imports, by path relative to the bundle: the hand-designed assets
    (their datasets with the specs' descriptions), the generated datasets and the generated
    "Data quality" dashboard with its charts."""
    docs = {p.relative_to(assets_dir).as_posix(): yaml.safe_load(p.read_text())
            for p in sorted(assets_dir.rglob("*.yaml"))}
    (database,) = [d for name, d in docs.items() if name.startswith("databases/")]
    generated = spec_datasets(catalog, database["uuid"])
    datasets = {}
    for name, doc in docs.items():
        if name.startswith("datasets/"):
            table = (doc["schema"], doc["table_name"])
            if table in generated:
                docs[name] = _enrich(doc, generated.pop(table))
            datasets[table] = docs[name]
    for (schema, table), doc in generated.items():
        docs[(_DATASETS / f"{schema}.{table}.yaml").as_posix()] = doc
        datasets[(schema, table)] = doc
    docs.update(superset_quality.assets(catalog, datasets))
    return {name: yaml.safe_dump(doc, sort_keys=False, allow_unicode=True) for name, doc in sorted(docs.items())}


def write_bundle(catalog: Catalog, assets_dir: Path, target: Path) -> Path:
    """Write the bundle into `target` (emptied first: a removed spec leaves nothing behind)."""
    if target.exists():
        shutil.rmtree(target)
    for name, text in bundle(catalog, assets_dir).items():
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return target
