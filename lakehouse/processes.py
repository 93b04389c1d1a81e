"""Telling whether a process we recorded still runs."""

from __future__ import annotations

import os
import time

import psutil


def same_process(pid: int, started: float) -> psutil.Process | None:
    """The process `pid` if it is still the one that started at `started` (epoch seconds, as
    psutil's create_time) and has not exited: pids are reused, and the kernel gives a pid to
    threads too, so a pid alone may name another program. A zombie has exited once every
    thread of it has (see _exited): until then it may still write, and holds its files and
    sockets (a JVM whose main thread ended while its shutdown hooks run)."""
    try:
        proc = psutil.Process(int(pid))
        if abs(proc.create_time() - float(started)) < 1 and not _exited(proc):
            return proc
    except (psutil.Error, TypeError, ValueError):
        pass
    return None


def named_running(note: dict) -> list[psutil.Process]:
    """The processes a writer's note (the lakehouse's lock, the cluster's lease) names as
    [pid, start time] pairs under "processes" that still run."""
    try:
        named = [same_process(pid, started) for pid, started in note.get("processes", [])]
    except (TypeError, ValueError):  # a note this version did not write
        return []
    return [proc for proc in named if proc is not None]


# Linux lists a process's threads here: a zombie main thread's others may still be exiting,
# holding the process's files and sockets until the last of them ends.
_THREADS_LISTED = os.path.isdir("/proc/self/task")


def exiting(proc: psutil.Process) -> bool:
    """Its main thread has ended while another still runs: on its way out, not yet gone."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE and not _exited(proc)
    except psutil.Error:
        return False


def _exited(proc: psutil.Process) -> bool:
    """Gone, or a zombie none of whose threads still runs (elsewhere than Linux: gone)."""
    try:
        if not proc.is_running():  # gone, or its pid now another process's
            return True
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
        if _THREADS_LISTED and os.listdir(f"/proc/{proc.pid}/task") != [str(proc.pid)]:
            return False
    except (psutil.NoSuchProcess, FileNotFoundError):  # reaped meanwhile
        return True
    except (psutil.Error, OSError):  # unreadable: taken for running, as waiting for it to go would
        return False
    try:  # reaped, when it is our own child
        proc.wait(timeout=0)
    except psutil.Error:
        pass
    return True


def wait_exited(procs: list[psutil.Process], timeout: float, poll: float = 0.1) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for the processes to exit; returns those still running. A
    zombie whose threads have all ended has exited (its memory, files and sockets released): a
    service `lakehouse up` started outlives that command, so its parent is then init, which may
    reap it seconds later. psutil.wait_procs waits for the reaping: about 2 s a service on the
    reference machine; `lakehouse down` of the platform took 28.6 s with it, 10-12 s without.
    Not for a process whose pid others check after a kill (PostgreSQL's lock file names its
    postmaster): a zombie still has its pid."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _exited(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(poll)
        alive = [p for p in alive if not _exited(p)]
    return alive
