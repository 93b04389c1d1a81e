"""Declared pipelines: one YAML spec per dataset (pipelines/datasets) and per gold table
(pipelines/gold). Specs validate themselves on load; a bad spec is one error naming the
file and the field. Adding a dataset means adding a spec, not Python."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lakehouse import encodings, file_pattern, formats, rules
from lakehouse.column_types import DECIMAL, SIMPLE_TYPES, in_column_type, is_numeric  # noqa: F401 (spec API)
from lakehouse.errors import SpecError

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
# Columns silver adds itself, with their DDL types; a dataset may not declare them.
SCD2_COLUMNS = (("valid_from", "timestamp"), ("valid_to", "timestamp"), ("is_current", "boolean"))
BATCH_COLUMN = ("_batch_id", "string")
# A dataset without an ordering column orders versions by arrival: silver keeps each row's
# place in the landing (see transforms.silver.arrival_order) to compare later deliveries with.
ARRIVAL_COLUMN = ("_arrival", "string")
RESERVED = {name for name, _ in (*SCD2_COLUMNS, BATCH_COLUMN, ARRIVAL_COLUMN)}

Action = Literal["warn", "drop", "quarantine", "fail"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Column(_Strict):
    name: str = Field(pattern=IDENTIFIER)
    type: str
    required: bool = False
    # What the column means: the comment of the column in bronze and silver, so DESCRIBE,
    # the Thrift server's clients and Superset show it.
    description: str = ""

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        value = value.replace(" ", "").lower()
        decimal = DECIMAL.match(value)
        if value not in SIMPLE_TYPES and not decimal:
            raise ValueError(f"unknown type {value!r} (use {', '.join(sorted(SIMPLE_TYPES))} or decimal(p,s))")
        if decimal and not 0 <= int(decimal[2]) <= int(decimal[1]) <= 38:
            raise ValueError(f"{value}: decimal(p,s) needs 1 <= p <= 38 and s <= p")
        return value


class Expectation(_Strict):
    """A rule of a dataset or gold table, validated by Great Expectations at the layer
    boundary (see lakehouse.quality). A row-level rule judges each row, and a row that breaks
    it is handled by `action`; a table-level rule (row_count_change) judges a batch as a
    whole, so it can only warn or fail."""

    name: str = Field(pattern=IDENTIFIER)
    type: Literal[tuple(rules.TYPES)]  # one module each in lakehouse.rules
    column: str | None = None
    # Bounds and values are exact: a spec's 9999.99 is the decimal 9999.99 (load_catalog reads a
    # YAML number from its text), compared in the column's own type (see in_column_type).
    values: list[str | Decimal] | None = None
    min: Decimal | None = Field(None, allow_inf_nan=False)
    max: Decimal | None = Field(None, allow_inf_nan=False)
    pattern: str | None = None
    expr: str | None = Field(None, description="SQL that is true for a valid row")
    references: str | None = Field(None, pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
                                   description="foreign_key: <dataset>.<column> that must hold the value")
    max_change: float | None = Field(None, gt=0, description="row_count_change: largest relative change "
                                     "of a batch's row count from the previous batch's (0.5 = +/-50%)")
    action: Action = "quarantine"

    @model_validator(mode="after")
    def _arguments_match_type(self) -> Expectation:
        rule = rules.of(self)
        missing = [name for name in rule.needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"expectation {self.name!r} of type {self.type} needs {', '.join(missing)}")
        rule.check(self)
        if rule.table_level and self.action not in ("warn", "fail"):
            raise ValueError(f"expectation {self.name!r} judges whole batches: its action must be warn or fail")
        return self

    @property
    def referenced(self) -> tuple[str, str]:
        dataset, column = self.references.split(".")
        return dataset, column


class Source(_Strict):
    format: Literal[tuple(formats.TYPES)]  # one module each in lakehouse.formats
    path: str | None = Field(None, description="folder under the landing root; default: the dataset name")
    # The files under the landing path and the day each belongs to (lakehouse.file_pattern):
    # day folders by default; `orders_{yyyy}{mm}{dd}.csv` in one flat folder.
    files: str = file_pattern.DEFAULT
    # CSV's dialect. RFC 4180 by default: fields separated by commas, quoted with double
    # quotes, a quote inside a quoted field doubled. `escape: "\\"` reads exports that write
    # \" instead (MySQL, many ETL tools); the escape character works inside quoted fields only.
    delimiter: str = Field(",", min_length=1, max_length=1)
    quote: str = Field('"', min_length=1, max_length=1)
    escape: str | None = Field(None, min_length=1, max_length=1, description="default: the quote (doubled)")
    # The text an export writes for a missing value (R's and pandas' `NA`, `NULL`, `\N`): a
    # field equal to it, quoted or not, is null. An empty field is null in any case.
    null_value: str | None = Field(None, min_length=1)
    # The text files' character set, one of lakehouse.encodings' (UTF-8, ISO-8859-1,
    # windows-1252, Shift_JIS, cp932, GB18030, ...). A line with bytes it does not define is
    # quarantined.
    encoding: str = "utf-8"
    # An append dataset's file holding exactly the lines of one loaded before (a source sending
    # yesterday's file again): skipped and logged as a copy, or loaded (a source whose files may
    # repeat one another's records by right).
    copies: Literal["skip", "load"] = "skip"

    @field_validator("files")
    @classmethod
    def _a_pattern(cls, value: str) -> str:
        file_pattern.compile_pattern(value)  # its ValueError says what is wrong
        return value

    @property
    def file_pattern(self) -> file_pattern.FilePattern:
        return file_pattern.compile_pattern(self.files)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        encodings.canonical(value)  # its ValueError names the encodings read
        return value

    @model_validator(mode="after")
    def _options_fit_format(self) -> Source:
        formats.of(self).check(self)  # its ValueError names the option
        return self

    @property
    def escape_char(self) -> str:
        return self.escape or self.quote

    @field_validator("path")
    @classmethod
    def _under_the_landing_root(cls, value: str | None) -> str | None:
        # Joined to the landing root as text: `..`, an absolute path or a URL would read
        # from outside it.
        if value is not None:
            parts = value.split("/")
            if not value or value.startswith("/") or ":" in value or "\\" in value or any(
                    part in ("", ".", "..") for part in parts):
                raise ValueError(f"{value!r} must be a relative folder under the landing root "
                                 "(names separated by /, no '.', '..', ':' or '\\')")
        return value


class Operation(_Strict):
    """The CDC operation column: which values mean delete. Every other value is an upsert."""

    column: str
    delete_values: list[str] = ["D"]


class DatasetSpec(_Strict):
    name: str = Field(pattern=IDENTIFIER)
    description: str = ""
    source: Source
    columns: list[Column] = Field(min_length=1)
    mode: Literal["upsert", "append", "snapshot"] = Field(
        "upsert", description="upsert: one row per key, merged; append: no keys, every record lands once; "
        "snapshot: each batch is the whole table, a key it lacks is deleted")
    keys: list[str] = []
    ordering: str | None = Field(
        None, min_length=1, description="column whose larger value is the newer version of a key; without it, the "
        "version that arrived later (batch, then file, then line)")
    operation: Operation | None = None
    scd: Literal[1, 2] = 1
    schema_drift: Literal["fail", "quarantine"] = "fail"
    expectations: list[Expectation] = []

    @model_validator(mode="after")
    def _mode_fits(self) -> DatasetSpec:
        if self.mode != "append" and not self.keys:
            article = "an" if self.mode == "upsert" else "a"
            raise ValueError(f"keys: {article} {self.mode} dataset needs at least one key (or mode: append, for "
                             "records that have none)")
        if self.source.copies == "load" and self.mode != "append":
            raise ValueError("source.copies applies to append datasets only (an upsert or snapshot dataset loads "
                             "copies: their records are versions of keys it holds)")
        if self.mode == "snapshot":
            given = [name for name, value in (("ordering", self.ordering), ("operation", self.operation),
                                              ("scd: 2", self.scd == 2)) if value]
            if given:
                raise ValueError(f"mode: snapshot takes no {', '.join(given)}: snapshots replace each other in the "
                                 "order they arrive, and a key a snapshot lacks is deleted")
        if self.mode == "append":
            given = [name for name, value in (("keys", self.keys), ("ordering", self.ordering),
                                              ("operation", self.operation), ("scd: 2", self.scd == 2)) if value]
            if given:
                raise ValueError(f"mode: append takes no {', '.join(given)}: every record is kept as it arrived, "
                                 "none replaces another")
        return self

    @model_validator(mode="after")
    def _columns_exist(self) -> DatasetSpec:
        names = [c.name for c in self.columns]
        duplicated = {n for n in names if names.count(n) > 1}
        if duplicated:
            raise ValueError(f"columns declared twice: {', '.join(sorted(duplicated))}")
        ordering = [self.ordering] if self.ordering else []
        referenced = {"keys": self.keys, "ordering": ordering}
        if self.operation:
            referenced["operation.column"] = [self.operation.column]
        for e in self.expectations:
            if e.column:
                referenced[f"expectations.{e.name}.column"] = [e.column]
        for field, cols in referenced.items():
            unknown = [c for c in cols if c not in names]
            if unknown:
                raise ValueError(f"{field} names unknown column(s) {', '.join(unknown)}")
        rule_names = [e.name for e in self.expectations]
        if len(rule_names) != len(set(rule_names)):
            raise ValueError("expectation names must be unique")
        reserved = sorted(RESERVED.intersection(names))
        if reserved:
            raise ValueError(f"column name(s) {', '.join(reserved)} are reserved for silver's own columns")
        by_name = {c.name: c for c in self.columns}
        # A null key or ordering value cannot be merged: they must be required.
        optional = [c for c in [*self.keys, *ordering] if not by_name[c].required]
        if optional:
            raise ValueError(f"keys and ordering must be required: set required: true on {', '.join(optional)}")
        if self.operation and self.operation.column in [*self.keys, *ordering]:
            raise ValueError("operation.column cannot be a key or the ordering column")
        if self.scd == 2 and (not self.ordering or by_name[self.ordering].type != "timestamp"):
            raise ValueError("scd: 2 needs a timestamp ordering column (it becomes valid_from / valid_to)")
        return self

    @model_validator(mode="after")
    def _rules_fit_column_types(self) -> DatasetSpec:
        """A bound or accepted value the column's type cannot hold exactly is refused, not
        rounded: the router, GX and DQOps must all judge what the spec says."""
        types = self.column_types
        for e in self.expectations:
            if e.column:
                rules.of(e).check_column_type(e, types[e.column])
        return self

    @property
    def references(self) -> list[str]:
        """The datasets this one's foreign keys point at."""
        return sorted({ref[0] for e in self.expectations if (ref := rules.of(e).referenced(e))})

    @property
    def landing_folder(self) -> str:
        return self.source.path or self.name

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def column_types(self) -> dict[str, str]:
        return {c.name: c.type for c in self.columns}

    @property
    def column_comments(self) -> dict[str, str]:
        return {c.name: c.description for c in self.columns}

    @property
    def version_column(self) -> str:
        """The column silver compares versions of a key by: the ordering column, or the
        arrival column when the spec names none."""
        return self.ordering or ARRIVAL_COLUMN[0]

    @property
    def version_type(self) -> str:
        return self.column_types[self.ordering] if self.ordering else ARRIVAL_COLUMN[1]

    @property
    def data_columns(self) -> list[Column]:
        """The columns silver keeps: all but the CDC operation column."""
        op = self.operation.column if self.operation else None
        return [c for c in self.columns if c.name != op]

    @property
    def silver_columns(self) -> list[tuple[str, str]]:
        """Silver's columns and their DDL types, in table order: the data columns, then
        silver's own (a column added later goes last, as ALTER TABLE ADD COLUMNS puts it)."""
        return ([(c.name, c.type) for c in self.data_columns] + (list(SCD2_COLUMNS) if self.scd == 2 else [])
                + [BATCH_COLUMN] + ([] if self.ordering else [ARRIVAL_COLUMN]))


