"""One process at a time writes the lakehouse: the embedded one's lock (here), and the cluster
one's lease (lakehouse.lease), taken by hold_writer.

Two writers of one lakehouse (`lakehouse run`, `reprocess`, `maintenance`, a job spark-submitted
in the local profile) would each plan against tables the other is changing. Every process that
starts a writing local-profile session first takes this lock, and a second one exits with one
line naming the holder, or waits for it (`--wait`, LAKEHOUSE_WAIT_FOR_LAKEHOUSE). Readers
(`lakehouse sql`, `history`) take no lock: each session has its own catalog
(lakehouse.embedded_catalog), and Delta's commits make every read see a committed version.

The lock is the kernel's (flock) on a file in the lakehouse home: the kernel releases it when its
holder exits, however it exits, so a killed holder leaves nothing to clean up and the next
process simply takes it; the file's text says who holds it. A process keeps the lock until it
exits. Its JVM may still finish a write a moment longer (an in-process session's JVM exits
after Python; a spark-submitted job's JVM is Python's parent), so the file also names the JVM,
and whoever takes the lock next first waits for that JVM to be gone. The cluster profile's
lakehouse is written from several machines: its lease lives in the object store with the
tables (lakehouse.lease).
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from lakehouse.config import Settings
from lakehouse.errors import LakehouseError
from lakehouse.processes import named_running

LOCK_FILE = "lakehouse.lock"
# How long the next holder waits for the last one's JVM to exit (a second or two after the
# Python process that held the lock).
JVM_EXIT_TIMEOUT_S = 60

# The locks this process holds, open for its lifetime (closing the file would release the lock),
# and what each one's file says.
_held: dict[Path, tuple[int, dict]] = {}


class LakehouseBusy(LakehouseError):
    """Another process is writing the lakehouse."""


def busy(where: str, who: str) -> LakehouseBusy:
    return LakehouseBusy(f"the lakehouse at {where} is being written by {who}: it admits one writer at a time "
                         "(readers such as `lakehouse sql` need not wait); wait for it to end, or pass --wait "
                         "(LAKEHOUSE_WAIT_FOR_LAKEHOUSE=true for a job)")


def lock_path(home: Path) -> Path:
    return Path(home).resolve() / LOCK_FILE


def _read(path: Path) -> dict:
    try:
        note = json.loads(path.read_text() or "{}")
        return note if isinstance(note, dict) else {}
    except (OSError, ValueError):
        return {}


def holder(path: Path) -> str:
    """Who holds the lock, as its file says: pid, command and start time."""
    return _describe(_read(path))


def _describe(note: dict) -> str:
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(note["started"]))
        return f"pid {note['pid']} ({note['command']}, started {started})"
    except (KeyError, TypeError, ValueError, OverflowError):
        return "another process"  # it has just taken the lock and not yet written who it is


def _outlive(path: Path, on_wait: Callable[[str], None]) -> None:
    """Wait for the last holder's JVM to exit (polled: an orphan's zombie counts as gone)."""
    note = _read(path)
    if not named_running(note):
        return
    on_wait(f"the JVM of {_describe(note)}")
    deadline = time.monotonic() + JVM_EXIT_TIMEOUT_S
    while left := named_running(note):
        if time.monotonic() > deadline:
            raise LakehouseBusy(f"the lakehouse at {path.parent} is still open in pid {left[0].pid}, the JVM "
                                f"of {_describe(note)}, which did not exit within {JVM_EXIT_TIMEOUT_S} s")
        time.sleep(0.2)


def _write(fd: int, note: dict) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(note).encode(), 0)


def hold(home: Path, command: str | None = None, wait: bool = False,
         on_wait: Callable[[str], None] = lambda who: None) -> None:
    """Take the lakehouse's lock for the rest of this process, or raise LakehouseBusy naming its
    holder. With `wait`, block until the holder exits. Taking it again in one process is a no-op."""
    path = lock_path(home)
    if path in _held:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = holder(path)
            if not wait:
                raise busy(str(path.parent), who) from None
            on_wait(who)
            fcntl.flock(fd, fcntl.LOCK_EX)
        _outlive(path, on_wait)
    except BaseException:
        os.close(fd)
        raise
    command = command or _command()
    note = {"pid": os.getpid(), "command": command, "started": time.time(), "processes": []}
    _write(fd, note)
    _held[path] = (fd, note)


def note_process(home: Path, pid: int) -> None:
    """Name a process that keeps this process's hold on the lakehouse after it exits (its JVM)."""
    held = _held.get(lock_path(home))
    if held is None:
        return
    fd, note = held
    note["processes"].append([pid, psutil.Process(pid).create_time()])
    _write(fd, note)


def note_jvm(settings: Settings, spark) -> None:
    """Name a writing session's JVM in the lock: it may still finish a write after Python exits."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    if settings.profile == "local":
        note_process(settings.home, pid)
    else:
        from lakehouse import lease

        lease.note_process(pid)


def hold_writer(settings: Settings) -> None:
    """What every process that writes the lakehouse does before its session starts: the embedded
    lakehouse's lock, or the cluster lakehouse's lease."""
    where = str(settings.home) if settings.profile == "local" else f"s3://{settings.warehouse_bucket}"

    def on_wait(who: str) -> None:
        print(f"waiting for {who} to finish with {where}", file=sys.stderr, flush=True)

    if settings.profile == "local":
        hold(settings.home, wait=settings.wait_for_lakehouse, on_wait=on_wait)
        return
    from lakehouse import lease
    from lakehouse.spark import launched_by_spark_submit  # (spark imports this module)

    # Under spark-submit the JVM started first and launched this Python: the lease follows it.
    writer = os.getppid() if launched_by_spark_submit() else os.getpid()
    lease.hold(settings, _command(), writer, lambda who: busy(where, who), settings.wait_for_lakehouse, on_wait)


def _command() -> str:
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]
