"""When a layer task may skip its Spark session (lakehouse/task_state.py): only when every
commit since its last clean run names a task after it in the DAG's order, and its tables'
logs are the ones it left. The decision on plain data first, then TaskState on a real MinIO
(its listing, ETags, records), with commit files shaped as Delta writes them (one JSON action
per line, commitInfo.userMetadata). tests/system/test_airflow checks the whole on the native
platform, with Delta writing them: a cleared run's four Spark tasks skip."""

from __future__ import annotations

import json

import pytest

from lakehouse.config import load_settings
from lakehouse.platform.object_store import s3_client
from lakehouse.task_state import TaskState, label, why_run
from tests.unit.minio_server import minio

RECORDED = {"bronze/orders": [3, "e3"], "silver/orders": [2, "e2"], "ops/audit": [10, "e10"]}
LOGS = {"bronze/orders": {3: "e3"}, "silver/orders": {1: "x", 2: "e2"}, "ops/audit": {9: "x", 10: "e10"}}


def _commits(log: dict[tuple[str, int], str | None]):
    def metadata(table: str, version: int) -> str | None:
        if (table, version) not in log:
            raise LookupError(table, version)
        return log[table, version]
    return metadata


def _grown(**more: list[int]) -> dict[str, dict[int, str]]:
    return {t: {**c, **{v: f"e{v}" for v in more.get(t.replace("/", "_"), [])}} for t, c in LOGS.items()}


def test_nothing_committed_since_is_nothing_new():
    assert why_run("bronze", RECORDED, LOGS, _commits({})) is None


def test_commits_of_later_tasks_only_are_nothing_new():
    logs = {**_grown(silver_orders=[3], ops_audit=[11, 12, 13]), "gold/daily": {0: "g0"}}
    log = {("silver/orders", 3): label("silver"), ("ops/audit", 11): label("silver"),
           ("ops/audit", 12): label("gold"), ("ops/audit", 13): label("dqops_results"),
           ("gold/daily", 0): label("gold")}
    assert why_run("bronze", RECORDED, logs, _commits(log)) is None
    # silver's own commits are not later than silver's: it runs
    assert why_run("silver", RECORDED, logs, _commits(log)) == "ops/audit version 11 by lakehouse-task:silver"


@pytest.mark.parametrize("written_by", [label("bronze"), None, "lakehouse-replay:[]", "lakehouse-task:maintenance",
                                        "lakehouse-task:pipeline", "lakehouse-task:", "lakehouse-task:gold-ish"])
def test_a_commit_of_the_task_itself_an_earlier_task_or_anyone_else_means_run(written_by):
    logs = _grown(ops_audit=[11, 12])
    log = {("ops/audit", 11): label("gold"), ("ops/audit", 12): written_by}
    assert why_run("bronze" if written_by == label("bronze") else "silver", RECORDED, logs, _commits(log)) == (
        f"ops/audit version 12 by {written_by or 'another writer'}")


def test_a_gone_commit_file_or_table_or_a_recreated_table_means_run():
    assert why_run("publish", RECORDED, _grown(ops_audit=[11]), _commits({})) == (
        "ops/audit version 11: its commit file is gone")
    assert why_run("bronze", RECORDED, {k: v for k, v in LOGS.items() if k != "silver/orders"}, _commits({})) == (
        "silver/orders is gone")
    # dropped and written again up to the same version (or past it), or its log cleaned up
    for commits in ({1: "y", 2: "y2"}, {0: "y", 1: "y", 2: "y2", 3: "y3"}, {3: "later"}):
        assert why_run("bronze", RECORDED, {**LOGS, "silver/orders": commits}, _commits({})) == (
            "silver/orders: its version 2 is not the commit it was")
    # a version past the log with no ETag would skip every commit of the table: only a record
    # our runs never write has one
    assert why_run("bronze", {**RECORDED, "silver/orders": [99, None]}, LOGS, _commits({})) == (
        "silver/orders: its version 99 is not the commit it was")


def test_a_table_created_since_by_an_earlier_task_or_staged_commits_mean_run():
    logs = {**LOGS, "bronze/customers": {0: "c0"}}
    assert why_run("silver", RECORDED, logs, _commits({("bronze/customers", 0): label("bronze")})) == (
        "bronze/customers version 0 by lakehouse-task:bronze")
    assert why_run("bronze", RECORDED, LOGS, _commits({}), frozenset({"ops/audit"})) == (
        "ops/audit: commits not yet in its log")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with minio(tmp_path_factory.mktemp("minio")) as (endpoint, user, password):
        yield {"profile": "cluster", "home": tmp_path_factory.mktemp("home"), "s3_endpoint": endpoint,
               "s3_access_key": user, "s3_secret_key": password}