class Incremental(_Strict):
    """Recompute only the partitions a change touched.

    `touched_sql` selects the partition values to recompute from views named
    `changes_<dataset>` (the Delta change feed of each silver source since the last build),
    joined to silver as needed. A source with no changes has an empty view.
    """

    partition_column: str
    touched_sql: str


class GoldSpec(_Strict):
    name: str = Field(pattern=IDENTIFIER)
    description: str = ""
    sources: list[str] = Field(min_length=1, description="silver datasets the SQL reads")
    keys: list[str] = Field(min_length=1)
    sql: str
    # What the SQL's columns mean, for analysts: Superset's dataset of the table shows them.
    # Optional and partial; a column named here that the SQL does not return fails the build.
    columns: dict[str, str] = {}
    incremental: Incremental | None = None
    # Validated on the rows a build would write, before it writes them. Gold rows are
    # aggregates: there is nothing to quarantine, so a gold rule can only warn or fail.
    expectations: list[Expectation] = []

    @field_validator("columns")
    @classmethod
    def _described_columns_are_identifiers(cls, columns: dict[str, str]) -> dict[str, str]:
        odd = [name for name in columns if not re.match(IDENTIFIER, name)]
        if odd:
            raise ValueError(f"column names are lower-case identifiers: {', '.join(odd)}")
        return columns

    @model_validator(mode="after")
    def _every_source_has_a_change_view(self) -> GoldSpec:
        for e in self.expectations:
            if not rules.of(e).in_gold or e.action not in ("warn", "fail"):
                taken = ", ".join(name for name, rule in rules.TYPES.items() if rule.in_gold)
                raise ValueError(f"expectation {e.name!r}: gold takes rules of type {taken}, with action warn or fail")
        if len({e.name for e in self.expectations}) != len(self.expectations):
            raise ValueError("expectation names must be unique")
        # A source whose changes touched_sql ignores would leave stale partitions behind.
        if self.incremental:
            ignored = [s for s in self.sources
                       if not re.search(rf"\bchanges_{s}\b", self.incremental.touched_sql)]
            if ignored:
                raise ValueError(f"incremental.touched_sql must read changes_{ignored[0]} (every source can change)")
        return self


