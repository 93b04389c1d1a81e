"""The DQOps user home (dqops_userhome/), rendered from the pipeline specs.

DQOps keeps its configuration as YAML in its own layout: `sources/<connection>/
connection.dqoconnection.yaml` (how to reach the data) and one
`<schema>.<table>.dqotable.yaml` per monitored table (its columns and checks). Here the
connection is the Spark Thrift Server and every silver and gold table gets a table file
whose checks come from its spec, so a new dataset spec gets checks without hand-written
YAML (`lakehouse dqops userhome`; a unit test fails while the committed files are stale).

Pure functions, except `write_userhome` and what reads the committed policies. The check
and field names are DQOps 1.13.1's, as its own models (`dqops.client.models`, the package
pinned in pyproject) define them; the same models validate the files
(lakehouse.quality.dqops_validation), rejecting keys they do not know.

Which checks, and why:
- every table: row count >= 1 (volume) and schema change detection (column count, list,
  types; each named column exists and keeps its type);
- silver: the spec's columns and types (and what silver adds: SCD2 columns, _batch_id,
  _arrival), required columns not null, keys unique (on current rows for SCD type 2: history
  repeats a key by design; an append dataset's records by batch and arrival), the row-level expectations as the
  matching DQOps check, and freshness of a timestamp or date ordering column;
- gold: no column list is declared (the SQL makes them), so only the keys (not null,
  unique: gold is written by key) and the columns its expectations name.
Severity follows the rule's action: rows breaking a quarantine/drop/fail rule never reach
the table, so finding one there means the pipeline's guard failed: an error. A `warn` rule
lets rows through on purpose: a warning.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from lakehouse.config import DQOPS_CONNECTION as CONNECTION
from lakehouse.config import ENV_PREFIX, GOLD, PROJECT_ROOT, SILVER
from lakehouse.errors import LakehouseError
from lakehouse import rules
from lakehouse.rules.base import ExactNumber
from lakehouse.specs import Catalog, DatasetSpec, Expectation, GoldSpec

USERHOME_DIR = PROJECT_ROOT / "dqops_userhome"
SOURCES = Path("sources") / CONNECTION
CONNECTION_FILE = SOURCES / "connection.dqoconnection.yaml"
TABLE_SUFFIX = ".dqotable.yaml"
# DQOps's own default data quality policies ("data observability": anomaly, outlier, volume,
# schema and null checks it applies to every table), committed as DQOps 1.13.1 writes them,
# each disabled (DQOps ships 4 of the 20 disabled itself): DQOps runs the specs' checks and no
# others. They are not the specs' rules, and they cost: silver.customers ran 87 checks with
# them, its 35 declared without, and the checks of every table took 18-22 s with them against
# 9-11 s without (the DAG's operator by hand on a warm native platform, sample scale).
# At every start DQOps adds its table policies, enabled, when none of their names is in
# patterns/, and its column policies likewise (LocalUserHomeCreatorImpl): a policy is turned
# off with `disabled: true`, never by deleting its file, and the validator requires them all.
# Not generated: the committed files are copied as they are, and the user home's patterns/
# mirrors them (compose mounts it read-only; natively each start rewrites it).
POLICIES_DIR = Path("patterns")
TABLE_POLICY, COLUMN_POLICY = ".dqotablepattern.yaml", ".dqocolumnpattern.yaml"
DQOPS_DEFAULT_POLICIES = tuple(f"{name}{TABLE_POLICY}" for name in (
    "Detect big day-to-day data volume changes", "Detect data freshness anomalies daily",
    "Detect data volume anomalies", "Detect empty tables daily", "Detect table availability issues daily",
    "Detect table schema changes", "Track volume of daily partitions",
)) + tuple(f"{name}{COLUMN_POLICY}" for name in (
    "Detect anomalies in the count of distinct values", "Detect anomalies in the percentage of null values",
    "Detect anomalies in the sum and average of numeric values at a partition level",
    "Detect anomalies in the sum and average of numeric values",
    "Detect change of the data type of values in text columns",
    "Detect column schema changes", "Detect columns containing any null values", "Detect empty columns",
    "Detect outliers in numeric values across daily partitions", "Detect outliers in numeric values",
    "Detect significant changes in the percentage of null values",
    "Profile text columns to detect PII values (sensitive data)", "Track the count and percentage of null values",
))

# The connection's parameters are references DQOps expands from its own environment
# (DQOps's docs, data-sources/spark.md: "Supports also a ${SPARK_HOST} configuration"), named as
# lakehouse.config reads them: no host and no credential is committed, and the DQOps
# container gets the same LAKEHOUSE_* values as every other Thrift client.
def _env(field: str) -> str:
    return "${" + ENV_PREFIX + field.upper() + "}"


# The Thrift server speaks TLS only. DQOps builds its URL as jdbc:hive2://<host>[:<port>]/
# and hands its `properties` to Hive's driver as connection properties, which that driver
# reads only for hiveconf:/hivevar: keys: TLS has to be in the URL. So `host` carries the
# whole rest of the URL (`port` stays unset), and a last session variable the driver ignores
# takes the "/" DQOps appends. The truststore (CA of lakehouse/platform/tls.py) is read from
# LAKEHOUSE_TLS_DIR, which DQOps's environment sets.
TRUSTSTORE_FILE = "truststore.p12"
THRIFT_JDBC_HOST = (f"{_env('thrift_host')}:{_env('thrift_port')}/default;ssl=true;"
                    f"sslTrustStore={_env('tls_dir')}/{TRUSTSTORE_FILE};"
                    f"trustStorePassword={_env('thrift_truststore_password')};client=dqops")

# DQOps recognises an initialised user home by these two files (LocalUserHomeCreatorImpl.
# isDqoUserHomeInitialized); committed, the folder is a user home DQOps opens as it is.
MARKER_FILE = ".DQO_USER_HOME"
MARKER_TEXT = "This is a marker file to identify a DQO_USER_HOME folder. Please check this file to Git."
# What DQOps writes there at run time (results, logs, local settings) stays out of Git:
# DQOps's own .gitignore for a user home.
GITIGNORE_TEXT = ".credentials/\n.data/\n.index/\n.logs/\n.venv/\n.localsettings.dqosettings.yaml\n"

_SCHEMA_URL = "https://cloud.dqops.com/dqo-yaml-schema/{}-schema.json"  # DQOps's editor schemas
_HEADER = ("# Generated by `lakehouse dqops userhome` from {source}.\n"
           "# Do not edit: change that and regenerate (a unit test fails while this file is stale).\n"
           "# yaml-language-server: $schema={schema}\n")

# Days since the newest change (ordering column) before freshness warns. A run processes
# the previous day's batch, so newest changes are one to two days old when checks run.
# Warning only: a backfill of old days or a quiet source is not an error.
FRESHNESS_WARNING_DAYS = 2.0
# When DQOps's own scheduler runs every table's daily monitoring checks (its time zone's
# 06:00, after the DAG's midnight run). The DAG's task checks what a run wrote, right
# after it; the schedule catches what no run reports: a pipeline that stopped running
# (freshness) and a table changed behind the pipeline's back.
MONITORING_DAILY_CRON = "0 6 * * *"

class _Dumper(yaml.SafeDumper):
    pass


def _represent_exact(dumper: _Dumper, number: ExactNumber) -> yaml.ScalarNode:
    if number == number.to_integral_value():
        return dumper.represent_int(int(number))
    return dumper.represent_scalar("tag:yaml.org,2002:float", format(number, "f"))


_Dumper.add_representer(ExactNumber, _represent_exact)


def severity(action: str) -> str:
    return "warning" if action == "warn" else "error"


def type_snapshot(spark_type: str) -> dict:
    """The column type as DQOps records it when it imports a Spark table: DESCRIBE's type,
    parsed by ColumnTypeSnapshotSpec.fromType (DECIMAL(10,2) -> decimal, precision 10,
    scale 2; a plain type upper-cased), nullable as the Spark connector always records it.
    Needed by the freshness sensor, which picks its SQL by the column's type."""
    match = re.fullmatch(r"(\w+)\((\d+),(\d+)\)", spark_type.replace(" ", ""))
    if match:
        return {"column_type": match[1], "precision": int(match[2]), "scale": int(match[3]), "nullable": True}
    return {"column_type": spark_type.upper(), "nullable": True}


