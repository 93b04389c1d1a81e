"""One process at a time opens the embedded lakehouse.

The local profile's metastore is an embedded Derby database, which one JVM may open: a second
`lakehouse run` started beside a first used to die deep inside Derby with thousands of lines of
traces. Every process that starts a local-profile session first takes this lock, and a second
one exits with one line naming the holder, or waits for it (`--wait`,
LAKEHOUSE_WAIT_FOR_LAKEHOUSE).

The lock is the kernel's (flock) on a file in the lakehouse home: the kernel releases it when its
holder exits, however it exits, so a killed holder leaves nothing to clean up and the next
process simply takes it; the file's text only says who holds it. A process keeps the lock until
it exits, as its JVM keeps Derby's database. The cluster profile's metastore serves many clients
and needs none of this.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lakehouse.config import Settings
from lakehouse.errors import LakehouseError

LOCK_FILE = "lakehouse.lock"

# The locks this process holds, open for its lifetime: closing the file would release the lock.
_held: dict[Path, int] = {}


class LakehouseBusy(LakehouseError):
    """Another process has the embedded lakehouse open."""


def lock_path(home: Path) -> Path:
    return Path(home).resolve() / LOCK_FILE


def holder(path: Path) -> str:
    """Who holds the lock, as its file says: pid, command and start time."""
    try:
        info = json.loads(path.read_text() or "{}")
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(info["started"]))
        return f"pid {info['pid']} ({info['command']}, started {started})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"  # it has just taken the lock and not yet written who it is


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
                raise LakehouseBusy(f"the lakehouse at {path.parent} is in use by {who}: its embedded metastore "
                                    "admits one process at a time; wait for it to end, or pass --wait") from None
            on_wait(who)
            fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "command": command, "started": time.time()}).encode(), 0)
    _held[path] = fd


def hold_embedded(settings: Settings) -> None:
    """What every local-profile session does before it starts (the cluster profile needs nothing)."""
    if settings.profile == "local":
        hold(settings.home, wait=settings.wait_for_lakehouse, on_wait=lambda who: print(
            f"waiting for {who} to finish with {settings.home}", file=sys.stderr, flush=True))
