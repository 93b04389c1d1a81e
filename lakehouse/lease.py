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
and releases it at exit; on this machine the next writer still waits for the holder's JVM to
exit (it may finish a write a moment after Python). A holder killed with SIGKILL stops
renewing: its lease lapses after `writer_lease_seconds`, judged by the object store's own
clock (the object's Last-Modified against the response's Date), so the machines' clocks do not
matter; on the same machine it is free as soon as the processes it names are gone. A holder
that has not renewed for three quarters of a lease (the object store unreachable or slow: each
request may take an eighth of it) or finds it taken may lose or have lost it: it kills its JVM
and exits, as a crash would, before the lease can lapse, and Delta leaves every table at its
last commit.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import psutil

from lakehouse.config import Settings
from lakehouse.errors import LakehouseError, s3_error_code
from lakehouse.processes import exiting, named_running, same_process

LEASE_KEY = "_lakehouse/writer.lease"
POLL_S = 2.0
# How long the next writer on the holder's machine waits for a released lease's JVM to exit.
JVM_EXIT_TIMEOUT_S = 60


class _Held:
    """The lease this process holds: its object's etag and text, renewed by a daemon thread."""

    def __init__(self, settings: Settings, s3, etag: str, note: dict):
        self.settings, self.s3, self.etag, self.note = settings, s3, etag, note
        self.renewed = time.monotonic()
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def write(self, changes: dict) -> None:
        """Write the note with `changes`, if nobody else wrote the lease since this process did."""
        with self.lock:
            if self.stopped.is_set() and "released" not in changes:
                return
            note = {**self.note, **changes, "seq": self.note["seq"] + 1}
            sent = time.monotonic()
            try:
                etag = _put(self.s3, self.settings, note, if_match=self.etag)
            except Exception as exc:  # noqa: BLE001
                # A write that landed but whose answer was lost is found on the store as sent.
                current = read(self.s3, self.settings) if _precondition_failed(exc) else None
                if current is None or {k: current[1].get(k) for k in ("token", "seq")} != {
                        "token": note["token"], "seq": note["seq"]}:
                    raise
                etag = current[0]
            self.etag, self.note, self.renewed = etag, note, sent

    def renew_forever(self) -> None:
        lease_s = self.settings.writer_lease_seconds
        while not self.stopped.wait(lease_s / 4):
            if not named_running(self.note):  # the JVM that writes is gone: nothing can write under it
                self.release()
                return
            try:
                self.write({"renewed": time.time()})
            except Exception as exc:  # noqa: BLE001 - taken, or unreachable (the watchdog judges)
                if _precondition_failed(exc):
                    self.lost(f"another writer took it: {exc}")

    def watch(self) -> None:
        """Stop before the lease can lapse unrenewed, even while a renewal hangs."""
        limit = self.settings.writer_lease_seconds * 3 / 4
        while not self.stopped.wait(min(1.0, limit / 4)):
            if time.monotonic() - self.renewed > limit:
                self.lost(f"not renewed for {time.monotonic() - self.renewed:.0f} s")

    def lost(self, why: str) -> None:
        """Stop writing at once: the JVM first (a commit in flight would finish under another
        writer's lease), then this process."""
        self.stopped.set()
        print(f"error: lost the lakehouse's writer lease (s3://{self.settings.warehouse_bucket}/{LEASE_KEY}, {why}); "
              "another writer may hold it, so this one stops before it writes more; run it again",
              file=sys.stderr, flush=True)
        time.sleep(0.5)  # under spark-submit, the JVM passes the line on
        for pid, started in self.note["processes"]:
            if pid != os.getpid() and (proc := same_process(pid, started)):
                try:
                    proc.send_signal(signal.SIGKILL)
                except psutil.Error:  # gone meanwhile: this process must exit all the same
                    pass
        os._exit(1)

    def release(self) -> None:
        """Marked released (its processes kept: the next writer here waits for its JVM to exit)."""
        self.stopped.set()
        try:
            self.write({"released": time.time()})
        except Exception:  # noqa: BLE001 - then it lapses, or another has it already
            pass


