"""What every benchmark shares: side-by-side timing (order alternated, median of the
repetitions), the machine's facts and Markdown tables.

Benchmarks measure; they assert nothing about time. `python -m benchmarks.run` runs them
and writes BENCHMARKS.md.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, UTC
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from collections.abc import Callable

from lakehouse.config import PROJECT_ROOT

VENV_BIN = Path(sys.executable).parent
LAKEHOUSE = VENV_BIN / "lakehouse"
PACKAGES = ["pyspark", "delta-spark", "great-expectations", "duckdb", "deltalake", "apache-airflow", "PyHive"]


@dataclass
class Section:
    """One benchmark's part of BENCHMARKS.md, and its raw numbers (results.json)."""

    key: str
    title: str
    markdown: str
    data: dict = field(default_factory=dict)


_SESSION = []


def local_session(workdir: Path):
    """One embedded-profile SparkSession for every benchmark of this process (B2, B3, B5),
    started on first use; run.py stops it at the end."""
    if not _SESSION:
        from lakehouse.config import load_settings
        from lakehouse.spark import build_session

        _SESSION.append(build_session(load_settings(home=fresh_dir(workdir / "session")), "benchmarks"))
    return _SESSION[0]


def stop_session() -> None:
    if _SESSION:
        _SESSION.pop().stop()


def log(message: str) -> None:
    """Progress on stderr, so a long `make bench` shows where it is."""
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def side_by_side(reps: int, contenders: dict[str, Callable[[], float | None]],
                 what: str = "") -> dict[str, list[float]]:
    """Run each contender `reps` times, alternating which goes first, so drift on the
    machine (caches, other load) favours neither. A contender returns its own measured
    seconds, or None to be timed from outside."""
    names = list(contenders)
    samples: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            t0 = time.perf_counter()
            measured = contenders[name]()
            samples[name].append(measured if measured is not None else time.perf_counter() - t0)
            log(f"{what} {name} rep {rep + 1}/{reps}: {samples[name][-1]:.2f}s")
    return samples


def run_checked(argv: list, env: dict[str, str] | None = None, timeout: float = 7200, cwd: Path = PROJECT_ROOT) -> str:
    """A subprocess that must succeed (its output in the error if not); `env` is its whole
    environment, or ours."""
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd,
                          env=env if env is not None else dict(os.environ), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                           f"{proc.stderr[-3000:]}")
    return proc.stdout


def timed(call: Callable[[], object]) -> float:
    """Seconds `call` took."""
    t0 = time.perf_counter()
    call()
    return time.perf_counter() - t0


def new_platform_home(prefix: str) -> Path:
    """A new LAKEHOUSE_HOME for a native platform. Not under a 0700 temp dir: PostgreSQL runs
    as its own user and must reach its data."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o711)
    return home


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def lakehouse_env(home: Path, **settings: str) -> dict[str, str]:
    """The embedded profile in its own home; nothing from the caller's LAKEHOUSE_* leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update({"LAKEHOUSE_HOME": str(home), **{f"LAKEHOUSE_{k.upper()}": str(v) for k, v in settings.items()}})
    return env


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---:" if i else "---" for i in range(len(headers))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _java_version() -> str:
    try:
        out = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr
        return out.splitlines()[0] if out else "unknown"
    except OSError:
        return "not found"


def machine() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": round(memory, 1),
        "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
        "java": _java_version(), "packages": {p: _package_version(p) for p in PACKAGES},
    }


def machine_markdown(facts: dict) -> str:
    packages = ", ".join(f"{k} {v}" for k, v in facts["packages"].items())
    return (f"- date: {facts['date']}\n- machine: {facts['cpu']}, {facts['cores']} cores, {facts['memory_gib']} GiB, "
            f"{facts['os']}\n- runtimes: Python {facts['python']}, {facts['java']}\n- versions: {packages}")
