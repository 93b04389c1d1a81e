"""A layer task of the cluster lakehouse (jobs/<layer>.py, as an Airflow task submits it) that
would find nothing new, answered before its Spark session starts: a cleared or retried task
with nothing to do then costs a spark-submit JVM and a few object-store requests, not a
session, executors, a catalog and a ledger read (about 12 of its 15 s here).

run_state's rule (a run that finds everything as it left it changes nothing) does not carry
over as it is: after a task ends, the tasks after it in the DAG commit, to ops.audit above
all, so the tables are never as it left them by the time it runs again. What they wrote
cannot change what it would do, though. Each task's commits name it (their userMetadata,
`lakehouse-task:<layer>`), and a task skips only when every commit since it last ended cleanly
for the same arguments names a task after it in the DAG's order:

- bronze decides from the landing files, its own tables and its own rows of ops.audit and
  ops.landing_files; silver from the landing files, bronze's tables and rows and its own
  (ops.quarantine, ops.delete_markers); gold from silver's tables and its own rows; publish
  from gold's tables and ops.published. A later task writes none of these (one writer per
  table; a later task's audit rows are its own tables'; silver changes bronze's schema only
  for a changed spec, which the check sees; a later task that compacts ops.audit as it ends,
  lakehouse.maintenance.compact_ops_tables, rewrites its files and no row).
- Any other commit makes the task start Spark: its own or an earlier task's (a new batch),
  `lakehouse run`, reprocess, maintenance, `lakehouse sql`, a script of one's own. So do a
  table whose log is not as the task left it (its folder gone or written again, a commit file
  cleaned up, commits not yet written to it), a changed spec, setting, code or argument, and
  for bronze and silver any change to the landing files. What only the metastore holds is not
  looked at: a table dropped from it alone comes back when the job that writes it next
  starts Spark (a job reading it meanwhile fails, naming it).

What the task starts from is hashed before it reads any of it and before it waits for the
writer's lease; the tables are checked under the lease (nothing commits while it looks). A
task that ends with a notice (a file waiting for a later batch) records nothing: it may load
tomorrow without any commit. Cluster profile only: the local profile's `lakehouse run` has
run_state.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from urllib.parse import urlparse

from lakehouse import run_state
from lakehouse.config import Settings

# The DAG's order of the tasks that commit (dqops_checks only reads, through the Thrift server).
ORDER = ("bronze", "silver", "gold", "publish", "dqops_results")
SKIPPABLE = ORDER[:4]
# bronze loads the landing files; silver lists them too (a foreign key waits for what landed).
READS_LANDING = ("bronze", "silver")
LABEL = "lakehouse-task:"
STATE_PREFIX = "_lakehouse/tasks/"
_COMMIT = re.compile(r"(\d{20})\.json")
# Where Delta keeps commits a coordinator accepted before they are written as NNN.json (Delta 4
# creates the first folder in every table's log: s3a leaves an empty marker object for it).
_STAGED = ("_staged_commits/", "_commits/")


def label(task: str) -> str:
    """The userMetadata of every commit `task` makes (Delta's commitInfo.userMetadata)."""
    return LABEL + task


def _later(metadata: str | None, task: str) -> bool:
    other = metadata[len(LABEL):] if metadata and metadata.startswith(LABEL) else None
    return other in ORDER and ORDER.index(other) > ORDER.index(task)


def why_run(task: str, recorded: dict[str, list], logs: dict[str, dict[int, str]],
            metadata: Callable[[str, int], str | None], staged: frozenset[str] = frozenset()) -> str | None:
    """Why `task` must start Spark, or None when every commit since it last ended cleanly names
    a later task. `recorded`: each table's newest version then and its commit file's ETag;
    `logs`: each table's commit files now (version -> ETag); `staged`: tables with commits
    not yet written to their log as files (Delta's coordinated commits); `metadata(table,
    version)`: a commit's userMetadata, raising LookupError when its file is gone."""
    for table, (version, etag) in sorted(recorded.items()):
        if table not in logs:
            return f"{table} is gone"
        # a table recreated, or its log cleaned up since (or a record no run of ours wrote)
        if not isinstance(version, int) or not isinstance(etag, str) or logs[table].get(version) != etag:
            return f"{table}: its version {version} is not the commit it was"
    if staged:
        return f"{min(staged)}: commits not yet in its log"
    for table, commits in sorted(logs.items()):
        for v in range(recorded.get(table, (-1, None))[0] + 1, max(commits, default=-1) + 1):
            try:
                written_by = metadata(table, v)
            except LookupError:
                return f"{table} version {v}: its commit file is gone"
            if not _later(written_by, task):
                return f"{table} version {v} by {written_by or 'another writer'}"
    return None


def _bucket(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    prefix = parsed.path.strip("/")
    return parsed.netloc, f"{prefix}/" if prefix else ""


def _list(s3, bucket: str, prefix: str, folders: bool = False):
    """The keys under `prefix` (with `folders`, the folders right under it instead)."""
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix, **({"Delimiter": "/"} if folders else {}))
    for page in pages:
        if folders:
            yield from (p["Prefix"] for p in page.get("CommonPrefixes", []))
        else:
            yield from page.get("Contents", [])


class TaskState:
    """One task's arguments, what it starts from, and its record in the warehouse bucket."""

    def __init__(self, settings: Settings, task: str, argv: list[str]):
        from lakehouse.platform.object_store import s3_client

        self.settings, self.task = settings, task
        self.s3 = s3_client(settings, "pipeline", timeout_s=30)
        self.bucket, self.root = _bucket(settings.warehouse_uri)
        key = hashlib.sha256(json.dumps([task, argv]).encode()).hexdigest()[:24]
        self.key = f"{self.root}{STATE_PREFIX}{task}-{key}.json"
        self.seen = run_state.digest([task, argv, settings.model_dump_json(), run_state.code(),
                                      run_state.specs_digest(settings),
                                      self._landing() if task in READS_LANDING else None])

    def _landing(self) -> str:
        bucket, prefix = _bucket(self.settings.landing_uri)
        return run_state.digest((o["Key"], o["Size"], o["ETag"], o["LastModified"].isoformat())
                                for o in _list(self.s3, bucket, prefix))

    def _logs(self) -> tuple[dict[str, dict[int, str]], frozenset[str]]:
        """Each Delta table under the warehouse (`database/table`): its commit files (version ->
        ETag); and the tables whose log holds commits not yet written as such files."""
        logs, staged = {}, set()
        for database in _list(self.s3, self.bucket, self.root, folders=True):
            if database == self.root + "_lakehouse/":
                continue
            for table in _list(self.s3, self.bucket, database, folders=True):
                name, commits = table[len(self.root):].rstrip("/"), {}
                for o in _list(self.s3, self.bucket, f"{table}_delta_log/"):
                    relative = o["Key"][len(table) + len("_delta_log/"):]
                    if m := _COMMIT.fullmatch(relative):
                        commits[int(m[1])] = o["ETag"]
                    elif relative.startswith(_STAGED) and relative not in _STAGED:  # (not the folder's marker)
                        staged.add(name)
                if commits:
                    logs[name] = commits
        return logs, frozenset(staged)

    def _metadata(self, table: str, version: int) -> str | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=f"{self.root}{table}/_delta_log/{version:020d}.json")
        except self.s3.exceptions.NoSuchKey as exc:
            raise LookupError(table, version) from exc
        for line in body["Body"].read().decode().splitlines():
            if line.strip() and "commitInfo" in (action := json.loads(line)):
                return action["commitInfo"].get("userMetadata")
        return None

    def _recorded(self) -> dict | None:
        try:
            state = json.loads(self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read())
        except (self.s3.exceptions.NoSuchKey, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def check(self) -> tuple[dict | None, str]:
        """The record of the task's last clean run if it would find nothing new now, else None
        and why it must start Spark."""
        state = self._recorded()
        if not state:
            return None, "no clean run with these arguments recorded"
        if state.get("seen") != self.seen:
            return None, "the specs, settings, code" + (" or landing files" if self.task in READS_LANDING else "") + (
                " changed")
        logs, staged = self._logs()
        why = why_run(self.task, state.get("tables") or {}, logs, self._metadata, staged)
        return (None, why) if why else (state, "")

    def record(self, run_id: str) -> None:
        """After a clean run: what it started from, and every table as it left them."""
        logs, _ = self._logs()
        tables = {name: [max(commits), commits[max(commits)]] for name, commits in logs.items()}
        self.s3.put_object(Bucket=self.bucket, Key=self.key, ContentType="application/json",
                           Body=json.dumps({"run_id": run_id, "seen": self.seen, "tables": tables}).encode())