class Catalog(_Strict):
    datasets: dict[str, DatasetSpec]
    gold: dict[str, GoldSpec]

    def sharing(self, spec: DatasetSpec) -> dict[str, file_pattern.FilePattern]:
        """The file patterns of the other datasets whose landing path is this one's."""
        return {d.name: d.source.file_pattern for d in self.datasets.values()
                if d.name != spec.name and d.landing_folder == spec.landing_folder}

    def select(self, names: list[str] | None) -> list[DatasetSpec]:
        if not names:
            return list(self.datasets.values())
        unknown = [n for n in names if n not in self.datasets]
        if unknown:
            raise SpecError(f"unknown dataset(s): {', '.join(unknown)} (known: {', '.join(self.datasets)})")
        return [spec for name, spec in self.datasets.items() if name in names]  # referenced first


class _SpecLoader(yaml.SafeLoader):
    """YAML as safe_load reads it, but a float from its text as an exact Decimal: `max: 9999.99`
    is 9999.99, not the binary 9999.98999... a Python float holds (which an exact decimal
    9999.99 is above)."""


def _exact_float(loader: _SpecLoader, node: yaml.ScalarNode):
    text = loader.construct_scalar(node)
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:  # .inf, .nan, 1:30 (sexagesimal): as YAML reads them
        return loader.construct_yaml_float(node)


