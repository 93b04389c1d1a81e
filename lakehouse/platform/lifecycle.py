"""`lakehouse up / down / status`: the services as local processes, one runtime directory.

<home>/platform/
  secrets.env        generated credentials (0600)
  conf/              generated service configuration holding credentials (0600)
  run/<name>.pid     pid and start time of each process we started
  logs/<name>.log    each service's output
  data/<name>/       each service's data (PostgreSQL, MinIO, Spark worker)

A pid file records the process's start time too, so a recycled pid is never mistaken for
ours, and `down` stops exactly what `up` started (each service in its own process group,
so a worker's executors go with it).
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from collections.abc import Callable

import psutil

from lakehouse.config import Settings
from lakehouse.processes import exiting, same_process, wait_exited
from lakehouse.errors import LakehouseError
from lakehouse.platform.registry import SERVICES
from lakehouse.platform.process import Service

LOG_TAIL_LINES = 15
# How long `up` waits for a service's stopping process to exit before it starts it again.
EXIT_WAIT_S = 60.0


@dataclass
class ServiceStatus:
    name: str
    state: str  # running | starting | stopping | stopped
    pid: int | None
    port: int | None
    url: str
    version: str
    memory_mb: float | None


class ServiceFailed(LakehouseError):
    pass


def _pid_file(settings: Settings, name: str) -> Path:
    return settings.platform_dir / "run" / f"{name}.pid"


def log_file(settings: Settings, name: str) -> Path:
    return settings.platform_dir / "logs" / f"{name}.log"


def running_process(settings: Settings, name: str) -> psutil.Process | None:
    """Our process for this service, if it is still alive (and is the one we started)."""
    try:
        pid, started = _pid_file(settings, name).read_text().split()
    except (OSError, ValueError):
        return None
    return same_process(pid, started)


def log_tail(settings: Settings, name: str, lines: int = LOG_TAIL_LINES) -> str:
    path = log_file(settings, name)
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _port_in_use(settings: Settings, port: int) -> bool:
    host = "127.0.0.1" if settings.bind_host == "0.0.0.0" else settings.bind_host
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def _start(settings: Settings, svc: Service) -> subprocess.Popen:
    port = svc.port(settings)
    if port is not None and _port_in_use(settings, port):
        # Otherwise the other program would answer our health probe while ours dies on bind.
        raise ServiceFailed(f"{svc.name}: port {port} is already in use by another program; stop it "
                            f"or choose another port (lakehouse/config.py lists the LAKEHOUSE_*_PORT settings)")
    launch = svc.launch(settings)
    log = log_file(settings, svc.name)
    log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    as_user = {"user": launch.user, "group": launch.user, "extra_groups": []} if launch.user else {}
    with open(log, "ab") as out:
        os.chmod(log, 0o600)
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} lakehouse up: starting {svc.name}\n".encode())
        out.flush()
        # umask 077: whatever a service writes (data, logs, spark work dirs) is private.
        proc = subprocess.Popen(launch.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **launch.env}, cwd="/" if launch.user else settings.platform_dir,
                                start_new_session=True, umask=0o077, **as_user)
    pid_file = _pid_file(settings, svc.name)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{proc.pid} {psutil.Process(proc.pid).create_time()}\n")
    return proc


def _wait_healthy(settings: Settings, svc: Service, proc: psutil.Process | subprocess.Popen,
                  interrupted: threading.Event | None = None) -> None:
    deadline = time.monotonic() + svc.start_timeout
    while time.monotonic() < deadline:
        if interrupted is not None and interrupted.is_set():
            raise _NeedFailed(svc.name)
        # Ours must be alive, not merely something answering on its port. One found running
        # that stops meanwhile (exiting, or gone, reaped or not) is started again.
        if isinstance(proc, psutil.Process):
            if exiting(proc) or same_process(proc.pid, proc.create_time()) is None:
                raise _Stopping(svc.name)
        exited = proc.poll() if isinstance(proc, subprocess.Popen) else None
        if exited is not None:
            _pid_file(settings, svc.name).unlink(missing_ok=True)
            raise ServiceFailed(f"{svc.name} exited (code {exited}) while starting; "
                                f"{log_file(settings, svc.name)} ends with:\n{log_tail(settings, svc.name)}")
        if svc.probe(settings):
            return
        time.sleep(1)
    stop(settings, svc.name)
    raise ServiceFailed(f"{svc.name} did not answer its health probe within {svc.start_timeout:.0f}s; "
                        f"{log_file(settings, svc.name)} ends with:\n{log_tail(settings, svc.name)}")


@contextmanager
def _exclusive(settings: Settings):
    """One `up` or `down` at a time per runtime directory: two would start everything twice."""
    lock = settings.platform_dir / "run" / ".lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def up(settings: Settings, on_event: Callable[[str, str], None] = lambda name, event: None) -> list[str]:
    """Start every service that is not running, each once the services it needs are healthy,
    side by side otherwise. Returns the names started now (empty when everything was up)."""
    with _exclusive(settings):
        return _up(settings, on_event)


class _NeedFailed(Exception):
    """A service not started because one it needs failed (that failure is the one reported)."""


class _Stopping(Exception):
    """A running service stopped, or began to, while `up` checked it: it is started again once gone."""


def _up(settings: Settings, on_event: Callable[[str, str], None]) -> list[str]:
    launched: dict[str, Future] = {}
    interrupted = threading.Event()
    # A thread per service: each mostly waits, on the ones it needs or on its health probe.
    pool = ThreadPoolExecutor(max_workers=len(SERVICES), thread_name_prefix="up")
    try:
        for svc in SERVICES:  # the registry's order puts what a service needs before it
            needs = {name: launched[name] for name in svc.needs}
            launched[svc.name] = pool.submit(_bring_up, settings, svc, needs, on_event, interrupted)
        wait(launched.values())
    except BaseException:
        # Ctrl-C: nothing more starts, and the lock is held until every thread has stopped
        # (a service already started keeps running; `down` stops it).
        interrupted.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    failures = [f.exception() for f in launched.values()
                if f.exception() is not None and not isinstance(f.exception(), _NeedFailed)]
    if len(failures) == 1:
        raise failures[0]
    if failures:  # services that failed side by side: each one's reason
        raise ServiceFailed("\n".join(str(failure) for failure in failures))
    return [name for name, f in launched.items() if f.result()]


def _bring_up(settings: Settings, svc: Service, needs: dict[str, Future], on_event: Callable[[str, str], None],
              interrupted: threading.Event) -> bool:
    """One service, once those it needs are up: started (True) or found running (False)."""
    failed = [name for name, need in needs.items() if need.exception() is not None]
    if failed:
        on_event(svc.name, f"not started: {', '.join(failed)} failed")
        raise _NeedFailed(svc.name)
    if interrupted.is_set():
        raise _NeedFailed(svc.name)
    proc = running_process(settings, svc.name)
    if proc is not None and not exiting(proc):
        on_event(svc.name, "checking")
        try:
            _wait_healthy(settings, svc, proc, interrupted)
            on_event(svc.name, "already running")
            if svc.after_start:
                svc.after_start(settings)
            return False
        except _Stopping:
            pass
    if proc is not None:
        _wait_for_exit(svc, proc, on_event, interrupted)
    if reason := svc.missing(settings):
        on_event(svc.name, f"skipped: {reason}")
        return False
    if svc.prepare:
        on_event(svc.name, "preparing")
        svc.prepare(settings)
    on_event(svc.name, "starting")
    t0 = time.monotonic()
    _wait_healthy(settings, svc, _start(settings, svc), interrupted)
    on_event(svc.name, f"started in {time.monotonic() - t0:.1f}s")
    if svc.after_start:
        svc.after_start(settings)
    return True


def _wait_for_exit(svc: Service, proc: psutil.Process, on_event: Callable[[str, str], None],
                   interrupted: threading.Event) -> None:
    """A service found stopping (a JVM whose main thread ended while its shutdown hooks run)
    holds its port until its last thread ends: it is started again once it has gone."""
    if not wait_exited([proc], timeout=0):
        return  # gone already (stopped while `up` checked it)
    on_event(svc.name, f"waiting for its process {proc.pid} to exit")
    deadline = time.monotonic() + EXIT_WAIT_S
    while wait_exited([proc], timeout=min(0.5, max(0.0, deadline - time.monotonic()))):
        if interrupted.is_set():
            raise _NeedFailed(svc.name)
        if time.monotonic() >= deadline:
            raise ServiceFailed(f"{svc.name}: its process {proc.pid} is still exiting after {EXIT_WAIT_S:.0f}s; "
                                "run `lakehouse down`, then `lakehouse up`")


def stop(settings: Settings, name: str, timeout: float = 30.0) -> bool:
    """Stop one service's process group: SIGTERM, then SIGKILL after `timeout`."""
    proc = running_process(settings, name)
    pid_file = _pid_file(settings, name)
    if proc is None:
        pid_file.unlink(missing_ok=True)
        return False
    group = [proc, *proc.children(recursive=True)]
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    alive = wait_exited(group, timeout)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    try:  # and whatever joined the group meanwhile
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    # Killed, a service may leave its lock file naming its pid (PostgreSQL's postmaster.pid),
    # which the next start takes for a live process until the pid is gone: wait for the reaping.
    psutil.wait_procs(alive, timeout=5)
    pid_file.unlink(missing_ok=True)
    return True