_held: _Held | None = None


def _client(settings: Settings):
    """Short timeouts and no retry of its own: a renewal that hangs or is retried blindly could
    outlast the lease (a retried conditional write would also fail on its own first attempt)."""
    from lakehouse.platform.object_store import s3_client

    return s3_client(settings, "pipeline", timeout_s=settings.writer_lease_seconds / 8, attempts=1)


def _precondition_failed(exc: Exception) -> bool:
    return s3_error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412")


def _put(s3, settings: Settings, note: dict, if_match: str | None = None) -> str:
    condition = {"IfMatch": if_match} if if_match else {"IfNoneMatch": "*"}
    return s3.put_object(Bucket=settings.warehouse_bucket, Key=LEASE_KEY, Body=json.dumps(note).encode(),
                         ContentType="application/json", **condition)["ETag"]


def read(s3, settings: Settings) -> tuple[str, dict, float] | None:
    """The lease object's etag, text and age in seconds (by the object store's clock), or None."""
    try:
        got = s3.get_object(Bucket=settings.warehouse_bucket, Key=LEASE_KEY)
    except Exception as exc:  # noqa: BLE001
        if s3_error_code(exc) in ("NoSuchKey", "404"):
            return None
        raise
    now = parsedate_to_datetime(got["ResponseMetadata"]["HTTPHeaders"]["date"])
    try:
        note = json.loads(got["Body"].read())
    except ValueError:
        note = {}
    return got["ETag"], note if isinstance(note, dict) else {}, (now - got["LastModified"]).total_seconds()


def free(note: dict, age_s: float) -> bool:
    """A lease anyone may take: lapsed, or released, or its holder on this machine gone (a
    released lease of this machine once its processes are gone too)."""
    if age_s > float(note.get("lease_s", 0)):
        return True
    here = note.get("host") == socket.gethostname()
    return (bool(note.get("released")) or here) and not (here and named_running(note))


def _exiting(note: dict) -> bool:
    """A holder on this machine on its way out whose processes have not all gone yet: it
    released the lease and its JVM has not exited, or it was killed and its JVM's other
    threads are still ending (processes.exiting)."""
    if note.get("host") != socket.gethostname():
        return False
    procs = named_running(note)  # asked on the note's own machine only
    return bool(procs) and (bool(note.get("released")) or any(exiting(p) for p in procs))


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
            "processes": [[writer_pid, psutil.Process(writer_pid).create_time()]],
            "token": secrets.token_hex(8), "seq": 0}  # which write is whose (see _Held.write)
    waited, deadline = False, time.monotonic() + JVM_EXIT_TIMEOUT_S
    while True:
        current = read(s3, settings)
        if current and current[1].get("token") == note["token"]:
            etag = current[0]  # this process's own write, whose answer was lost
            break
        if current is None or free(current[1], current[2]):
            try:
                etag = _put(s3, settings, note, if_match=current[0] if current else None)
                break
            except Exception as exc:  # noqa: BLE001
                if not _precondition_failed(exc):
                    raise
                continue  # another writer took it between the read and the write: read again
        who = describe(current[1])
        if _exiting(current[1]) and time.monotonic() < deadline:
            time.sleep(0.2)  # released: its JVM exits within a second or two
            continue
        if not wait:
            raise busy(who)
        if not waited:
            on_wait(who)
            waited = True
        time.sleep(POLL_S)
    _held = _Held(settings, s3, etag, note)
    threading.Thread(target=_held.renew_forever, name="lakehouse-lease", daemon=True).start()
    threading.Thread(target=_held.watch, name="lakehouse-lease-watch", daemon=True).start()
    atexit.register(_held.release)


def note_process(pid: int) -> None:
    """Name one more process the lease follows (a session's JVM, started after the lease)."""
    if _held is None or any(p == pid for p, _ in _held.note["processes"]):
        return
    _held.write({"processes": [*_held.note["processes"], [pid, psutil.Process(pid).create_time()]]})
