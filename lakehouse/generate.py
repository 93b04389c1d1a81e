"""Deterministic sample e-commerce landing data, with known defects at known rates.

Writes one batch per day per dataset under `<landing>/<dataset>/<YYYY-MM-DD>/`: customers and
orders as CSV, products and order_items as JSON lines. Alongside, `_manifest.json` records
exactly what was written and injected, so tests can assert exact counts:

- per batch and dataset: rows (data lines), inserts / updates / deletes (the changes silver
  must apply), superseded (older versions of a key in the same batch), duplicates (exact
  copies), null_required, malformed (CSV lines with too many or too few fields, truncated
  JSON), out_of_range (values an expectation rejects), orphans (orders of a customer that
  never existed);
- final: the live keys per dataset after all batches, and customers' SCD2 history rows.

Defects are extra records of keys that are never used again, so they never disturb the
valid entities; duplicates copy a valid insert.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

MANIFEST = "_manifest.json"
COUNTRIES = ["DE", "FR", "GB", "US", "ES", "IT", "NL", "PL", "SE", "BR"]
SEGMENTS = ["consumer", "small_business", "enterprise"]
CATEGORIES = ["electronics", "books", "home", "garden", "toys", "sports", "fashion", "beauty"]
FIRST = ["Anna", "Jonas", "Léa", "Oliver", "Sofia", "Lukas", "Emma", "Mateo", "Zoë", "Piotr", "Ines", "Noah"]
LAST = ["Müller", "Martin", "Smith", "García", "Rossi", "de Vries", "Kowalski", "Andersson", "Silva", "Brown"]
STATUS_FLOW = {"placed": "paid", "paid": "shipped", "shipped": "delivered"}

# Rates, as a share of the valid records of a batch.
DUPLICATE_RATE = 0.01
NULL_RATE = 0.005
MALFORMED_RATE = 0.005
OUT_OF_RANGE_RATE = 0.005
ORPHAN_RATE = 0.005  # orders of a customer that never existed (a foreign key expectation)
ORPHAN_CUSTOMER = "CX0000000"  # never generated: real customer ids are C + 7 digits

COLUMNS = {
    "customers": ["customer_id", "email", "full_name", "country", "segment", "signup_date", "updated_at", "op"],
    "products": ["product_id", "name", "category", "price", "updated_at", "op"],
    "orders": ["order_id", "customer_id", "order_ts", "status", "ship_country", "updated_at", "op"],
    "order_items": ["order_id", "line_no", "product_id", "quantity", "unit_price", "updated_at", "op"],
}
FORMATS = {"customers": "csv", "products": "jsonl", "orders": "csv", "order_items": "jsonl"}
# Per dataset: (required non-key column blanked for null_required, column and bad value for out_of_range)
DEFECTS = {
    "customers": ("email", ("country", "ZZ")),
    "products": ("category", ("price", "-4.99")),
    "orders": ("customer_id", ("status", "teleported")),
    "order_items": ("product_id", ("quantity", 0)),
}


@dataclass
class Batch:
    """The lines of one dataset's batch, and what they are."""

    records: list[dict] = field(default_factory=list)
    extra_lines: list[str] = field(default_factory=list)  # malformed lines, already rendered
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ["inserts", "updates", "deletes", "superseded", "duplicates", "null_required", "malformed", "out_of_range",
             "orphans"], 0
        )
    )