def gold_columns(spec: GoldSpec) -> list[str]:
    """The gold columns a spec names (keys, then its expectations' columns), in that order."""
    named = [*spec.keys, *(e.column for e in spec.expectations if e.column)]
    return list(dict.fromkeys(named))


def _put(checks: dict, category: str, name: str, check: dict, where: str) -> None:
    # DQOps holds one check of a name per column or table: two rules mapping to the same
    # check would silently keep one, so refuse.
    slot = checks.setdefault(category, {})
    if name in slot:
        raise LakehouseError(f"{where}: two rules map to DQOps check {category}.{name}; "
                             "DQOps holds one of a name per column or table")
    slot[name] = check


def _rule(parameters: dict | None, sev: str, rule: dict) -> dict:
    check = {sev: rule}
    if parameters:
        check["parameters"] = parameters
    return check


def expectation_check(e: Expectation, column_type: str | None) -> tuple[str, str, str, dict] | None:
    """(target, category, check name, check) for an expectation (its type's DqopsCheck,
    lakehouse.rules); target is the column, or "" for a table-level check. None for a type
    DQOps cannot express on the table it sees (the type's `dqops_unmapped` says why)."""
    mapped = rules.of(e).dqops_check(e, column_type)
    if mapped is None:
        return None
    return mapped.target, mapped.category, mapped.name, _rule(mapped.parameters, severity(e.action), mapped.threshold)