def down(settings: Settings, on_event: Callable[[str, str], None] = lambda name, event: None) -> list[str]:
    """Stop what `up` started, in reverse order. Returns the names stopped."""
    stopped = []
    with _exclusive(settings):
        for svc in reversed(SERVICES):
            t0 = time.monotonic()
            if stop(settings, svc.name):
                stopped.append(svc.name)
                on_event(svc.name, f"stopped in {time.monotonic() - t0:.1f}s")
    return stopped


def _memory_mb(proc: psutil.Process) -> float:
    """Proportional set size of the process and its children: shared pages (PostgreSQL's
    shared buffers) counted once, not once per process as RSS would."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_full_info().pss
        except psutil.Error:
            pass
    return round(total / 2**20, 1)


def status(settings: Settings) -> list[ServiceStatus]:
    rows = []
    for svc in SERVICES:
        proc = running_process(settings, svc.name)
        state = ("stopped" if proc is None else "stopping" if exiting(proc)
                 else "running" if svc.probe(settings) else "starting")
        try:
            version = "not installed" if svc.missing(settings) else svc.version(settings)
        except Exception:  # noqa: BLE001 - a missing install shows as such, not as a crash
            version = "not installed"
        rows.append(ServiceStatus(svc.name, state, proc.pid if proc else None, svc.port(settings),
                                  svc.url(settings), version, _memory_mb(proc) if proc else None))
    return rows


def status_dicts(settings: Settings) -> list[dict]:
    return [asdict(s) for s in status(settings)]
