"""One writer at a time for the cluster lakehouse, across machines: a lease kept as an object in
the warehouse bucket (`_lakehouse/writer.lease`), beside the tables it guards.

Airflow's pool already runs one Spark writer at a time; the lease also covers what Airflow does
not start (`lakehouse run --profile cluster`, spark-submit by hand, another Airflow) and the
machines it does not see. Delta's default log store on S3 is safe for one writing driver per
table only: two drivers committing the same version would lose one commit.

Taken and renewed with S3's conditional writes: If-None-Match: * creates it only if there is
none, If-Match: <etag> replaces it only if nobody wrote it since it was read. So two drivers
on two machines never both hold it. MinIO ignores If-Match on DELETE, so a release is a
conditional write too (the lease marked released), never a delete.

The holder renews it every quarter of its length from a daemon thread while its JVM lives,
and releases it at exit. A holder killed with SIGKILL stops renewing: its lease lapses after
`writer_lease_seconds`, judged by the object store's own clock (the object's Last-Modified
against the response's Date), so the machines' clocks do not matter; on the same machine it is
free as soon as the processes it names are gone. A holder that cannot renew for a whole lease
(the object store unreachable) may have lost it to another: it stops at once, as a crash would,
and Delta leaves every table at its last commit.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import psutil

from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.processes import same_process

LEASE_KEY = "_lakehouse/writer.lease"
POLL_S = 2.0


class LeaseLost(LakehouseError):
    """Another writer took the lease this process held."""


class _Held:
    """The lease this process holds: its object's etag and text, renewed by a daemon thread."""

    def __init__(self, settings: Settings, s3, etag: str, note: dict):
        self.settings, self.s3, self.etag, self.note = settings, s3, etag, note
        self.renewed = time.monotonic()
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def write(self, note: dict) -> None:
        with self.lock:
            self.etag = _put(self.s3, self.settings, note, if_match=self.etag)
            self.note, self.renewed = note, time.monotonic()

    def renew_forever(self) -> None:
        period = self.settings.writer_lease_seconds / 4
        while not self.stopped.wait(period):
            if not _running(self.note):  # the JVM that writes is gone: nothing can write under it
                self.release()
                return
            try:
                self.write({**self.note, "renewed": time.time()})
            except Exception as exc:  # noqa: BLE001 - unreachable or taken: judged below
                if _precondition_failed(exc) or time.monotonic() - self.renewed > self.settings.writer_lease_seconds:
                    _stop(f"lost the lakehouse's writer lease (s3://{self.settings.warehouse_bucket}/{LEASE_KEY}, "
                          f"not renewed for {time.monotonic() - self.renewed:.0f} s: {exc}); another writer may "
                          "hold it, so this one stops before it writes more; run it again")

    def release(self) -> None:
        self.stopped.set()
        try:
            self.write({**self.note, "released": time.time()})
        except Exception:  # noqa: BLE001 - then it lapses, or another has it already
            pass


_held: _Held | None = None


def _stop(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    os._exit(1)


def _client(settings: Settings):
    from lakehouse.platform.object_store import s3_client

    return s3_client(settings, "pipeline")


def _precondition_failed(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code")
    return code in ("PreconditionFailed", "ConditionalRequestConflict", "412")


def _put(s3, settings: Settings, note: dict, if_match: str | None = None) -> str:
    condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
    return s3.put_object(Bucket=settings.warehouse_bucket, Key=LEASE_KEY, Body=json.dumps(note).encode(),
                         ContentType="application/json", **condition)["ETag"]


def read(s3, settings: Settings) -> tuple[str, dict, float] | None:
    """The lease object's etag, text and age in seconds (by the object store's clock), or None."""
    try:
        got = s3.get_object(Bucket=settings.warehouse_bucket, Key=LEASE_KEY)
    except Exception as exc:  # noqa: BLE001
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    now = parsedate_to_datetime(got["ResponseMetadata"]["HTTPHeaders"]["date"])
    try:
        note = json.loads(got["Body"].read())
    except ValueError:
        note = {}
    return got["ETag"], note if isinstance(note, dict) else {}, (now - got["LastModified"]).total_seconds()


def _running(note: dict) -> bool:
    """Whether a process the note names still runs (asked on the note's own machine only)."""
    try:
        return any(same_process(pid, started) for pid, started in note.get("processes", []))
    except (TypeError, ValueError):
        return False


def free(note: dict, age_s: float) -> bool:
    """A lease anyone may take: released, lapsed, or its holder on this machine gone."""
    if note.get("released") or age_s > float(note.get("lease_s", 0)):
        return True
    return note.get("host") == socket.gethostname() and not _running(note)


def describe(note: dict) -> str:
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(note["started"]))
        task = f", Airflow task {note['airflow']}" if note.get("airflow") else ""
        return f"pid {note['pid']} on {note['host']} ({note['command']}{task}, started {started})"
    except (KeyError, TypeError, ValueError, OverflowError):
        return "another process"


def _airflow_task() -> str | None:
    """The Airflow task this driver runs for, from the context variables Airflow exports."""
    env = os.environ
    if not env.get("AIRFLOW_CTX_TASK_ID"):
        return None
    return (f"{env.get('AIRFLOW_CTX_DAG_ID')}.{env['AIRFLOW_CTX_TASK_ID']} {env.get('AIRFLOW_CTX_DAG_RUN_ID', '')} "
            f"try {env.get('AIRFLOW_CTX_TRY_NUMBER', '?')}").strip()


def hold(settings: Settings, command: str, writer_pid: int, busy: Callable[[str], LakehouseError],
         wait: bool = False, on_wait: Callable[[str], None] = lambda who: None) -> None:
    """Take the cluster lakehouse's lease for the rest of this process, or raise busy(holder).
    `writer_pid`: the process whose life the lease follows (this one, or the JVM that started
    it). With `wait`, poll until the lease is free. Taking it again in one process is a no-op."""
    global _held
    if _held is not None:
        return
    s3 = _client(settings)
    note = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "airflow": _airflow_task(),
            "started": time.time(), "renewed": time.time(), "lease_s": settings.writer_lease_seconds,
            "processes": [[writer_pid, psutil.Process(writer_pid).create_time()]]}
    waited = False
    while True:
        current = read(s3, settings)
        if current is None or free(current[1], current[2]):
            try:
                etag = _put(s3, settings, note, if_match=current[0] if current else None)
                break
            except Exception as exc:  # noqa: BLE001
                if not _precondition_failed(exc):
                    raise
                continue  # another writer took it between the read and the write: read again
        who = describe(current[1])
        if not wait:
            raise busy(who)
        if not waited:
            on_wait(who)
            waited = True
        time.sleep(POLL_S)
    _held = _Held(settings, s3, etag, note)
    threading.Thread(target=_held.renew_forever, name="lakehouse-lease", daemon=True).start()
    atexit.register(_held.release)


def note_process(pid: int) -> None:
    """Name one more process the lease follows (a session's JVM, started after the lease)."""
    if _held is None or any(p == pid for p, _ in _held.note["processes"]):
        return
    note = {**_held.note, "processes": [*_held.note["processes"], [pid, psutil.Process(pid).create_time()]]}
    _held.write(note)