def _table_doc(columns: dict[str, dict], table_checks: dict, labels: list[str],
               timestamp_column: str | None = None) -> dict:
    spec: dict[str, Any] = {}
    if timestamp_column:
        spec["timestamp_columns"] = {"event_timestamp_column": timestamp_column}
    spec["monitoring_checks"] = {"daily": table_checks}
    spec["columns"] = columns
    spec["labels"] = labels
    return {"apiVersion": "dqo/v1", "kind": "table", "spec": spec}


def _column(snapshot: dict | None = None) -> dict:
    column: dict[str, Any] = {"monitoring_checks": {"daily": {
        "schema": {"daily_column_exists": {"error": {}}, "daily_column_type_changed": {"warning": {}}}}}}
    if snapshot:
        column["type_snapshot"] = snapshot
    return column


def _add_expectations(expectations: list[Expectation], columns: dict[str, dict], types: dict[str, str],
                      table_checks: dict, where: str) -> None:
    for e in expectations:
        mapped = expectation_check(e, types.get(e.column) if e.column else None)
        if mapped is None:
            continue
        target, category, name, check = mapped
        if target:
            _put(columns[target]["monitoring_checks"]["daily"], category, name, check, f"{where}.{target}")
        else:
            _put(table_checks, category, name, check, where)


def _schema_checks(expected_count: int | None) -> dict:
    checks = {"daily_column_list_or_order_changed": {"warning": {}}, "daily_column_types_changed": {"warning": {}}}
    if expected_count is None:
        checks["daily_column_count_changed"] = {"warning": {}}
    else:  # silver's columns are known exactly: any other count is a schema change silver let through
        checks["daily_column_count"] = {"error": {"expected_value": expected_count}}
    return checks


def silver_table(spec: DatasetSpec) -> dict:
    where = f"{SILVER}.{spec.name}"
    typed = spec.silver_columns
    types = dict(typed)
    columns = {name: _column(type_snapshot(kind)) for name, kind in typed}
    required = {c.name for c in spec.data_columns if c.required}
    for name in sorted(required):
        _put(columns[name]["monitoring_checks"]["daily"], "nulls", "daily_nulls_count",
             _rule(None, "error", {"max_count": 0}), f"{where}.{name}")
    table_checks: dict[str, Any] = {
        "volume": {"daily_row_count": {"error": {"min_count": 1}}},
        "schema": _schema_checks(len(typed)),
    }
    # Freshness needs a point in time: an ordering column that is a version number has none.
    timestamp_column = spec.ordering if spec.ordering and types[spec.ordering] in ("timestamp", "date") else None
    if timestamp_column:
        table_checks["timeliness"] = {"daily_data_freshness": {"warning": {"max_days": FRESHNESS_WARNING_DAYS}}}
    # An append dataset has no keys (equal records are records in their own right), but each
    # record lands once: its batch and arrival are unique.
    uniqueness: dict[str, Any] = {"columns": list(spec.keys) or ["_batch_id", "_arrival"]}
    if spec.scd == 2:
        uniqueness["filter"] = "is_current"  # SCD2 history repeats a key; one current version each
    table_checks["uniqueness"] = {"daily_duplicate_record_count": _rule(uniqueness, "error", {"max_count": 0})}
    # A not_null rule on a required column adds nothing to the check `required` made.
    rules = [e for e in spec.expectations if not (e.type == "not_null" and e.column in required)]
    _add_expectations(rules, columns, types, table_checks, where)
    return _table_doc(columns, table_checks, ["lakehouse", SILVER], timestamp_column=timestamp_column)


