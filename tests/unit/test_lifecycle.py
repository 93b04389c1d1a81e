"""`up` / `down` / `status` with small real processes standing in for the services: start,
health probe, idempotence, log tail on failure, nothing left behind."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from lakehouse.config import load_settings
from lakehouse.platform import lifecycle
from lakehouse.platform.process import Launch, Service
from lakehouse.processes import exiting, same_process, wait_exited
from tests.unit.minio_server import free_port


def web_service(port: int) -> Service:
    def probe(_settings) -> bool:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).status == 200
        except OSError:
            return False

    return Service("web", lambda s: port, lambda s: f"http://127.0.0.1:{port}",
                   lambda s: Launch([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]),
                   probe, lambda s: "1.0", start_timeout=30)


def marking_service(marks, name: str, port: int, needs: tuple[str, ...] = (), seconds: float = 4) -> Service:
    """A web server that notes in `marks` when it started, then serves after `seconds`."""
    code = (f"import time, http.server; open({str(marks)!r}, 'a').write('{name} %f\\n' % time.time()); "
            f"time.sleep({seconds}); http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, "
            f"port={port}, bind='127.0.0.1')")
    return dataclasses.replace(web_service(port), name=name, launch=lambda s: Launch([sys.executable, "-c", code]),
                               needs=needs)


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path)


def test_up_is_idempotent_and_down_stops_exactly_what_up_started(settings, monkeypatch):
    svc = web_service(free_port())
    monkeypatch.setattr(lifecycle, "SERVICES", (svc,))
    assert lifecycle.up(settings) == ["web"]
    pid = lifecycle.running_process(settings, "web").pid
    assert lifecycle.up(settings) == []  # already running: nothing started twice
    assert lifecycle.running_process(settings, "web").pid == pid
    [row] = lifecycle.status(settings)
    assert (row.state, row.pid, row.version) == ("running", pid, "1.0") and row.memory_mb > 0
    assert lifecycle.down(settings) == ["web"]
    assert not svc.probe(settings)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert lifecycle.status(settings)[0].state == "stopped"
    assert lifecycle.down(settings) == []


def test_a_service_that_dies_is_reported_with_its_log_tail(settings, monkeypatch):
    broken = Service("broken", lambda s: 1, lambda s: "-",
                     lambda s: Launch(["sh", "-c", "echo starting; echo 'FATAL: could not bind port'; exit 3"]),
                     lambda s: False, lambda s: "1.0", start_timeout=30)
    monkeypatch.setattr(lifecycle, "SERVICES", (broken,))
    with pytest.raises(lifecycle.ServiceFailed, match=r"(?s)broken exited \(code 3\).*FATAL: could not bind port"):
        lifecycle.up(settings)


def test_a_service_that_never_answers_is_stopped_and_reported(settings, monkeypatch):
    # A duration no other process uses: test_lease's stand-in JVM sleeps 600 s at the same time
    # in the other worker, and this test must find only the process it started.
    seconds = f"600.{os.getpid()}"
    silent = Service("silent", lambda s: 1, lambda s: "-",
                     lambda s: Launch(["sh", "-c", f"echo waiting forever; exec sleep {seconds}"]),
                     lambda s: False, lambda s: "1.0", start_timeout=2)
    monkeypatch.setattr(lifecycle, "SERVICES", (silent,))
    with pytest.raises(lifecycle.ServiceFailed,
                       match=r"(?s)did not answer its health probe within 2s.*waiting forever"):
        lifecycle.up(settings)
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", seconds]
                and p.status() != psutil.STATUS_ZOMBIE]
    assert not sleepers, "the service that never answered was left running"


def test_down_stops_the_children_of_a_service_too(settings, monkeypatch):
    port = free_port()
    svc = web_service(port)
    # A service whose process starts helpers of its own (like a worker's executors).
    parent = Service("web", svc.port, svc.url, lambda s: Launch(
        ["sh", "-c", f"sleep 601 & exec {sys.executable} -m http.server {port} --bind 127.0.0.1"]),
        svc.probe, svc.version, start_timeout=30)
    monkeypatch.setattr(lifecycle, "SERVICES", (parent,))
    lifecycle.up(settings)
    children = lifecycle.running_process(settings, "web").children(recursive=True)
    assert [c.cmdline() for c in children] == [["sleep", "601"]]
    lifecycle.down(settings)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def test_a_port_taken_by_another_program_is_refused_before_starting(settings, monkeypatch):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        svc = web_service(other.getsockname()[1])
        monkeypatch.setattr(lifecycle, "SERVICES", (svc,))
        with pytest.raises(lifecycle.ServiceFailed, match="already in use by another program"):
            lifecycle.up(settings)
    assert lifecycle.running_process(settings, "web") is None


def test_an_optional_service_that_is_not_installed_is_skipped_with_one_line(settings, monkeypatch, tmp_path):
    """As `up` treats DQOps without an installation: the reason reported, the rest started."""
    from lakehouse.platform import dqops

    settings = load_settings(home=tmp_path, dqops_home=tmp_path / "no-dqops")
    web = web_service(free_port())
    (svc,) = dqops.SERVICES
    monkeypatch.setattr(lifecycle, "SERVICES", (web, dataclasses.replace(svc, needs=("web",))))
    events = []
    try:
        assert lifecycle.up(settings, lambda name, event: events.append((name, event))) == ["web"]
        (skipped,) = [event for name, event in events if name == "dqops"]
        assert skipped.startswith("skipped: DQOps is not installed") and "\n" not in skipped
        assert "make platform" in skipped and "LAKEHOUSE_DQOPS_HOME" in skipped
        rows = {row.name: row for row in lifecycle.status(settings)}
        assert (rows["dqops"].state, rows["dqops"].version) == ("stopped", "not installed")
        assert rows["web"].state == "running"
    finally:
        assert lifecycle.down(settings) == ["web"]


def test_services_start_side_by_side_once_those_they_need_are_healthy(settings, monkeypatch, tmp_path):
    """Two services that need nothing start together; one that needs both starts after both
    are healthy; one whose need failed is not started, and the failure is the one reported."""
    marks = tmp_path / "marks"

    def marking(name: str, port: int, needs: tuple[str, ...] = (), seconds: float = 4) -> Service:
        return marking_service(marks, name, port, needs, seconds)

    a, b = marking("a", free_port()), marking("b", free_port())
    c = marking("c", free_port(), needs=("a", "b"), seconds=0)
    monkeypatch.setattr(lifecycle, "SERVICES", (a, b, c))
    try:
        assert lifecycle.up(settings) == ["a", "b", "c"]
        started = {line.split()[0]: float(line.split()[1]) for line in marks.read_text().splitlines()}
        assert abs(started["a"] - started["b"]) < 3, started  # side by side, not one after the other
        assert started["c"] >= max(started["a"], started["b"]) + 4, started  # after both answered
    finally:
        lifecycle.down(settings)
    broken = Service("broken", lambda s: None, lambda s: "-", lambda s: Launch(["sh", "-c", "exit 3"]),
                     lambda s: False, lambda s: "1.0", start_timeout=30)
    after = marking("after", free_port(), needs=("broken",))
    monkeypatch.setattr(lifecycle, "SERVICES", (broken, after))
    events = []
    with pytest.raises(lifecycle.ServiceFailed, match="broken exited"):
        lifecycle.up(settings, lambda name, event: events.append((name, event)))
    assert lifecycle.running_process(settings, "after") is None
    assert ("after", "not started: broken failed") in events


def test_ctrl_c_starts_nothing_more_and_up_returns_once_its_threads_stopped(settings, monkeypatch, tmp_path):
    import os
    import signal
    import threading

    marks = tmp_path / "marks"
    slow = marking_service(marks, "slow", free_port(), seconds=30)
    later = marking_service(marks, "later", free_port(), needs=("slow",), seconds=0)
    monkeypatch.setattr(lifecycle, "SERVICES", (slow, later))
    assert threading.current_thread() is threading.main_thread()  # where Python delivers SIGINT
    threading.Timer(3, os.kill, (os.getpid(), signal.SIGINT)).start()  # Ctrl-C
    try:
        with pytest.raises(KeyboardInterrupt):
            lifecycle.up(settings)
        assert not [t for t in threading.enumerate() if t.name.startswith("up")]  # none left starting things
        assert lifecycle.running_process(settings, "later") is None
        assert "later" not in marks.read_text()
    finally:
        lifecycle.down(settings)


def test_an_exited_process_counts_as_stopped_before_its_parent_reaps_it():
    """A service outlives the `lakehouse up` that started it, so init reaps it, sometimes
    seconds after it exited: `down` takes the zombie for stopped (psutil.wait_procs waited for
    the reaping, about 2 s a service on the reference machine). Not while a thread of it still
    runs: that thread holds the process's files and sockets."""
    parent = subprocess.Popen([sys.executable, "-c", "import os, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\n"
                               "print(pid, flush=True)\ntime.sleep(60)"], stdout=subprocess.PIPE, text=True)
    # Its main thread ends and leaves a zombie main thread behind, while another one runs on.
    half = subprocess.Popen([sys.executable, "-c", "import ctypes, threading, time\n"
                             "threading.Thread(target=time.sleep, args=(60,)).start()\n"
                             "print('started', flush=True)\nctypes.CDLL(None).pthread_exit(None)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        child = psutil.Process(int(parent.stdout.readline()))  # exited, and its parent never reaps it
        running = psutil.Process(parent.pid)
        assert half.stdout.readline() == "started\n"
        halfway = psutil.Process(half.pid)
        assert wait_exited([child, running, halfway], timeout=2) == [running, halfway]
        assert halfway.status() == psutil.STATUS_ZOMBIE  # its main thread: a zombie, with a thread running
        # `up`, the lease and the lakehouse's lock ask the same of a recorded pid: still there
        assert same_process(half.pid, halfway.create_time()) == halfway and exiting(halfway)
        assert same_process(child.pid, child.create_time()) is None
        # Waiting for the reaping would return it: its parent runs for a minute yet.
        assert wait_exited([child], timeout=5) == []
    finally:
        for proc in (parent, half):
            proc.kill()
            proc.wait()


def _stopping(port: int, seconds: float) -> subprocess.Popen:
    """A process whose main thread has ended while another holds `port` for `seconds` more
    (a service's JVM running its shutdown hooks)."""
    code = ("import ctypes, socket, threading, time\n"
            f"s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(('127.0.0.1', {port})); s.listen()\n"
            f"threading.Thread(target=time.sleep, args=({seconds},)).start()\n"
            "print('started', flush=True)\nctypes.CDLL(None).pthread_exit(None)")
    # A group of its own, as `up` starts a service: `down` signals the group.
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout.readline() == "started\n"
    deadline = time.monotonic() + 5  # the main thread prints, then ends
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "its main thread did not end"
        time.sleep(0.02)
    return proc


def test_up_waits_for_a_stopping_service_to_exit_then_starts_it(settings, monkeypatch):
    """A service found with its main thread ended but not gone (it still holds its port) is
    not taken for running, nor started beside itself: `up` waits for it to exit, then starts
    it; `status` says it is stopping meanwhile."""
    port = free_port()
    svc = web_service(port)
    monkeypatch.setattr(lifecycle, "SERVICES", (svc,))
    old = _stopping(port, seconds=4)
    try:
        held = psutil.Process(old.pid)
        lifecycle._pid_file(settings, "web").parent.mkdir(parents=True, exist_ok=True)
        lifecycle._pid_file(settings, "web").write_text(f"{old.pid} {held.create_time()}\n")
        assert lifecycle.status(settings)[0].state == "stopping"
        events = []
        assert lifecycle.up(settings, lambda name, event: events.append(event)) == ["web"]
        assert f"waiting for its process {old.pid} to exit" in events
        assert lifecycle.running_process(settings, "web").pid != old.pid and svc.probe(settings)
    finally:
        old.kill()
        old.wait()
        lifecycle.down(settings)


def test_a_service_that_does_not_finish_stopping_is_one_line(settings, monkeypatch):
    port = free_port()
    monkeypatch.setattr(lifecycle, "SERVICES", (web_service(port),))
    monkeypatch.setattr(lifecycle, "EXIT_WAIT_S", 1.0)
    old = _stopping(port, seconds=60)
    try:
        held = psutil.Process(old.pid)
        lifecycle._pid_file(settings, "web").parent.mkdir(parents=True, exist_ok=True)
        lifecycle._pid_file(settings, "web").write_text(f"{old.pid} {held.create_time()}\n")
        with pytest.raises(lifecycle.ServiceFailed, match=rf"^web: its process {old.pid} is still exiting after 1s; "
                                                          r"run `lakehouse down`, then `lakehouse up`$"):
            lifecycle.up(settings)
        assert lifecycle.down(settings) == ["web"]  # down stops it: it is ours, still running
        assert wait_exited([held], timeout=5) == []
    finally:
        old.kill()
        old.wait()


def test_a_service_that_stops_while_up_checks_it_is_started_again(settings, monkeypatch):
    """Found running but not answering yet, then gone before it answers (killed, or crashed):
    `up` starts it again instead of waiting out its probe or failing."""
    import threading

    port = free_port()
    monkeypatch.setattr(lifecycle, "SERVICES", (web_service(port),))
    old = subprocess.Popen(["sleep", "60"], start_new_session=True)
    lifecycle._pid_file(settings, "web").parent.mkdir(parents=True, exist_ok=True)
    lifecycle._pid_file(settings, "web").write_text(f"{old.pid} {psutil.Process(old.pid).create_time()}\n")
    threading.Timer(1.5, old.kill).start()
    events = []
    try:
        assert lifecycle.up(settings, lambda name, event: events.append(event)) == ["web"]
        assert events[0] == "checking" and "starting" in events and not any("waiting" in e for e in events)
        assert lifecycle.running_process(settings, "web").pid != old.pid
    finally:
        old.kill()
        old.wait()
        lifecycle.down(settings)
