"""Telling whether a process we recorded still runs."""

from __future__ import annotations

import time

import psutil


def same_process(pid: int, started: float) -> psutil.Process | None:
    """The process `pid` if it is still the one that started at `started` (epoch seconds, as
    psutil's create_time) and has not exited: pids are reused, and the kernel gives a pid to
    threads too, so a pid alone may name another program; a zombie has exited."""
    try:
        proc = psutil.Process(int(pid))
        if abs(proc.create_time() - float(started)) < 1 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except (psutil.Error, TypeError, ValueError):
        pass
    return None


def _exited(proc: psutil.Process) -> bool:
    try:
        if proc.status() != psutil.STATUS_ZOMBIE:
            return False
    except psutil.NoSuchProcess:
        return True
    try:  # reaped, when it is our own child
        proc.wait(timeout=0)
    except (psutil.TimeoutExpired, ChildProcessError, psutil.Error):
        pass
    return True


def wait_exited(procs: list[psutil.Process], timeout: float, poll: float = 0.1) -> list[psutil.Process]:
    """Wait up to `timeout` seconds for the processes to exit; returns those still running. A
    zombie has exited: a service `lakehouse up` started outlives that command, so its parent is
    then init, which may reap it seconds later. psutil.wait_procs waits for the reaping: about
    2 s a service on the reference machine, and `lakehouse down` of the platform took 28.6 s
    with it, 10.3 s without."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if not _exited(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(poll)
        alive = [p for p in alive if not _exited(p)]
    return alive
