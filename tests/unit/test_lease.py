"""One writer at a time for the cluster lakehouse, across machines (lakehouse/lease.py): the lease
is an object in the warehouse bucket of a real MinIO. A second writer is told in one line who
holds it, or waits; a holder's renewals keep it past its length; a holder killed on this machine
frees it at once, one on another machine when its lease lapses; a holder whose lease another
took stops. Each writer is a process of its own, as each job's driver is."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from lakehouse import lease
from lakehouse.config import PROJECT_ROOT
from lakehouse.platform.object_store import s3_client
from tests.unit.minio_server import cluster_job, job_environment, minio

LEASE_S = 8
# A writer as a job's driver is one: it takes the lease (or exits with one line), says so, then
# "writes" for the given seconds and exits normally.
WRITER = """
import sys, time
from lakehouse import home_lock
from lakehouse.config import load_settings
from lakehouse.errors import LakehouseError
try:
    home_lock.hold_writer(load_settings())
except LakehouseError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(1)
if len(sys.argv) > 2:  # a process standing for the JVM, which the lease follows too
    import subprocess
    from lakehouse import lease
    jvm = subprocess.Popen(["sleep", "600"])
    lease.note_process(jvm.pid)
    print(jvm.pid, flush=True)
print("held", flush=True)
time.sleep(float(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def object_store(tmp_path_factory):
    """A MinIO of its own with a warehouse bucket, and the environment of a cluster job using it."""
    with minio(tmp_path_factory.mktemp("minio")) as (endpoint, user, password):
        settings, env = cluster_job(endpoint, user, password, tmp_path_factory.mktemp("home"),
                                    LAKEHOUSE_WRITER_LEASE_SECONDS=str(LEASE_S))
        s3_client(settings).create_bucket(Bucket=settings.warehouse_bucket)
        yield settings, env


@pytest.fixture
def store(object_store):
    """The object store with no lease in it."""
    settings, env = object_store
    s3_client(settings).delete_object(Bucket=settings.warehouse_bucket, Key=lease.LEASE_KEY)
    return settings, env


def _writer(env: dict, seconds: float, wait: bool = False, jvm: bool = False) -> subprocess.Popen:
    run_env = job_environment(env)
    if wait:
        run_env["LAKEHOUSE_WAIT_FOR_LAKEHOUSE"] = "true"
    return subprocess.Popen([sys.executable, "-c", WRITER, str(seconds), *(["jvm"] if jvm else [])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env=run_env)


def _holding(env: dict, seconds: float, jvm: bool = False) -> subprocess.Popen:
    proc = _writer(env, seconds, jvm=jvm)
    if jvm:
        proc.jvm = psutil.Process(int(proc.stdout.readline()))
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def _refused(env: dict) -> str:
    proc = _writer(env, 0)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == "", (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _note(settings) -> dict:
    return lease.read(s3_client(settings), settings)[1]


def test_a_second_writer_is_told_who_holds_the_lakehouse_even_after_the_lease_length(store):
    settings, env = store
    holder = _holding(env, 60)
    try:
        time.sleep(LEASE_S * 2)  # the holder's renewals keep it
        err = _refused(env)
    finally:
        holder.kill()
        holder.wait()
    assert (f"the lakehouse at s3://{settings.warehouse_bucket} is being written by pid {holder.pid} on "
            f"{socket.gethostname()} (-c 60, started ") in err
    assert "--wait" in err


def test_a_writer_that_waits_takes_the_lease_when_the_holder_ends(store):
    settings, env = store
    holder = _holding(env, 3)
    waiter = _writer(env, 0, wait=True)
    out, err = waiter.communicate(timeout=60)
    holder.wait(30)
    assert waiter.returncode == 0 and out.strip() == "held", err
    assert f"waiting for pid {holder.pid} on " in err
    assert _note(settings)["pid"] == waiter.pid and _note(settings).get("released")


def test_a_holder_killed_on_this_machine_frees_the_lease_at_once(store):
    settings, env = store
    holder = _holding(env, 60)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert _note(settings)["pid"] == holder.pid and not _note(settings).get("released")  # its lease stays
    taker = _holding(env, 0)  # its processes are gone: taken without waiting for the lease to lapse
    taker.wait(30)
    assert _note(settings)["pid"] == taker.pid


def test_a_lease_of_another_machine_is_free_once_it_lapses(store):
    settings, env = store
    s3 = s3_client(settings)
    elsewhere = {"pid": 4242, "host": "worker-7.example", "command": "jobs/silver.py", "started": time.time(),
                 "airflow": "lakehouse_medallion.silver scheduled__2026-01-03 try 1", "lease_s": LEASE_S,
                 "processes": [[4242, 0.0]]}
    s3.put_object(Bucket=settings.warehouse_bucket, Key=lease.LEASE_KEY, Body=json.dumps(elsewhere).encode())
    err = _refused(env)  # no process of that machine can be looked up here: only its lease's age counts
    assert "pid 4242 on worker-7.example (jobs/silver.py, Airflow task lakehouse_medallion.silver " \
           "scheduled__2026-01-03 try 1, started " in err
    time.sleep(LEASE_S + 1.5)  # never renewed: lapsed (by the object store's clock)
    taker = _holding(env, 0)
    taker.wait(30)
    assert _note(settings)["pid"] == taker.pid


def test_a_holder_whose_lease_another_took_stops_its_jvm_and_itself(store):
    settings, env = store
    holder = _holding(env, 60, jvm=True)
    s3 = s3_client(settings)
    # Taken over as a writer does when the holder's lease lapsed (a stalled holder, a partition).
    s3.put_object(Bucket=settings.warehouse_bucket, Key=lease.LEASE_KEY,
                  Body=json.dumps({**_note(settings), "pid": 4242, "host": "worker-7.example"}).encode())
    out, err = holder.communicate(timeout=LEASE_S * 3)
    assert holder.returncode == 1, (out, err)
    assert err.startswith("error: lost the lakehouse's writer lease") and "another writer took it" in err, err
    assert err.count("\n") == 1, err
    assert _note(settings)["pid"] == 4242  # the new holder's lease is left as it is
    holder.jvm.wait(10)  # killed first: a commit in flight would finish under the other's lease


def test_a_holder_on_its_way_out_is_waited_for_not_reported_busy():
    """A killed holder's JVM whose other threads are still ending holds the lease a moment
    longer: the next writer waits for it (lease._exiting) instead of exiting as refused.
    A live holder is not on its way out."""
    from tests.unit.minio_server import free_port
    from tests.unit.test_lifecycle import _stopping

    stopping = _stopping(free_port(), seconds=30)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        def note(proc: subprocess.Popen) -> dict:
            return {"host": socket.gethostname(), "processes": [[proc.pid, psutil.Process(proc.pid).create_time()]]}
        assert lease._exiting(note(stopping)) and not lease.free(note(stopping), 0)
        assert not lease._exiting(note(live)) and not lease.free(note(live), 0)
        assert lease._exiting({**note(live), "released": True})
        assert not lease._exiting({**note(stopping), "host": "another-machine"})
    finally:
        for proc in (stopping, live):
            proc.kill()
            proc.wait()