def _commit(s3, settings, table: str, version: int, written_by: str | None, extra: str = "") -> None:
    bucket, _, root = settings.warehouse_uri.removeprefix("s3a://").partition("/")
    info = {"timestamp": 1, "operation": "WRITE", **({"userMetadata": written_by} if written_by else {})}
    lines = [{"commitInfo": info}, {"add": {"path": f"part-{version}{extra}.parquet", "size": 1}}]
    s3.put_object(Bucket=bucket, Key=f"{root + '/' if root else ''}{table}/_delta_log/{version:020d}.json",
                  Body="\n".join(json.dumps(line) for line in lines).encode())


@pytest.mark.parametrize("warehouse", ["s3a://warehouse", "s3a://lake/under/a/prefix"])
def test_a_task_recorded_on_the_object_store_skips_only_while_later_tasks_commit(store, warehouse):
    settings = load_settings(**store, warehouse_uri=warehouse)
    s3 = s3_client(settings)
    bucket = warehouse.removeprefix("s3a://").split("/")[0]
    s3.create_bucket(Bucket=bucket)
    for v in range(3):
        _commit(s3, settings, "silver/orders", v, label("silver"))
    _commit(s3, settings, "ops/audit", 0, None)
    root = warehouse.removeprefix(f"s3a://{bucket}").strip("/")
    for other in ("silver/orders/_delta_log/00000000000000000002.crc", "silver/orders/part-0.parquet",
                  "silver/orders/_delta_log/_staged_commits/",  # the empty folder Delta 4 makes in every log
                  "silver/orders/_delta_log/00000000000000000002.checkpoint.parquet", "_lakehouse/writer.lease"):
        s3.put_object(Bucket=bucket, Key=f"{root + '/' if root else ''}{other}", Body=b"x")

    args = ["--start", "2026-01-03", "--end", "2026-01-04"]
    gold = TaskState(settings, "gold", args)
    assert gold.check() == (None, "no clean run with these arguments recorded")
    gold.record("run-1")
    assert gold.check()[0]["run_id"] == "run-1"
    assert TaskState(settings, "gold", ["--start", "2026-01-04"]).check()[0] is None  # its own arguments

    _commit(s3, settings, "ops/audit", 1, label("publish"))
    _commit(s3, settings, "ops/published", 0, label("publish"))
    assert TaskState(settings, "gold", args).check()[0]["run_id"] == "run-1"
    _commit(s3, settings, "silver/orders", 3, label("silver"))  # an earlier task's new batch
    assert TaskState(settings, "gold", args).check() == (None, "silver/orders version 3 by lakehouse-task:silver")

    gold.record("run-2")
    assert TaskState(settings, "gold", args).check()[0]["run_id"] == "run-2"
    _commit(s3, settings, "silver/orders", 3, label("silver"), extra="-again")  # the table recreated
    assert TaskState(settings, "gold", args).check() == (None, "silver/orders: its version 3 is not the commit it was")

    gold.record("run-3")
    key = f"{root + '/' if root else ''}ops/audit/_delta_log/_staged_commits/00000000000000000002.uuid.json"
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
    assert TaskState(settings, "gold", args).check() == (None, "ops/audit: commits not yet in its log")


def test_a_landed_file_is_new_to_bronze_and_silver_not_to_gold(store):
    settings = load_settings(**store, warehouse_uri="s3a://quiet-warehouse")
    s3 = s3_client(settings)
    for bucket in (settings.landing_bucket, "quiet-warehouse"):
        s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=settings.landing_bucket, Key="orders/2026-01-03/orders.csv", Body=b"order_id\n1\n")
    tasks = {task: TaskState(settings, task, []) for task in ("bronze", "silver", "gold")}
    for state in tasks.values():
        state.record("run-1")
    s3.put_object(Bucket=settings.landing_bucket, Key="orders/2026-01-02/orders.csv", Body=b"order_id\n2\n")
    for task in ("bronze", "silver"):
        assert TaskState(settings, task, []).check() == (
            None, "the specs, settings, code or landing files changed")
    assert TaskState(settings, "gold", []).check()[0]["run_id"] == "run-1"
