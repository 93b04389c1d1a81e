"""One process at a time writes the embedded lakehouse (lakehouse/home_lock.py): a second writer
is told in one line who holds it, or waits with --wait; a killed holder leaves nothing behind;
a reader does not wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from lakehouse import home_lock
from lakehouse.config import PROJECT_ROOT
from tests.unit.minio_server import job_environment

LAKEHOUSE = Path(sys.executable).parent / "lakehouse"


def _holder(home: Path, seconds: float) -> subprocess.Popen:
    """Another process that holds the lakehouse for `seconds`, as a run would."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time; from lakehouse import home_lock; "
                             "home_lock.hold(sys.argv[1], command='lakehouse run --batch 2026-01-02'); "
                             "print('held', flush=True); time.sleep(float(sys.argv[2]))", str(home), str(seconds)],
                            stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(LAKEHOUSE), *args, "--home", str(home)], capture_output=True, text=True,
                          env=job_environment({}), timeout=timeout, cwd=PROJECT_ROOT)


def test_a_second_run_is_told_in_one_line_who_holds_the_lakehouse(tmp_path):
    holder = _holder(tmp_path, 120)
    try:
        second = _cli(tmp_path, "run")
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr, second.stderr
    assert f"being written by pid {holder.pid} (lakehouse run --batch 2026-01-02, started " in second.stderr
    assert "--wait" in second.stderr
    # It stopped before doing anything: no sample data, no table.
    assert sorted(p.name for p in tmp_path.iterdir()) == [home_lock.LOCK_FILE]


