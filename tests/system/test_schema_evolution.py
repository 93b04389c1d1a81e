"""Schema evolution in the cluster profile (issue 18, item 5): a spec's new column and widened
type reach the tables in MinIO and the Hive Metastore, and the Thrift server serves them; a
change that cannot be applied is one line and exit 1. Runs last (see MODULE_ORDER): its own
dataset and specs, so no other test sees its tables."""

from __future__ import annotations

import json

import pytest
import yaml

from lakehouse.platform import object_store
from tests.system.conftest import cli
from tests.system.test_platform import thrift_query

pytestmark = pytest.mark.system
DAYS = ("2026-01-01", "2026-01-02")
SPEC = {"name": "evolving", "description": "a dataset whose spec changes between two runs",
        "source": {"format": "jsonl"},
        "columns": [{"name": "id", "type": "string", "required": True},
                    {"name": "amount", "type": "int", "required": True},
                    {"name": "updated_at", "type": "timestamp", "required": True}],
        "keys": ["id"], "ordering": "updated_at"}


def _write_spec(specs, spec: dict) -> None:
    (specs / "datasets").mkdir(parents=True, exist_ok=True)
    (specs / "datasets" / "evolving.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))


def _land(platform, day: str, records: list[dict]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    object_store.s3_client(platform, "landing").put_object(
        Bucket=platform.landing_bucket, Key=f"evolving/{day}/evolving-{day}.jsonl", Body=body)


def test_a_spec_change_reaches_the_metastore_and_the_thrift_server(platform, platform_home, tmp_path):
    home, _, _ = platform_home
    specs, env = tmp_path / "specs", {"LAKEHOUSE_SPECS_DIR": str(tmp_path / "specs")}
    _write_spec(specs, SPEC)
    _land(platform, DAYS[0], [{"id": f"e{i}", "amount": i, "updated_at": "2026-01-01T10:00:00Z"} for i in range(3)])
    cli(home, "run", "--profile", "cluster", "--batch", DAYS[0], env=env)

    evolved = json.loads(json.dumps(SPEC))
    evolved["columns"][1]["type"] = "bigint"
    evolved["columns"].insert(1, {"name": "note", "type": "string", "description": "added after the first run"})
    _write_spec(specs, evolved)
    _land(platform, DAYS[1], [{"id": "e3", "note": "big", "amount": 5_000_000_000,
                               "updated_at": "2026-01-02T10:00:00Z"}])
    cli(home, "run", "--profile", "cluster", "--batch", DAYS[1], env=env)

    for table in ("bronze.evolving", "silver.evolving"):
        described = [(name, kind, comment) for name, kind, comment in thrift_query(platform, f"DESCRIBE {table}")
                     if not name.startswith("#") and name]
        assert described[1] == ("note", "string", "added after the first run"), table
    assert ("amount", "bigint") in [(r[0], r[1]) for r in thrift_query(platform, "DESCRIBE silver.evolving")]
    assert sorted(thrift_query(platform, "SELECT id, note, amount FROM silver.evolving")) == [
        ("e0", None, 0), ("e1", None, 1), ("e2", None, 2), ("e3", "big", 5_000_000_000)]
    operations = [r[4] for r in thrift_query(platform, "DESCRIBE HISTORY silver.evolving")]
    assert "ADD COLUMNS" in operations and "CHANGE COLUMN" in operations, operations

    evolved["columns"][2]["type"] = "int"  # back to int: a narrowing, refused
    _write_spec(specs, evolved)
    refused = cli(home, "run", "--profile", "cluster", env=env, check=False)
    assert refused.returncode == 1
    line = ("error: silver.evolving: column amount is bigint in the table and int in the spec; only a widening (int "
            "to bigint, a decimal with as many or more digits before and after the point) is applied: declare it "
            "bigint again, or load the changed column under a new name")
    # spark-submit passes on the driver's stdout and stderr as its stdout, both
    output = refused.stdout + refused.stderr
    assert line in output.splitlines(), output
    assert "Traceback" not in output and "Py4JJavaError" not in output