_SpecLoader.add_constructor("tag:yaml.org,2002:float", _exact_float)


def _load_one(path: Path, model: type[BaseModel]):
    try:
        raw = yaml.load(path.read_text(), Loader=_SpecLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a spec must be a YAML mapping")
    try:
        spec = model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])  # empty for a rule across fields (its message says where)
        raise SpecError(f"{path}: {where + ': ' if where else ''}{err['msg'].removeprefix('Value error, ')}") from None
    if spec.name != path.stem:
        raise SpecError(f"{path}: name: {spec.name!r} must match the file name {path.stem!r}")
    return spec


def load_catalog(specs_dir: Path) -> Catalog:
    if not specs_dir.is_dir():
        raise SpecError(f"{specs_dir}: specs folder not found")
    datasets = {p.stem: _load_one(p, DatasetSpec) for p in sorted((specs_dir / "datasets").glob("*.yaml"))}
    gold = {p.stem: _load_one(p, GoldSpec) for p in sorted((specs_dir / "gold").glob("*.yaml"))}
    if not datasets:
        raise SpecError(f"{specs_dir}/datasets: no dataset specs (*.yaml)")
    for g in gold.values():
        unknown = [s for s in g.sources if s not in datasets]
        if unknown:
            raise SpecError(f"{specs_dir}/gold/{g.name}.yaml: sources: unknown dataset(s) {', '.join(unknown)}")
    for d in datasets.values():
        # A landing path inside another's would be listed by both: the same folder is shared
        # (each takes its files by its pattern), a folder within another is not.
        inside = [o.name for o in datasets.values() if d.landing_folder.startswith(o.landing_folder + "/")]
        if inside:
            raise SpecError(f"{specs_dir}/datasets/{d.name}.yaml: source.path {d.landing_folder!r} is inside the "
                            f"landing path of {inside[0]}, whose listing would take its files; use a folder beside "
                            "it, or the same folder with its own source.files")
        for e in d.expectations:
            referenced = rules.of(e).referenced(e)
            if not referenced:
                continue
            ref_dataset, ref_column = referenced
            if ref_dataset not in datasets or ref_column not in datasets[ref_dataset].column_names:
                raise SpecError(f"{specs_dir}/datasets/{d.name}.yaml: expectations.{e.name}.references: "
                                f"no column {ref_column!r} in a dataset {ref_dataset!r}")
            if ref_dataset == d.name:
                raise SpecError(f"{specs_dir}/datasets/{d.name}.yaml: expectations.{e.name}: "
                                "a dataset cannot reference itself")
    return Catalog(datasets=_referenced_first(datasets, specs_dir), gold=gold)


def _referenced_first(datasets: dict[str, DatasetSpec], specs_dir: Path) -> dict[str, DatasetSpec]:
    """The datasets in an order where a dataset comes after those its foreign keys reference,
    so silver applies customers before it checks orders against them."""
    ordered: dict[str, DatasetSpec] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise SpecError(f"{specs_dir}/datasets: foreign keys form a cycle through {name!r}")
        visiting.add(name)
        for ref in datasets[name].references:
            visit(ref)
        ordered[name] = datasets[name]

    for name in datasets:
        visit(name)
    return ordered