def test_a_job_spark_submitted_while_a_run_writes_is_refused_before_its_session(tmp_path):
    """Maintenance (the maintenance DAG's job, or any job spark-submitted in the local profile)
    is a writer too: its driver exits before its session starts, with one error line naming the
    holder, and writes nothing."""
    holder = _holder(tmp_path, 120)
    try:
        job = _cli(tmp_path, "submit", "jobs/maintenance.py", "--step", "optimize")
    finally:
        holder.kill()
        holder.wait()
    said = job.stdout + job.stderr
    assert job.returncode == 1 and "Traceback" not in said and "\tat " not in said, said
    errors = [line for line in said.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"being written by pid {holder.pid} (lakehouse run --batch 2026-01-02, started " in (
        errors[0]), said
    # Its session never started: no warehouse (the job, let through, makes one), no table.
    assert sorted(p.name for p in tmp_path.iterdir()) == [home_lock.LOCK_FILE, "logs", "spark-submit.properties"]


def test_a_killed_holder_leaves_nothing_to_clean_up(tmp_path):
    holder = _holder(tmp_path, 120)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    path = home_lock.lock_path(tmp_path)
    assert f"pid {holder.pid} " in home_lock.holder(path)  # its note stays; its lock went with it
    taker = subprocess.run([sys.executable, "-c", "import sys; from lakehouse import home_lock; "
                            "home_lock.hold(sys.argv[1], command='taker'); print(home_lock.holder(home_lock.lock_path("
                            "sys.argv[1])))", str(tmp_path)],
                           capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT)
    assert taker.returncode == 0 and taker.stdout.startswith("pid ") and "(taker, started " in taker.stdout


def test_wait_takes_the_lakehouse_when_its_holder_ends(tmp_path):
    holder = _holder(tmp_path, 3)
    t0 = time.monotonic()
    # A replay writes: it waits, then goes on (to find that orders has no such rule).
    waited = _cli(tmp_path, "reprocess", "orders", "--rule", "no_such_rule", "--wait")
    holder.wait()
    assert f"waiting for pid {holder.pid} (lakehouse run --batch 2026-01-02" in waited.stderr
    assert time.monotonic() - t0 >= 2
    assert waited.returncode == 1 and "Traceback" not in waited.stderr
    assert "orders has no rule 'no_such_rule' that quarantines" in waited.stderr, waited.stderr


def test_a_reader_does_not_wait_for_the_writer(tmp_path):
    holder = _holder(tmp_path, 120)
    try:
        read = _cli(tmp_path, "sql", "--format", "csv", "SELECT 41 + 1 AS answer")
        assert holder.poll() is None  # the writer still held the lakehouse when the read ended
    finally:
        holder.kill()
        holder.wait()
    assert read.returncode == 0, read.stderr
    assert read.stdout.split() == ["answer", "42"] and "waiting" not in read.stderr


def test_one_process_takes_its_own_lock_once(tmp_path):
    home_lock.hold(tmp_path, command="this test")
    home_lock.hold(tmp_path / ".")  # the same lakehouse again: a no-op, not a deadlock with itself
    other = subprocess.run([sys.executable, "-c", "import sys; from lakehouse import home_lock\n"
                            "try:\n    home_lock.hold(sys.argv[1])\nexcept home_lock.LakehouseBusy as e:\n"
                            "    print(e); sys.exit(3)", str(tmp_path)], capture_output=True, text=True, timeout=60,
                           cwd=PROJECT_ROOT)
    assert other.returncode == 3 and f"being written by pid {os.getpid()} (this test, started " in other.stdout


def test_the_next_holder_waits_for_the_last_ones_jvm(tmp_path):
    """The JVM may still finish a write after the Python process that held the lock has exited:
    here a stand-in `sleep` named as the holder's JVM outlives it by about 3 s."""
    holder = subprocess.run([sys.executable, "-c", "import subprocess, sys; from lakehouse import home_lock; "
                             "home_lock.hold(sys.argv[1], command='lakehouse reprocess'); "
                             "jvm = subprocess.Popen(['sleep', '3'], stdout=subprocess.DEVNULL, "
                             "stderr=subprocess.DEVNULL); home_lock.note_process(sys.argv[1], jvm.pid); "
                             "print(jvm.pid)", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT, check=True)
    jvm = psutil.Process(int(holder.stdout))
    waited = []
    home_lock.hold(tmp_path, command="next", on_wait=waited.append)
    assert not jvm.is_running() or jvm.status() == psutil.STATUS_ZOMBIE
    assert len(waited) == 1 and waited[0].startswith("the JVM of pid ")
    assert "(lakehouse reprocess, started " in waited[0]


def test_a_session_names_its_jvm_in_the_lock(tmp_path):
    """A real local session: the lock file names this process and the session's JVM."""
    script = ("import json, sys; from lakehouse.config import load_settings; from lakehouse.spark import build_session;"
              " from lakehouse import home_lock; s = build_session(load_settings(home=sys.argv[1]), 'lock-test'); "
              "import psutil; note = json.loads(home_lock.lock_path(sys.argv[1]).read_text()); "
              "print(json.dumps([note, [psutil.Process(p).name() for p, _ in note['processes']]]), flush=True)")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300,
                          cwd=PROJECT_ROOT, env=job_environment({}))
    assert proc.returncode == 0, proc.stderr
    note, names = json.loads(proc.stdout.strip().splitlines()[-1])
    assert note["command"] and len(note["processes"]) == 1 and note["processes"][0][0] != note["pid"]
    assert names == ["java"]


def test_a_writing_statement_waits_for_the_writer_like_a_run(tmp_path):
    """`lakehouse sql` reads without the lock, but a statement that writes takes it first."""
    holder = _holder(tmp_path, 120)
    try:
        write = _cli(tmp_path, "sql", "CREATE TABLE t (id INT) USING delta")
        assert holder.poll() is None
    finally:
        holder.kill()
        holder.wait()
    assert write.returncode == 1 and "Traceback" not in write.stderr
    assert f"being written by pid {holder.pid} (lakehouse run --batch 2026-01-02, started " in write.stderr
    assert not (tmp_path / "warehouse").exists() or not list((tmp_path / "warehouse").rglob("_delta_log"))
