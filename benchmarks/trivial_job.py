"""B3's trivial job: the sum of 0..N-1. Run as a script it prints `RESULT <sum>`:
`--platform` takes the platform's session (build_session: Delta, catalog, the profile's
master), otherwise a bare SparkSession with nothing of ours."""

from __future__ import annotations

import sys

N = 100_000
EXPECTED = N * (N - 1) // 2


def direct() -> int:
    return sum(range(N))


def job(spark) -> int:
    return spark.range(N).selectExpr("sum(id) AS s").first()["s"]


if __name__ == "__main__":
    if "--platform" in sys.argv:
        from lakehouse.config import load_settings
        from lakehouse.spark import build_session

        session = build_session(load_settings(), "bench-trivial")
    else:
        from pyspark.sql import SparkSession

        session = SparkSession.builder.appName("bench-trivial-bare").getOrCreate()
    print("RESULT", job(session))
    session.stop()
