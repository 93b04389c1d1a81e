"""Validation of a DQOps user home (dqops_userhome/) with DQOps's own models
(`dqops.client.models`, the package pinned in pyproject), against the pipeline specs.

The generated models accept unknown keys silently (into additional_properties): a misspelt
check or rule field would be refused or ignored by DQOps, either way a check that does not
run. So a key they do not know is an error here, as is a value of the wrong type, a table or
column no spec declares, and a connection other than the Spark Thrift Server.
"""

from __future__ import annotations

import enum
import re
import typing
from pathlib import Path
from typing import Any

import yaml

from lakehouse.config import GOLD, SILVER
from lakehouse.quality.dqops_userhome import (COLUMN_POLICY, CONNECTION, CONNECTION_FILE, DQOPS_DEFAULT_POLICIES,
                                              POLICIES_DIR, SOURCES, TABLE_POLICY, TABLE_SUFFIX, gold_columns,
                                              policy_files, table_file)
from lakehouse.specs import Catalog


def resolve_env(value: str, env: dict[str, str]) -> str:
    """A connection parameter as DQOps expands it: ${NAME} from `env`."""
    return re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], value)


def jdbc_url(spark: dict[str, str], env: dict[str, str]) -> str:
    """The URL DQOps 1.13's SparkSourceConnection builds from a connection's `spark` parameters."""
    port = resolve_env(spark.get("port") or "", env)
    return f"jdbc:hive2://{resolve_env(spark['host'], env)}{':' + str(int(port)) if port else ''}/"


def parse_jdbc_url(url: str) -> tuple[str, int, str, dict[str, str]]:
    """(host, port, database, session variables) as Hive's JDBC driver reads a URL."""
    match = re.fullmatch(r"jdbc:hive2://([^:/;]+):(\d+)/([^;]*)((?:;[^;]*)*)", url)
    if match is None:
        raise ValueError(f"not a jdbc:hive2://host:port/db;k=v URL: {url}")
    variables = dict(pair.split("=", 1) for pair in match[4].split(";") if pair)
    return match[1], int(match[2]), match[3], variables


def _map_value_type(annotation) -> Any:
    """For an `additional_properties` field: the map's value type (Any for an object that
    only tolerates unknown keys, a model or str for a declared map such as `columns`)."""
    args = typing.get_args(annotation)
    return args[1] if len(args) == 2 else Any


def _matches(value: Any, kind) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    if typing.get_origin(kind) is list:
        (item,) = typing.get_args(kind) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return isinstance(value, kind)
    return True  # a model or a forward reference to one: from_dict built it, model_errors walks it


def _type_ok(value: Any, annotation) -> bool:
    """from_dict copies scalars as they are, so a quoted number or a word for a boolean would
    pass it unnoticed. Union[Unset, X]: the value must be an X."""
    from dqops.client.types import Unset

    kinds = [a for a in typing.get_args(annotation) if a is not Unset] \
        if typing.get_origin(annotation) is typing.Union else [annotation]
    return any(_matches(value, kind) for kind in kinds)


def model_errors(obj: Any, where: str) -> list[str]:
    """Keys the DQOps models do not know, and values of the wrong type, anywhere below `obj`.
    The generated models accept unknown keys silently (into additional_properties): a
    misspelt check or rule field would be refused or ignored by DQOps, either way a check
    that does not run. Maps that are maps by design (columns, JDBC properties) are walked."""
    import attrs

    from dqops.client.types import Unset

    if isinstance(obj, list):
        return [err for i, item in enumerate(obj) for err in model_errors(item, f"{where}[{i}]")]
    if not attrs.has(type(obj)):
        return []
    errors = []
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        if field.name == "additional_properties":
            value_type = _map_value_type(field.type)
            for key, item in value.items():
                if value_type is Any:
                    errors.append(f"{where}.{key}: unknown key for DQOps's {type(obj).__name__}")
                elif value_type is str and not isinstance(item, str):
                    errors.append(f"{where}.{key}: expected text, got {item!r}")
                else:
                    errors += model_errors(item, f"{where}.{key}")
            continue
        if isinstance(value, Unset):
            continue
        name = field.name.rstrip("_")  # filter_ is `filter` in YAML
        if not _type_ok(value, field.type):
            errors.append(f"{where}.{name}: {value!r} is not of the type DQOps expects")
        errors += model_errors(value, f"{where}.{name}")
    return errors


def _policy_errors(home: Path) -> list[str]:
    """Problems of the data quality policies (dqops_userhome.POLICIES_DIR) DQOps's models see,
    other files there, and DQOps's defaults missing (DQOps would add its own, enabled)."""
    folder = home / POLICIES_DIR
    policies = policy_files(home)
    errors = [f"{p.relative_to(home)}: not a DQOps policy file (*{TABLE_POLICY} or *{COLUMN_POLICY})"
              for p in sorted(folder.iterdir() if folder.is_dir() else []) if p not in policies]
    for path in policies:
        kind = "default_table_checks" if path.name.endswith(TABLE_POLICY) else "default_column_checks"
        _, problems = _parse(path, kind)
        errors += [f"{path.relative_to(home)}: {p}" for p in problems]
    errors += [f"{POLICIES_DIR / name}: missing (DQOps would add its own default policies, enabled; turn one off "
               "with `disabled: true`, never by deleting its file)"
               for name in DQOPS_DEFAULT_POLICIES if not (folder / name).is_file()]
    return errors