def gold_table(spec: GoldSpec) -> dict:
    where = f"{GOLD}.{spec.name}"
    columns = {name: _column() for name in gold_columns(spec)}
    for key in spec.keys:  # gold is written by key: a null key could never be matched again
        _put(columns[key]["monitoring_checks"]["daily"], "nulls", "daily_nulls_count",
             _rule(None, "error", {"max_count": 0}), f"{where}.{key}")
    table_checks: dict[str, Any] = {
        "volume": {"daily_row_count": {"error": {"min_count": 1}}},
        "schema": _schema_checks(None),
        "uniqueness": {"daily_duplicate_record_count": _rule({"columns": list(spec.keys)}, "error", {"max_count": 0})},
    }
    rules = [e for e in spec.expectations if not (e.type == "not_null" and e.column in spec.keys)]
    _add_expectations(rules, columns, {}, table_checks, where)
    return _table_doc(columns, table_checks, ["lakehouse", GOLD])


def connection_doc() -> dict:
    spark = {"host": THRIFT_JDBC_HOST, "user": _env("dqops_thrift_user"), "password": _env("dqops_thrift_password")}
    return {"apiVersion": "dqo/v1", "kind": "source",
            "spec": {"provider_type": "spark", "spark": spark,
                     "schedules": {"monitoring_daily": {"cron_expression": MONITORING_DAILY_CRON}}}}


def _dump(doc: dict, source: str, schema: str) -> str:
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=120)
    return _HEADER.format(source=source, schema=_SCHEMA_URL.format(schema)) + body


def table_file(schema: str, table: str) -> Path:
    return SOURCES / f"{schema}.{table}{TABLE_SUFFIX}"


def policy_files(home: Path = USERHOME_DIR) -> list[Path]:
    """The policy files of a user home (by the endings DQOps reads)."""
    folder = home / POLICIES_DIR
    return sorted(p for suffix in (TABLE_POLICY, COLUMN_POLICY) for p in folder.glob(f"*{suffix}"))


def render(catalog: Catalog) -> dict[Path, str]:
    """Every file of the user home the lakehouse owns, by path relative to it: generated, and
    the committed policies as they are."""
    files = {
        Path(MARKER_FILE): MARKER_TEXT,
        Path(".gitignore"): GITIGNORE_TEXT,
        CONNECTION_FILE: _dump(connection_doc(), "lakehouse/quality/dqops_userhome.py", "ConnectionYaml"),
        **{POLICIES_DIR / p.name: p.read_text() for p in policy_files()},
    }
    for name, spec in catalog.datasets.items():
        files[table_file(SILVER, name)] = _dump(silver_table(spec), f"pipelines/datasets/{name}.yaml", "TableYaml")
    for name, spec in catalog.gold.items():
        files[table_file(GOLD, name)] = _dump(gold_table(spec), f"pipelines/gold/{name}.yaml", "TableYaml")
    return dict(sorted(files.items()))


def _generated_here(home: Path) -> list[Path]:
    """The files of `home` that the generator owns: its two root files, the policies and
    everything DQOps reads under sources/ (README.md and whatever DQOps writes at run time are
    not ours)."""
    owned = [home / MARKER_FILE, home / ".gitignore", *policy_files(home)]
    sources = home / "sources"
    if sources.is_dir():
        owned += [p for p in sources.rglob("*") if p.is_file()]
    return sorted(p for p in owned if p.is_file())


def stale_files(catalog: Catalog, home: Path = USERHOME_DIR) -> list[str]:
    """Paths (relative to `home`) that differ from what the specs render, are missing, or
    are left over; empty when the committed user home is current."""
    wanted = render(catalog)
    present = {p.relative_to(home): p for p in _generated_here(home)}
    differ = [rel for rel, text in wanted.items() if rel not in present or present[rel].read_text() != text]
    extra = [rel for rel in present if rel not in wanted]
    return sorted(str(p) for p in [*differ, *extra])


def write_userhome(catalog: Catalog, home: Path = USERHOME_DIR) -> list[str]:
    """(Re)write the user home from the specs; removes generated files no spec wants any
    more. Returns what changed (relative paths), empty when it was current."""
    changed = stale_files(catalog, home)
    wanted = render(catalog)
    for rel in changed:
        path = home / rel
        if Path(rel) in wanted:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(wanted[Path(rel)])
        else:
            path.unlink()
    return changed
