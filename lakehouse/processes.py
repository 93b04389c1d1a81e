"""Telling whether a process we recorded still runs."""

from __future__ import annotations

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