def _parse(path: Path, kind: str) -> tuple[Any, list[str]]:
    """(DQOps model of the file's spec, errors)."""
    from dqops.client.models import ColumnQualityPolicySpec, ConnectionSpec, TableQualityPolicySpec, TableSpec

    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        return None, [f"not valid YAML: {str(exc).splitlines()[0]}"]
    if not isinstance(doc, dict) or set(doc) != {"apiVersion", "kind", "spec"}:
        return None, ["must hold exactly apiVersion, kind and spec"]
    if doc["apiVersion"] != "dqo/v1" or doc["kind"] != kind:
        return None, [f"apiVersion/kind must be dqo/v1/{kind}, not {doc['apiVersion']}/{doc['kind']}"]
    model = {"source": ConnectionSpec, "table": TableSpec, "default_table_checks": TableQualityPolicySpec,
             "default_column_checks": ColumnQualityPolicySpec}[kind]
    try:
        spec = model.from_dict(doc["spec"])
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return None, [f"spec: DQOps's {model.__name__} refuses it: {exc}"]
    return spec, model_errors(spec, "spec")


def known_tables(catalog: Catalog) -> dict[str, list[str]]:
    """schema.table -> the columns its spec declares."""
    tables: dict[str, list[str]] = {f"{SILVER}.{n}": [c for c, _ in s.silver_columns]
                                           for n, s in catalog.datasets.items()}
    tables.update({f"{GOLD}.{n}": gold_columns(s) for n, s in catalog.gold.items()})
    return tables


def _unset(value) -> bool:
    from dqops.client.types import Unset

    return isinstance(value, Unset)


def _table_refs(spec) -> list[tuple[str, str]]:
    """(where, column) of every column a table spec names outside its columns map."""
    refs = []
    ts = spec.timestamp_columns
    if not _unset(ts):
        for name in ("event_timestamp_column", "ingestion_timestamp_column", "partition_by_column"):
            if not _unset(getattr(ts, name)):
                refs.append((f"timestamp_columns.{name}", getattr(ts, name)))
    node, path = spec, ("monitoring_checks", "daily", "uniqueness", "daily_duplicate_record_count", "parameters")
    for step in path:
        node = getattr(node, step)
        if _unset(node):
            return refs
    columns = [] if _unset(node.columns) else node.columns
    return refs + [(".".join(path) + ".columns", c) for c in columns]


def _foreign_keys(obj: Any, where: str):
    """(where, schema.table, column) of every foreign key check below `obj`."""
    import attrs

    if not attrs.has(type(obj)):
        return
    if hasattr(obj, "foreign_table") and not _unset(obj.foreign_table):
        yield where, obj.foreign_table, None if _unset(obj.foreign_column) else obj.foreign_column
    for field in attrs.fields(type(obj)):
        value = getattr(obj, field.name)
        children = value.items() if field.name == "additional_properties" else [(field.name.rstrip("_"), value)]
        for name, child in children:
            yield from _foreign_keys(child, f"{where}.{name}")


def validate_userhome(home: Path, catalog: Catalog) -> list[str]:
    """Every problem of a user home, as `file: what`: files DQOps's models refuse or that
    hold unknown keys, tables or columns the specs do not declare, silver or gold tables
    without a file, a connection other than the Spark Thrift Server."""
    errors = []
    sources = home / "sources"
    connection = home / CONNECTION_FILE
    if not connection.is_file():
        errors.append(f"{CONNECTION_FILE}: missing")
    else:
        spec, problems = _parse(connection, "source")
        errors += [f"{CONNECTION_FILE}: {p}" for p in problems]
        if spec is not None and (str(spec.provider_type) != "spark" or _unset(spec.spark)):
            errors.append(f"{CONNECTION_FILE}: provider_type must be spark (the Spark Thrift Server)")
    for folder in sorted(p for p in sources.iterdir() if p.is_dir()) if sources.is_dir() else []:
        if folder.name != CONNECTION:
            errors.append(f"sources/{folder.name}: a connection the specs do not define (only {CONNECTION})")
    tables = known_tables(catalog)
    found = set()
    for path in sorted((home / SOURCES).glob(f"*{TABLE_SUFFIX}")):
        rel = path.relative_to(home)
        name = path.name.removesuffix(TABLE_SUFFIX)
        if name not in tables:
            errors.append(f"{rel}: no spec declares a table {name}")
            continue
        found.add(name)
        spec, problems = _parse(path, "table")
        errors += [f"{rel}: {p}" for p in problems]
        if spec is None:
            continue
        declared = tables[name]
        columns = [] if _unset(spec.columns) else spec.columns.additional_keys
        named = [(f"columns.{c}", c) for c in columns] + _table_refs(spec)
        errors += [f"{rel}: {where}: no column {col!r} in the spec of {name}"
                   for where, col in named if col not in declared]
        for where, table, column in _foreign_keys(spec, "spec"):
            if column not in tables.get(table, []):
                errors.append(f"{rel}: {where}: no column {column!r} in a table {table} of the specs")
    errors += [f"{table_file(*t.split('.'))}: missing (every silver and gold table needs one)"
               for t in sorted(set(tables) - found)]
    return errors + _policy_errors(home)