class _Clock:
    """Strictly increasing event times within one day, so every version of a key is ordered."""

    def __init__(self, day: date, rng: random.Random, events: int):
        self._t = datetime.combine(day, datetime.min.time())
        self._step = max(1, 86_000 // max(events, 1))
        self._rng = rng

    def tick(self) -> str:
        self._t += timedelta(seconds=self._rng.randint(1, self._step))
        return self._t.strftime("%Y-%m-%d %H:%M:%S")


class Generator:
    def __init__(self, scale: float, seed: int):
        self.rng = random.Random(seed)
        self.scale = scale
        self.next_id = {"customers": 1, "products": 1, "orders": 1}
        self.customers: dict[str, dict] = {}  # live, current version
        self.products: dict[str, dict] = {}
        self.orders: dict[str, dict] = {}
        self.items: dict[str, list[dict]] = {}  # order_id -> live lines
        self.customer_versions = 0

    def _n(self, base: float) -> int:
        return max(1, round(base * self.scale))

    def _new_id(self, dataset: str, prefix: str) -> str:
        value = self.next_id[dataset]
        self.next_id[dataset] += 1
        return f"{prefix}{value:07d}"

    # -- valid changes -----------------------------------------------------------------
    def _customer(self, clock: _Clock, day: date) -> dict:
        first, last = self.rng.choice(FIRST), self.rng.choice(LAST)
        cid = self._new_id("customers", "C")
        # Some names carry a comma so CSV quoting is exercised.
        name = f"{last}, {first}" if self.rng.random() < 0.1 else f"{first} {last}"
        email = f"{first}.{last}.{cid}@example.com".lower().replace(" ", "")
        return {"customer_id": cid, "email": email, "full_name": name, "country": self.rng.choice(COUNTRIES),
                "segment": self.rng.choice(SEGMENTS), "signup_date": day.isoformat(), "updated_at": clock.tick(), "op": "I"}

    def _product(self, clock: _Clock) -> dict:
        pid = self._new_id("products", "P")
        return {"product_id": pid, "name": f"{self.rng.choice(CATEGORIES).title()} item {pid[1:]}",
                "category": self.rng.choice(CATEGORIES), "price": f"{self.rng.uniform(2, 500):.2f}",
                "updated_at": clock.tick(), "op": "I"}

    def day(self, day: date, first: bool) -> dict[str, Batch]:
        batches = {name: Batch() for name in COLUMNS}
        clock = _Clock(day, self.rng, events=self._n(4000))
        self._products_day(batches["products"], clock, first)
        self._customers_day(batches["customers"], clock, day, first)
        self._orders_day(batches["orders"], batches["order_items"], clock)
        for name, batch in batches.items():
            self._inject_defects(name, batch, clock, day)
        return batches

    def _products_day(self, batch: Batch, clock: _Clock, first: bool) -> None:
        for _ in range(self._n(150 if first else 3)):
            p = self._product(clock)
            self.products[p["product_id"]] = p
            batch.records.append(p)
            batch.counts["inserts"] += 1
        if not first:
            for pid in self.rng.sample(sorted(self.products), k=min(len(self.products), self._n(4))):
                p = dict(self.products[pid], price=f"{float(self.products[pid]['price']) * 1.05:.2f}",
                         updated_at=clock.tick(), op="U")
                self.products[pid] = p
                batch.records.append(p)
                batch.counts["updates"] += 1

    def _customers_day(self, batch: Batch, clock: _Clock, day: date, first: bool) -> None:
        existing = sorted(self.customers)
        for _ in range(self._n(800 if first else 40)):
            c = self._customer(clock, day)
            self.customers[c["customer_id"]] = c
            self.customer_versions += 1
            batch.records.append(c)
            batch.counts["inserts"] += 1
        if first:
            return
        changed = self.rng.sample(existing, k=min(len(existing), self._n(30)))
        deleted, updated = changed[: max(1, len(changed) // 10)], changed[max(1, len(changed) // 10):]
        for cid in updated:  # a move or a new segment: a new SCD2 version
            c = dict(self.customers[cid], updated_at=clock.tick(), op="U")
            if self.rng.random() < 0.5:
                c["country"] = self.rng.choice([x for x in COUNTRIES if x != c["country"]])
            else:
                c["segment"] = self.rng.choice([x for x in SEGMENTS if x != c["segment"]])
            self.customers[cid] = c
            self.customer_versions += 1
            batch.records.append(c)
            batch.counts["updates"] += 1
        for cid in deleted:  # right to be forgotten: the current version is closed
            batch.records.append(dict(self.customers.pop(cid), updated_at=clock.tick(), op="D"))
            batch.counts["deletes"] += 1

    def _orders_day(self, orders: Batch, items: Batch, clock: _Clock) -> None:
        earlier = sorted(self.orders)
        customer_ids = sorted(self.customers)
        product_ids = sorted(self.products)
        for _ in range(self._n(1200)):
            oid = self._new_id("orders", "O")
            customer = self.customers[self.rng.choice(customer_ids)]
            order = {"order_id": oid, "customer_id": customer["customer_id"], "order_ts": clock.tick(),
                     "status": "placed", "ship_country": customer["country"], "op": "I"}
            order["updated_at"] = order["order_ts"]
            orders.records.append(order)
            orders.counts["inserts"] += 1
            lines = []
            for line_no in range(1, self.rng.randint(1, 4) + 1):
                product = self.products[self.rng.choice(product_ids)]
                line = {"order_id": oid, "line_no": line_no, "product_id": product["product_id"],
                        "quantity": self.rng.randint(1, 5), "unit_price": product["price"],
                        "updated_at": order["updated_at"], "op": "I"}
                lines.append(line)
                items.records.append(line)
                items.counts["inserts"] += 1
            self.items[oid] = lines
            if self.rng.random() < 0.03:  # paid within the same day: the first version is superseded
                order = dict(order, status="paid", updated_at=clock.tick(), op="U")
                orders.records.append(order)
                orders.counts["superseded"] += 1
            self.orders[oid] = order
        if not earlier:
            return
        touched = self.rng.sample(earlier, k=min(len(earlier), self._n(300)))
        deleted = touched[: max(1, len(touched) // 50)]
        for oid in touched[len(deleted):]:  # late updates: the order moves on, or is cancelled
            current = self.orders[oid]
            if current["status"] in ("delivered", "cancelled"):
                continue
            status = "cancelled" if self.rng.random() < 0.05 else STATUS_FLOW[current["status"]]
            self.orders[oid] = dict(current, status=status, updated_at=clock.tick(), op="U")
            orders.records.append(self.orders[oid])
            orders.counts["updates"] += 1
        for oid in deleted:  # fraud: the order and its lines are deleted at the source
            ts = clock.tick()
            orders.records.append(dict(self.orders.pop(oid), updated_at=ts, op="D"))
            orders.counts["deletes"] += 1
            for line in self.items.pop(oid):
                items.records.append(dict(line, updated_at=ts, op="D"))
                items.counts["deletes"] += 1

    # -- defects -----------------------------------------------------------------------
    def _junk(self, dataset: str, clock: _Clock, day: date) -> dict:
        """A record of a key never used again, to be damaged."""
        if dataset == "customers":
            return self._customer(clock, day)
        if dataset == "products":
            return self._product(clock)
        oid = self._new_id("orders", "O")
        ts = clock.tick()
        if dataset == "orders":
            return {"order_id": oid, "customer_id": "C0000001", "order_ts": ts, "status": "placed",
                    "ship_country": "DE", "updated_at": ts, "op": "I"}
        return {"order_id": oid, "line_no": 1, "product_id": "P0000001", "quantity": 1,
                "unit_price": "9.99", "updated_at": ts, "op": "I"}

    def _inject_defects(self, dataset: str, batch: Batch, clock: _Clock, day: date) -> None:
        valid = len(batch.records)
        insert_keys = {}
        for r in batch.records:
            insert_keys.setdefault(_key(dataset, r), []).append(r)
        single_inserts = [v[0] for v in insert_keys.values() if len(v) == 1 and v[0]["op"] == "I"]
        for r in self.rng.sample(single_inserts, k=min(len(single_inserts), round(valid * DUPLICATE_RATE))):
            batch.records.append(dict(r))
            batch.counts["duplicates"] += 1
        null_column, (bad_column, bad_value) = DEFECTS[dataset]
        for _ in range(round(valid * NULL_RATE)):
            batch.records.append(dict(self._junk(dataset, clock, day), **{null_column: None}))
            batch.counts["null_required"] += 1
        for _ in range(round(valid * OUT_OF_RANGE_RATE)):
            batch.records.append(dict(self._junk(dataset, clock, day), **{bad_column: bad_value}))
            batch.counts["out_of_range"] += 1
        if dataset == "orders":
            for _ in range(round(valid * ORPHAN_RATE)):
                batch.records.append(dict(self._junk(dataset, clock, day), customer_id=ORPHAN_CUSTOMER))
                batch.counts["orphans"] += 1
        for i in range(round(valid * MALFORMED_RATE)):
            batch.extra_lines.append(_malformed(dataset, self._junk(dataset, clock, day), variant=i))
            batch.counts["malformed"] += 1
        batch.counts["rows"] = len(batch.records) + len(batch.extra_lines)


def _key(dataset: str, record: dict) -> tuple:
    return (record["order_id"], record["line_no"]) if dataset == "order_items" else (record[COLUMNS[dataset][0]],)


def _csv_line(values: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(["" if v is None else v for v in values])
    return buf.getvalue()


def _json_line(dataset: str, record: dict) -> str:
    out = {}
    for col in COLUMNS[dataset]:
        value = record.get(col)
        if col in ("price", "unit_price") and value is not None:
            value = float(value)  # numbers as JSON numbers, as a PIM export would write them
        elif col == "updated_at" and value is not None:
            value = value.replace(" ", "T") + "Z"
        out[col] = value
    return json.dumps(out, ensure_ascii=False)


def _malformed(dataset: str, record: dict, variant: int) -> str:
    values = [record.get(c) for c in COLUMNS[dataset]]
    if FORMATS[dataset] == "csv":
        # Alternate: one field too many, one field too few. Spark's CSV reader flags neither.
        return _csv_line(values + ["unexpected"]) if variant % 2 == 0 else _csv_line(values[:-2])
    line = _json_line(dataset, record)
    return line[: len(line) // 2]  # a record cut off mid-write


def render(dataset: str, batch: Batch, rng: random.Random) -> str:
    if FORMATS[dataset] == "csv":
        lines = [_csv_line([r.get(c) for c in COLUMNS[dataset]]) for r in batch.records]
    else:
        lines = [_json_line(dataset, r) for r in batch.records]
    lines += batch.extra_lines
    rng.shuffle(lines)
    header = [",".join(COLUMNS[dataset])] if FORMATS[dataset] == "csv" else []
    return "\n".join(header + lines) + "\n"


def generate(landing_dir: Path, scale: float = 1.0, seed: int = 42, days: int = 7,
             start_date: date = date(2026, 1, 1), on_batch=None) -> dict:
    """Write `days` daily batches of every dataset and the manifest; return the manifest."""
    gen = Generator(scale, seed)
    manifest = {"seed": seed, "scale": scale, "days": days, "start_date": start_date.isoformat(), "batches": {}}
    for i in range(days):
        day = start_date + timedelta(days=i)
        batch_id = day.isoformat()
        manifest["batches"][batch_id] = {}
        for dataset, batch in gen.day(day, first=(i == 0)).items():
            folder = landing_dir / dataset / batch_id
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{dataset}-{batch_id}.{FORMATS[dataset]}"
            path.write_text(render(dataset, batch, gen.rng), encoding="utf-8")
            manifest["batches"][batch_id][dataset] = batch.counts
        if on_batch:
            on_batch(batch_id)
    manifest["final"] = {
        "customers": {"live_keys": len(gen.customers), "history_rows": gen.customer_versions},
        "products": {"live_keys": len(gen.products)},
        "orders": {"live_keys": len(gen.orders)},
        "order_items": {"live_keys": sum(len(v) for v in gen.items.values())},
    }
    (landing_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest
