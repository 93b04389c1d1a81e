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

How, vectorised (millions of order lines in seconds, not a Python loop per record):

- Entities are numpy columns (`_Table`), one row per id ever issued (id = row + 1): customers
  and products with their current version, orders with their status, placement time and
  their lines' rows in a lines table. Defect records take ids from the same sequences and
  stay in the tables as rows that are never live.
- Each day draws whole columns from its own numpy Generator, seeded by (seed, day number):
  which entities change and how, what the new ones look like. A day depends only on the state
  the earlier days left, so a k-day run writes the same files as the first k days of a longer
  one (prefix-stable).
- A batch's records are frames: dicts of equal-length numpy columns of codes (ids, category
  numbers, cents), each record at an event position of the day's `_Clock`. Once the day's
  events are counted they get times: strictly increasing while the day has a second for each
  event, non-decreasing beyond (versions of one key still strictly ordered).
- `lakehouse._landing_text` renders frames to CSV / JSON lines as numpy byte matrices, shuffles
  and writes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from lakehouse._landing_text import Day, Id, Join, Lookup, Number, Time, write

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
ORPHAN_CUSTOMER = "CX0000000"  # never generated: real customer ids are C + 7 (or more) digits

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
COUNTS = ["inserts", "updates", "deletes", "superseded", "duplicates", "null_required", "malformed", "out_of_range",
          "orphans"]

# Codes in frames and tables. Status codes follow the flow: the next status is code + 1.
STATUSES = ["placed", "paid", "shipped", "delivered", "cancelled"]
PLACED, PAID, SHIPPED, DELIVERED, CANCELLED = range(5)
OPS = ["I", "U", "D"]
INSERT, UPDATE, DELETE = range(3)
VALID, NULL, OUT_OF_RANGE, ORPHAN, MALFORMED = range(5)  # a record's defect
# Customer names: code = (comma * len(FIRST) + first) * len(LAST) + last. Some names carry a
# comma, so CSV quoting is exercised.
FULL_NAMES = [f"{last}, {first}" if comma else f"{first} {last}"
              for comma in (0, 1) for first in FIRST for last in LAST]
EMAIL_NAMES = [f"{first}.{last}".lower().replace(" ", "") for _ in (0, 1) for first in FIRST for last in LAST]
DAY_SECONDS = 86_000  # events end by 23:53:20: room for a version one second after the last

# How each landing column is made of a frame's columns (see lakehouse._landing_text).
TEXT = {
    "customers": {"customer_id": Id("C", "id"), "email": Join((Lookup("name", tuple(EMAIL_NAMES)), ".", Id("c", "id"),
                                                               "@example.com")),
                  "full_name": Lookup("name", tuple(FULL_NAMES)), "country": Lookup("country", tuple(COUNTRIES)),
                  "segment": Lookup("segment", tuple(SEGMENTS)), "signup_date": Day("signup"),
                  "updated_at": Time("updated_at"), "op": Lookup("op", tuple(OPS))},
    "products": {"product_id": Id("P", "id"),
                 "name": Join((Lookup("name_category", tuple(c.title() for c in CATEGORIES)), " item ", Id("", "id"))),
                 "category": Lookup("category", tuple(CATEGORIES)), "price": Number("price", cents=True),
                 "updated_at": Time("updated_at"), "op": Lookup("op", tuple(OPS))},
    "orders": {"order_id": Id("O", "id"), "customer_id": Id("C", "customer"), "order_ts": Time("order_ts"),
               "status": Lookup("status", tuple(STATUSES)), "ship_country": Lookup("country", tuple(COUNTRIES)),
               "updated_at": Time("updated_at"), "op": Lookup("op", tuple(OPS))},
    "order_items": {"order_id": Id("O", "order"), "line_no": Number("line_no"), "product_id": Id("P", "product"),
                    "quantity": Number("quantity"), "unit_price": Number("price", cents=True),
                    "updated_at": Time("updated_at"), "op": Lookup("op", tuple(OPS))},
}
# The fields of a record that are its entity's current version (the rest: id, ev, op, defect).
FIELDS = {"customers": ("name", "country", "segment", "signup"), "products": ("name_category", "category", "price"),
          "orders": ("customer", "country", "status"),
          "order_items": ("order", "line_no", "product", "quantity", "price")}

Frame = dict[str, np.ndarray]


@dataclass
class Batch:
    """The records of one dataset's batch (frames), and how many of each kind."""

    frames: list[Frame] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def add(self, kind: str, frame: Frame) -> None:
        self.frames.append(frame)
        self.counts[kind] += len(frame["ev"])


class _Table:
    """Entities as numpy columns, row = id - 1. Capacity doubles, so a day's rows append cheaply."""

    def __init__(self, **dtypes):
        self._cols = {name: np.zeros(1024, dtype) for name, dtype in dtypes.items()}
        self.size = 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cols[name][: self.size]  # a view: writes go to the table

    def append(self, n: int, **values) -> np.ndarray:
        """Add n rows (columns not given are 0 / False); return their ids."""
        capacity = len(next(iter(self._cols.values())))
        if self.size + n > capacity:
            for name, col in self._cols.items():
                self._cols[name] = np.zeros(max(2 * capacity, self.size + n), col.dtype)
                self._cols[name][: self.size] = col[: self.size]
        for name, value in values.items():
            self._cols[name][self.size: self.size + n] = value
        self.size += n
        return np.arange(self.size - n + 1, self.size + 1)


class _Clock:
    """The day's events in order. Records hold an event position; times are drawn once all the
    day's events are known, so they fit in the day at any scale."""

    def __init__(self):
        self.events = 0

    def take(self, n: int) -> np.ndarray:
        self.events += n
        return np.arange(self.events - n, self.events)

    def seconds(self, rng: np.random.Generator) -> np.ndarray:
        """Seconds after midnight per event: distinct seconds (strictly increasing) when the day
        has enough of them, else non-decreasing; never later than DAY_SECONDS."""
        if self.events <= DAY_SECONDS:
            return 1 + np.sort(rng.choice(DAY_SECONDS, self.events, replace=False, shuffle=False))
        return 1 + np.sort(rng.integers(0, DAY_SECONDS, self.events))


def _frame(ev: np.ndarray, op: int, defect: int = VALID, **columns) -> Frame:
    n = len(ev)
    frame = {name: np.full(n, value) if np.isscalar(value) else value for name, value in columns.items()}
    return dict(frame, ev=ev, op=np.full(n, op, np.int8), defect=np.full(n, defect, np.int8))


def _versions(table: _Table, dataset: str, rows: np.ndarray, ev: np.ndarray, op: int) -> Frame:
    """Records of the current versions of an entity table's rows."""
    return _frame(ev, op, id=rows + 1, **{name: table[name][rows] for name in FIELDS[dataset]})


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """starts[0], starts[0] + 1, ... (counts[0] values), then starts[1], ...: rows of several ranges."""
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())


def _concat(frames: list[Frame]) -> Frame:
    return {name: np.concatenate([f[name] for f in frames]) for name in frames[0]}


def _epoch_day(day: date) -> int:
    return (day - date(1970, 1, 1)).days


