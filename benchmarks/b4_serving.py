"""B4: serving. The dashboard's queries (one per chart of superset/assets' dashboard, as
Superset asks them: the datasets' metrics, the charts' groupings, orderings and row limits)
through the Spark Thrift Server, with 1 and 4 concurrent clients, vs DuckDB reading the
same Delta tables on MinIO with delta-rs.

Each DuckDB query opens the Delta tables it reads (their latest version, as the Thrift
server serves the latest): a dashboard must see a new gold version without a restart.
"""

from __future__ import annotations

import re
import statistics
import threading
import time

from benchmarks.common import Section, log, markdown_table, median, side_by_side
from lakehouse.config import Settings

# Chart (slice name) -> its query.
QUERIES = {
    "Customer lifetime value distribution":
        "SELECT lifetime_value FROM gold.customer_lifetime_value LIMIT 10000",
    "Customers": "SELECT COUNT(*) AS customers FROM gold.customer_lifetime_value",
    "Orders": "SELECT SUM(orders) AS orders FROM gold.daily_revenue",
    "Revenue": "SELECT SUM(revenue) AS revenue FROM gold.daily_revenue",
    "Product performance":
        "SELECT name, category, units_sold, orders, revenue, avg_selling_price, list_price "
        "FROM gold.product_performance ORDER BY revenue DESC LIMIT 20",
    "Revenue by category":
        "SELECT category, SUM(revenue) AS revenue FROM gold.daily_revenue GROUP BY category "
        "ORDER BY revenue DESC LIMIT 100",
    "Revenue over time":
        "SELECT DATE_TRUNC('DAY', order_date) AS order_date, SUM(revenue) AS revenue FROM gold.daily_revenue "
        "GROUP BY DATE_TRUNC('DAY', order_date) ORDER BY revenue DESC LIMIT 10000",
    "Top countries by revenue":
        "SELECT country, SUM(revenue) AS revenue FROM gold.daily_revenue GROUP BY country "
        "ORDER BY revenue DESC LIMIT 10",
    "Rows quarantined": ("SELECT SUM(CASE WHEN layer = 'reprocess' THEN quarantined - rows_read ELSE quarantined END) "
                         "AS rows_quarantined FROM ops.audit"),
    "Rows quarantined by dataset and rule":
        "SELECT concat(dataset, ' / ', rule) AS dataset_rule, COUNT(*) AS rows_quarantined FROM ops.quarantine "
        "GROUP BY concat(dataset, ' / ', rule) ORDER BY rows_quarantined DESC LIMIT 50",
    "Rows read per batch and layer":
        "SELECT DATE_TRUNC('DAY', CAST(batch_id AS DATE)) AS batch_date, layer, SUM(rows_read) AS rows_read "
        "FROM ops.audit GROUP BY DATE_TRUNC('DAY', CAST(batch_id AS DATE)), layer "
        "ORDER BY rows_read DESC LIMIT 10000",
}
TABLE = re.compile(r"\b(gold|ops)\.(\w+)")


def thrift_client(settings: Settings):
    from lakehouse.platform.thrift_server import thrift_connect

    cursor = thrift_connect(settings).cursor()

    def query(sql: str) -> list:
        cursor.execute(sql)
        return cursor.fetchall()
    return query


def duckdb_client(settings: Settings):
    import duckdb
    from deltalake import DeltaTable

    con = duckdb.connect()
    options = {"AWS_ENDPOINT_URL": settings.s3_endpoint, "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true",
               "AWS_ACCESS_KEY_ID": settings.s3_access_key.get_secret_value(),
               "AWS_SECRET_ACCESS_KEY": settings.s3_secret_key.get_secret_value()}

    def query(sql: str) -> list:
        for db, table in set(TABLE.findall(sql)):
            uri = settings.table_location(db, table).replace("s3a://", "s3://", 1)
            con.register(f"{db}__{table}", DeltaTable(uri, storage_options=options).to_pyarrow_dataset())
        return con.execute(TABLE.sub(r"\1__\2", sql)).fetchall()
    return query


def _latencies(make_client, settings: Settings, clients: int, rounds: int) -> list[float]:
    """Every query's latency, `clients` threads each running the dashboard's queries
    `rounds` times after one warm-up round (connections and first-query costs excluded)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def client() -> None:
        try:
            query = make_client(settings)
            for sql in QUERIES.values():
                query(sql)
            start.wait()
            for _ in range(rounds):
                for sql in QUERIES.values():
                    t0 = time.perf_counter()
                    query(sql)
                    latencies.append(time.perf_counter() - t0)
        except BaseException as e:  # reported by the caller, not lost in a thread
            errors.append(e)
            start.abort()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return latencies


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def check_same_answers(settings: Settings) -> None:
    """Both engines must give the same numbers (else the comparison means nothing)."""
    thrift, duck = thrift_client(settings), duckdb_client(settings)
    for name in ("Customers", "Orders", "Rows quarantined"):
        a, b = thrift(QUERIES[name]), duck(QUERIES[name])
        if [tuple(map(float, r)) for r in a] != [tuple(map(float, r)) for r in b]:
            raise RuntimeError(f"B4 {name}: the Thrift server says {a}, DuckDB {b}")


def run(settings: Settings, reps: int, rounds: int) -> Section:
    check_same_answers(settings)
    per_rep: dict[str, list[tuple[float, float]]] = {}
    contenders = {}
    for clients in (1, 4):
        for engine, make in (("Thrift server", thrift_client), ("DuckDB + delta-rs", duckdb_client)):
            name = f"{engine}, {clients} client(s)"

            def measure(make=make, clients=clients, name=name) -> float:
                t0 = time.perf_counter()
                lat = _latencies(make, settings, clients, rounds)
                per_rep.setdefault(name, []).append((statistics.median(lat), p95(lat)))
                return time.perf_counter() - t0
            contenders[name] = measure
    side_by_side(reps, contenders, "B4")
    log("B4 done")
    summary = {name: {"p50_s": median([p for p, _ in v]), "p95_s": median([q for _, q in v]), "reps": v}
               for name, v in per_rep.items()}
    return Section("B4", "B4: serving the dashboard's queries", _markdown(summary, reps, rounds),
                   {"reps": reps, "rounds": rounds, "queries": QUERIES, "results": summary})


def _markdown(summary: dict, reps: int, rounds: int) -> str:
    rows = []
    for clients in (1, 4):
        thrift, duck = (summary[f"Thrift server, {clients} client(s)"],
                        summary[f"DuckDB + delta-rs, {clients} client(s)"])
        rows.append([clients, thrift["p50_s"] * 1000, thrift["p95_s"] * 1000, duck["p50_s"] * 1000,
                     duck["p95_s"] * 1000, f"{thrift['p50_s'] / duck['p50_s']:.1f}x",
                     f"{thrift['p95_s'] / duck['p95_s']:.1f}x"])
    table = markdown_table(["clients", "Thrift p50 (ms)", "Thrift p95 (ms)", "DuckDB p50 (ms)", "DuckDB p95 (ms)",
                            "p50 ratio", "p95 ratio"], rows)
    return (f"The dashboard's {len(QUERIES)} chart queries; each client runs them {rounds} time(s) after a warm-up "
            f"round; latency per query, pooled; median over {reps} repetitions, order alternated.\n\n{table}")
