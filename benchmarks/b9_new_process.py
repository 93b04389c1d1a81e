"""B9: `lakehouse run` from a new process, as a user runs it day after day (issue 19's goals:
the default run, a run with nothing new). On one fresh lakehouse: every day but the last
(the history), then the last day (one incremental day), then the same command again (nothing
new: the fast path that starts no Spark), then another selection finding nothing new (nothing
new, with Spark started and every table looked at).

`--before REV` measures a git revision of this repository beside the checkout, side by side in
the same run: a worktree of REV, run with this checkout's venv and build/ (its jars and class
archives), so the two differ in the package's code alone.
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from benchmarks.common import (Section, fresh_dir, lakehouse_env, log, markdown_table, median, run_checked,
                               side_by_side)
from lakehouse.config import PROJECT_ROOT
from lakehouse.generate import generate

SEED = 42
STEPS = ("history", "incremental day", "nothing new (no Spark)", "nothing new (Spark)")
GOALS = {"nothing new (no Spark)": 8.0, "nothing new (Spark)": 8.0}


def _worktree(workdir: Path, rev: str) -> Path:
    """REV checked out beside the checkout, sharing its build/ (jars, class archives)."""
    tree = workdir / f"rev-{rev}"
    if tree.exists():
        run_checked(["git", "worktree", "remove", "--force", tree])
    run_checked(["git", "worktree", "add", "--detach", tree, rev])
    (tree / "build").symlink_to(PROJECT_ROOT / "build")
    return tree


def _runs(code: Path, workdir: Path, landing: Path, days: list[date], scale: float):
    """One contender: the four steps on a fresh lakehouse, each timed; returns their seconds."""
    def run() -> dict[str, float]:
        home = fresh_dir(workdir / f"home-{code.name}")
        env = lakehouse_env(home, scale=scale, days=len(days))
        cli = [sys.executable, "-m", "lakehouse.cli", "run"]  # from `code`: its package comes first
        last = days[-1].isoformat()
        for day in days[:-1]:
            shutil.copytree(landing / day.isoformat(), home / "landing", dirs_exist_ok=True)
        seconds = {}
        for step, args, before in ((STEPS[0], [], None), (STEPS[1], [], days[-1]), (STEPS[2], [], None),
                                   (STEPS[3], ["--start", last], None)):
            if before:
                shutil.copytree(landing / before.isoformat(), home / "landing", dirs_exist_ok=True)
            t0 = time.perf_counter()
            out = run_checked([*cli, *args], env, cwd=code)
            seconds[step] = time.perf_counter() - t0
            if step.startswith("nothing new") and "Nothing new to process" not in out:
                raise RuntimeError(f"B9 {code.name}: {step} found something to do:\n{out[-2000:]}")
            if step == STEPS[2] and "Spark not started" not in out:
                raise RuntimeError(f"B9 {code.name}: the same command again started Spark:\n{out[-2000:]}")
        return seconds
    return run


def _landing_by_day(workdir: Path, scale: float, days: int) -> tuple[Path, list[date]]:
    """The sample's landing files, one folder per day holding that day's files of every dataset."""
    generated = fresh_dir(workdir / "generated")
    manifest = generate(generated, scale=scale, seed=SEED, days=days)
    start = date.fromisoformat(manifest["start_date"])
    dates = [start + timedelta(days=i) for i in range(days)]
    by_day = fresh_dir(workdir / "by-day")
    for dataset in (p for p in generated.iterdir() if p.is_dir()):
        for day in dates:
            if (dataset / day.isoformat()).is_dir():
                shutil.copytree(dataset / day.isoformat(), by_day / day.isoformat() / dataset.name / day.isoformat())
    return by_day, dates


def run(workdir: Path, scale: float, days: int, reps: int, before: str | None = None) -> Section:
    landing, dates = _landing_by_day(workdir, scale, days)
    log(f"B9: scale {scale:g}, {days} days, {reps} repetition(s)" + (f", beside {before}" if before else ""))
    contenders = {"this checkout": PROJECT_ROOT}
    if before:
        contenders = {before: _worktree(workdir, before), **contenders}
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}

    def contender(name: str, code: Path):
        runs = _runs(code, workdir, landing, dates, scale)

        def one() -> float:
            seconds = runs()
            measured[name].append(seconds)
            return sum(seconds.values())
        return one

    side_by_side(reps, {name: contender(name, code) for name, code in contenders.items()}, "B9")
    medians = {name: {step: median([s[step] for s in samples]) for step in STEPS}
               for name, samples in measured.items()}
    return Section("B9", "B9: `lakehouse run` from a new process", _markdown(medians, scale, days, reps),
                   {"scale": scale, "days": days, "reps": reps, "samples": measured})


def _markdown(medians: dict[str, dict[str, float]], scale: float, days: int, reps: int) -> str:
    names = list(medians)
    rows = [[step, *(f"{medians[n][step]:.1f}" for n in names),
             *([f"{medians[names[-1]][step] / medians[names[0]][step]:.2f}x"] if len(names) > 1 else []),
             f"at most {GOALS[step]:g}" if step in GOALS else ""] for step in STEPS]
    headers = ["step", *(f"{n} (s)" for n in names), *(["after / before"] if len(names) > 1 else []), "goal (s)"]
    return (f"The sample at scale {scale:g}, {days} daily batches, on a fresh lakehouse: the history (every day but "
            f"the last), the last day, the same command again, another selection; each a new `lakehouse run` "
            f"process; median of {reps}, order alternated.\n\n{markdown_table(headers, rows)}")
