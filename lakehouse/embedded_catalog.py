"""The embedded lakehouse's catalog: Spark's in-memory catalog, filled from the warehouse as
each local-profile session starts.

A Delta table keeps its schema, properties and column comments in its own log, so the
warehouse's folders are the whole catalog: a session registers every table it finds there
(about 80 ms a table) and keeps no metastore of its own. That is why a reader (`lakehouse sql`,
`lakehouse history`) can open the lakehouse while a run writes it: the processes share nothing
but the tables' files, where Delta's atomic commits make every query read a committed version.
(An embedded Derby metastore, used before, admitted one JVM at a time, and its first call cost
2-5 s in every new process.)

A table a process creates after another's session started is not in the other's catalog
until it starts again. The cluster profile uses the Hive Metastore, which serves every
process at once.
"""

from __future__ import annotations

import re

from lakehouse import storage, tables
from lakehouse.config import DATABASES, Settings


# What the platform names a table (a dataset's or gold spec's name); any other folder is not one.
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _has_commit(spark, table_uri: str) -> bool:
    """A Delta table with at least one commit (a create killed before its first commit leaves
    an empty log, which the next writer's create completes)."""
    return storage.matches(spark, f"{table_uri.rstrip('/')}/_delta_log/*.json")


def register_warehouse(spark, settings: Settings) -> list[str]:
    """Register the lakehouse's databases and every Delta table under them; returns the tables."""
    tables.ensure_databases(spark, settings)
    registered = []
    for db in DATABASES:
        location = settings.table_location(db, "")
        if not storage.exists(spark, location):
            continue
        for entry in storage.list_dir(spark, location):
            if entry.is_dir and _TABLE_NAME.fullmatch(entry.name) and _has_commit(spark, entry.path):
                fqname = f"{db}.{entry.name}"
                spark.sql(f"CREATE TABLE IF NOT EXISTS {fqname} USING delta "
                          f"LOCATION '{settings.table_location(db, entry.name)}'")
                registered.append(fqname)
    return registered


# Parsed statements that only read (class names of Spark's parsed plans): a query, and the
# commands that show or describe. Anything else may write (INSERT, MERGE, DDL, OPTIMIZE...).
_READING_COMMANDS = {
    "SetCatalogAndNamespace", "ShowNamespaces", "ShowNamespacesCommand", "ShowCatalogsCommand",
    "ShowCurrentNamespaceCommand", "ShowTables", "ShowTablesExtended", "ShowViews", "DescribeRelation",
    "DescribeColumn", "ShowColumns", "ShowTableProperties", "DescribeNamespace", "ShowFunctions",
    "DescribeFunction", "ShowPartitions", "ShowCreateTable", "ExplainCommand", "DescribeDeltaHistory",
    "DescribeDeltaDetailCommand", "UnresolvedDeltaPathOrIdentifier",
}


def writes(spark, statement: str) -> bool:
    """Whether a SQL statement may write: parsed (not run) by the session's own parser."""
    plan = spark._jsparkSession.sessionState().sqlParser().parsePlan(statement)
    jvm = spark.sparkContext._jvm
    command = jvm.java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    name = plan.getClass().getSimpleName()
    return name not in _READING_COMMANDS and (command.isInstance(plan) or name == "InsertIntoStatement")