class Generator:
    def __init__(self, scale: float, seed: int):
        self.scale, self.seed = scale, seed
        self.customers = _Table(name=np.int16, country=np.int8, segment=np.int8, signup=np.int32, live=bool)
        self.products = _Table(name_category=np.int8, category=np.int8, price=np.int32, live=bool)
        # ts: placement time in epoch seconds; on the day of placement, the event position until
        # the day's clock is resolved. first_line/lines: the order's rows in self.lines.
        self.orders = _Table(customer=np.int32, country=np.int8, status=np.int8, ts=np.int64, first_line=np.int64,
                             lines=np.int8, live=bool)
        self.lines = _Table(order=np.int32, line_no=np.int8, product=np.int32, quantity=np.int8, price=np.int32)
        self.customer_versions = 0

    def _n(self, base: float) -> int:
        return max(1, round(base * self.scale))

    def day(self, index: int, day: date) -> tuple[dict[str, Frame], dict[str, dict[str, int]]]:
        """The day's batches: one frame per dataset, and the manifest's counts."""
        rng = np.random.default_rng([self.seed % 2**64, index])  # entropy must be non-negative
        clock, first_order = _Clock(), self.orders.size
        batches = {name: Batch() for name in COLUMNS}
        # Products and customers change first, so the day's orders see their current versions.
        self._products_day(batches["products"], rng, clock, first=index == 0)
        self._customers_day(batches["customers"], rng, clock, day, first=index == 0)
        self._orders_day(batches["orders"], batches["order_items"], rng, clock)
        for name, batch in batches.items():
            self._inject_defects(name, batch, rng, clock, day)
        frames = self._stamp({name: _concat(b.frames) for name, b in batches.items()}, clock, rng, day, first_order)
        return frames, {name: dict(b.counts, rows=sum(b.counts.values())) for name, b in batches.items()}

    # -- valid changes -----------------------------------------------------------------
    def _new_customers(self, rng, clock: _Clock, day: date, n: int) -> Frame:
        name = ((rng.random(n) < 0.1) * len(FIRST) + rng.integers(0, len(FIRST), n)) * len(LAST) + \
            rng.integers(0, len(LAST), n)
        ids = self.customers.append(n, name=name, country=rng.integers(0, len(COUNTRIES), n),
                                    segment=rng.integers(0, len(SEGMENTS), n), signup=_epoch_day(day))
        return _versions(self.customers, "customers", ids - 1, clock.take(n), INSERT)

    def _new_products(self, rng, clock: _Clock, n: int) -> Frame:
        # A name says its product's category ("Books item P000012" is in books). The names
        # were once drawn apart from the categories; that draw stays, so that a seed makes
        # the same sample as before in every other value.
        rng.integers(0, len(CATEGORIES), n)
        category = rng.integers(0, len(CATEGORIES), n)
        ids = self.products.append(n, name_category=category, category=category, price=rng.integers(200, 50_001, n))
        return _versions(self.products, "products", ids - 1, clock.take(n), INSERT)

    def _products_day(self, batch: Batch, rng, clock: _Clock, first: bool) -> None:
        existing = np.flatnonzero(self.products["live"])
        new = self._new_products(rng, clock, self._n(150 if first else 3))
        self.products["live"][new["id"] - 1] = True
        batch.add("inserts", new)
        if first:
            return
        # Price rises, on products from earlier days: a key changes at most once per batch.
        rows = rng.choice(existing, min(len(existing), self._n(4)), replace=False)
        price = self.products["price"]
        price[rows] = (price[rows] * 105 + 50) // 100  # +5%, in whole cents
        batch.add("updates", _versions(self.products, "products", rows, clock.take(len(rows)), UPDATE))

    def _customers_day(self, batch: Batch, rng, clock: _Clock, day: date, first: bool) -> None:
        existing = np.flatnonzero(self.customers["live"])
        new = self._new_customers(rng, clock, day, self._n(800 if first else 40))
        self.customers["live"][new["id"] - 1] = True
        self.customer_versions += len(new["id"])
        batch.add("inserts", new)
        if first:
            return
        changed = rng.choice(existing, min(len(existing), self._n(30)), replace=False)
        deleted, updated = changed[: max(1, len(changed) // 10)], changed[max(1, len(changed) // 10):]
        # A move or a new segment: a new SCD2 version. Adding 1..k-1 modulo k picks another value.
        moves = rng.random(len(updated)) < 0.5
        for column, rows, k in (("country", updated[moves], len(COUNTRIES)),
                                ("segment", updated[~moves], len(SEGMENTS))):
            self.customers[column][rows] = (self.customers[column][rows] + rng.integers(1, k, len(rows))) % k
        self.customer_versions += len(updated)
        batch.add("updates", _versions(self.customers, "customers", updated, clock.take(len(updated)), UPDATE))
        # Right to be forgotten: the current version is closed.
        self.customers["live"][deleted] = False
        batch.add("deletes", _versions(self.customers, "customers", deleted, clock.take(len(deleted)), DELETE))

    def _orders_day(self, orders: Batch, items: Batch, rng, clock: _Clock) -> None:
        earlier = np.flatnonzero(self.orders["live"])
        customers, products = np.flatnonzero(self.customers["live"]), np.flatnonzero(self.products["live"])
        n = self._n(1200)
        buyers = customers[rng.integers(0, len(customers), n)]
        lines = rng.integers(1, 5, n)
        ev = clock.take(n)
        first_line = self.lines.size + np.cumsum(lines) - lines
        ids = self.orders.append(n, customer=buyers + 1, country=self.customers["country"][buyers], status=PLACED,
                                 ts=ev, first_line=first_line, lines=lines, live=True)
        orders.add("inserts", _versions(self.orders, "orders", ids - 1, ev, INSERT))
        # Lines are bought at the product's current price, and written with their order.
        product = products[rng.integers(0, len(products), lines.sum())]
        rows = self.lines.append(len(product), order=np.repeat(ids, lines), line_no=_ranges(np.ones(n, int), lines),
                                 product=product + 1, quantity=rng.integers(1, 6, len(product)),
                                 price=self.products["price"][product]) - 1
        items.add("inserts", self._lines(rows, np.repeat(ev, lines), INSERT))
        # Paid within the same day: the placed version is superseded.
        paid = ids[rng.random(n) < 0.03] - 1
        self.orders["status"][paid] = PAID
        orders.add("superseded", _versions(self.orders, "orders", paid, clock.take(len(paid)), UPDATE))
        if not len(earlier):
            return
        touched = rng.choice(earlier, min(len(earlier), self._n(300)), replace=False)
        deleted, moved = touched[: max(1, len(touched) // 50)], touched[max(1, len(touched) // 50):]
        # Late updates: the order moves on, or is cancelled; delivered and cancelled ones stay.
        status = self.orders["status"]
        moved = moved[status[moved] < DELIVERED]
        status[moved] = np.where(rng.random(len(moved)) < 0.05, CANCELLED, status[moved] + 1)
        orders.add("updates", _versions(self.orders, "orders", moved, clock.take(len(moved)), UPDATE))
        # Fraud: the order and all its lines are deleted at the source, at one time.
        ev = clock.take(len(deleted))
        self.orders["live"][deleted] = False
        orders.add("deletes", _versions(self.orders, "orders", deleted, ev, DELETE))
        counts = self.orders["lines"][deleted]
        items.add("deletes", self._lines(_ranges(self.orders["first_line"][deleted], counts), np.repeat(ev, counts),
                                         DELETE))

    def _lines(self, rows: np.ndarray, ev: np.ndarray, op: int) -> Frame:
        return _frame(ev, op, **{name: self.lines[name][rows] for name in FIELDS["order_items"]})

    # -- defects -----------------------------------------------------------------------
    def _junk(self, dataset: str, rng, clock: _Clock, day: date, n: int, defect: int) -> Frame:
        """n records of fresh keys that are never used again (never live), to be damaged."""
        if dataset == "customers":
            frame = self._new_customers(rng, clock, day, n)
        elif dataset == "products":
            frame = self._new_products(rng, clock, n)
        else:  # orders and order_items both take order ids
            ev = clock.take(n)
            ids = self.orders.append(n, customer=1, country=COUNTRIES.index("DE"), status=PLACED, ts=ev,
                                     first_line=self.lines.size)
            frame = _versions(self.orders, "orders", ids - 1, ev, INSERT) if dataset == "orders" else \
                _frame(ev, INSERT, order=ids, line_no=1, product=1, quantity=1, price=999)
        frame["defect"][:] = defect
        return frame

    def _inject_defects(self, dataset: str, batch: Batch, rng, clock: _Clock, day: date) -> None:
        valid = _concat(batch.frames)
        n = len(valid["ev"])
        # Duplicates copy inserts whose key has no other record in the batch (not a superseded one).
        key = valid["order"].astype(np.int64) * 8 + valid["line_no"] if dataset == "order_items" else valid["id"]
        _, where, per_key = np.unique(key, return_inverse=True, return_counts=True)
        single = np.flatnonzero((valid["op"] == INSERT) & (per_key[where] == 1))
        copies = rng.choice(single, min(len(single), round(n * DUPLICATE_RATE)), replace=False)
        batch.add("duplicates", {name: column[copies] for name, column in valid.items()})
        for kind, defect, rate in (("null_required", NULL, NULL_RATE),
                                   ("out_of_range", OUT_OF_RANGE, OUT_OF_RANGE_RATE),
                                   ("orphans", ORPHAN, ORPHAN_RATE if dataset == "orders" else 0),
                                   ("malformed", MALFORMED, MALFORMED_RATE)):
            batch.add(kind, self._junk(dataset, rng, clock, day, round(n * rate), defect))

    # -- times -------------------------------------------------------------------------
    def _stamp(self, frames: dict[str, Frame], clock: _Clock, rng, day: date, first_order: int) -> dict[str, Frame]:
        """Turn event positions into epoch seconds: records' updated_at, the day's orders' ts."""
        times = _epoch_day(day) * 86_400 + clock.seconds(rng)
        placed = self.orders["ts"][first_order:]
        placed[:] = times[placed]
        for frame in frames.values():
            frame["updated_at"] = times[frame["ev"]]
        orders = frames["orders"]
        orders["order_ts"] = self.orders["ts"][orders["id"] - 1]
        # With more events than seconds, times may tie: a later version of an order placed today
        # (paid the same day) must still be strictly later than its placement.
        later = orders["op"] != INSERT
        orders["updated_at"][later] = np.maximum(orders["updated_at"][later], orders["order_ts"][later] + 1)
        return frames

    def final(self) -> dict:
        live_orders = self.orders["live"]
        return {
            "customers": {"live_keys": int(self.customers["live"].sum()), "history_rows": self.customer_versions},
            "products": {"live_keys": int(self.products["live"].sum())},
            "orders": {"live_keys": int(live_orders.sum())},
            "order_items": {"live_keys": int(self.orders["lines"][live_orders].sum())},
        }


def generate(landing_dir: Path, scale: float = 1.0, seed: int = 42, days: int = 7,
             start_date: date = date(2026, 1, 1), on_batch=None) -> dict:
    """Write `days` daily batches of every dataset and the manifest; return the manifest."""
    gen = Generator(scale, seed)
    manifest = {"seed": seed, "scale": scale, "days": days, "start_date": start_date.isoformat(), "batches": {}}
    for i in range(days):
        day = start_date + timedelta(days=i)
        batch_id = day.isoformat()
        frames, manifest["batches"][batch_id] = gen.day(i, day)
        shuffle = np.random.default_rng([seed % 2**64, i, 1])  # its own stream: shuffling changes no data
        for dataset, frame in frames.items():
            folder = landing_dir / dataset / batch_id
            folder.mkdir(parents=True, exist_ok=True)
            null_column, (bad_column, bad_value) = DEFECTS[dataset]
            overrides = [(null_column, frame["defect"] == NULL, None),
                         (bad_column, frame["defect"] == OUT_OF_RANGE, bad_value),
                         ("customer_id", frame["defect"] == ORPHAN, ORPHAN_CUSTOMER)]
            write(folder / f"{dataset}-{batch_id}.{FORMATS[dataset]}", TEXT[dataset], FORMATS[dataset], frame,
                  overrides, frame["defect"] == MALFORMED, shuffle)
        if on_batch:
            on_batch(batch_id)
    manifest["final"] = gen.final()
    (landing_dir / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest
