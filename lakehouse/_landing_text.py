"""The text of the generator's landing files: frames rendered as CSV or JSON lines, with numpy.

A frame (see `lakehouse.generate`) is a dict of equal-length numpy columns of codes: ids,
category numbers, cents, epoch seconds. A column spec says how one landing column is made of
them. Rendering never loops over records in Python:

- Lines are built a chunk of rows at a time as a byte matrix, one matrix column per line.
  Every piece of text (a separator, a column's value) fills a band of matrix rows for all lines
  at once, padded to the band's width; a keep-mask of the same shape marks each line's real
  bytes, and `matrix.T[keep.T]` is the chunk's file content. (Column-major, so that building a
  piece writes long contiguous runs, one per byte position.)
- `Lookup`: categorical text through a small table rendered by the csv and json modules
  themselves, so quoting ("Müller, Anna") and escaping are exactly theirs. `Id`, `Number`,
  `Time`, `Day`, `Join`: computed text (digits by arithmetic, dates and times through tables)
  free of the characters CSV quotes and JSON escapes, so JSON just adds quotes.
- Numbers with cents are written as `json.dumps(float(price))` would write a two-decimal price:
  12.5, 3.0, 0.07.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np

ID_DIGITS = 7  # zero-padded; ids past 9,999,999 simply get more digits
CHUNK_ROWS = 1 << 14  # lines rendered at a time: a matrix of a few MB, cache-friendly to transpose
POW10 = 10 ** np.arange(19, dtype=np.int64)


@dataclass(frozen=True)
class Lookup:
    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Id:
    prefix: str
    field: str


@dataclass(frozen=True)
class Number:
    field: str
    cents: bool = False  # an integer number of cents, written as a decimal


@dataclass(frozen=True)
class Time:
    field: str  # epoch seconds


@dataclass(frozen=True)
class Day:
    field: str  # days since 1970-01-01


@dataclass(frozen=True)
class Join:
    parts: tuple  # literals, Lookups and Ids: a computed string (an email, a product name)


Spec = Lookup | Id | Number | Time | Day | Join


def write(path: Path, columns: dict[str, Spec], fmt: str, frame: dict[str, np.ndarray],
          overrides: list[tuple[str, np.ndarray, object]], malformed: np.ndarray, rng: np.random.Generator) -> None:
    """Write the frame's rows as lines in random order (CSV with a header, or JSON lines).

    overrides: (column, row mask, raw value) replacing the column's text where the mask is set
    (a null, an out-of-range value); malformed: rows written broken, alternately with one field
    too many and two too few (CSV), or cut in half (JSON)."""
    variant = (np.cumsum(malformed) - 1) % 2
    order = rng.permutation(len(malformed))
    with open(path, "wb") as out:
        if fmt == "csv":
            out.write((",".join(columns) + "\n").encode())
        for start in range(0, len(order), CHUNK_ROWS):
            rows = order[start:start + CHUNK_ROWS]
            chunk = {name: column[rows] for name, column in frame.items()}
            out.write(_lines(columns, fmt, chunk, [(c, mask[rows], v) for c, mask, v in overrides], malformed[rows],
                             variant[rows]))


class _Piece:
    """Text for n lines: line i's is data[:length[i], i] (length: one int or one per line)."""

    def __init__(self, data: np.ndarray, length):
        self.data, self.length = data, length

    def hide(self, mask: np.ndarray) -> None:
        self.length = np.where(mask, 0, self.length)

    def keep(self) -> np.ndarray:
        return np.broadcast_to(np.arange(len(self.data))[:, None] < self.length, self.data.shape)


def _lines(columns: dict[str, Spec], fmt: str, frame: dict[str, np.ndarray], overrides: list, broken: np.ndarray,
           variant: np.ndarray) -> np.ndarray:
    """The bytes of one chunk's lines."""
    n = len(broken)
    fields = {}  # per column: its separator (`,` / `, "col": `), then its text
    for i, (col, spec) in enumerate(columns.items()):
        sep = ("," if i else "") if fmt == "csv" else ("{" if i == 0 else ", ") + json.dumps(col) + ": "
        fields[col] = [_literal(sep, n), *_pieces(spec, frame, fmt, n)]
    for col, mask, value in overrides:
        if mask.any():
            for piece in fields[col][1:]:
                piece.hide(mask)
            fields[col].append(_literal(_encode(columns[col], value, fmt), n, where=mask))
    end = [_literal("\n" if fmt == "csv" else "}\n", n)]
    if fmt == "csv" and broken.any():  # Spark's CSV reader flags neither an extra field nor missing ones
        for piece in (p for col in list(fields)[-2:] for p in fields[col]):
            piece.hide(broken & (variant == 1))
        end.insert(0, _literal(",unexpected", n, where=broken & (variant == 0)))
    pieces = [p for field in fields.values() for p in field] + end
    matrix, keep = np.vstack([p.data for p in pieces]), np.vstack([p.keep() for p in pieces])
    if fmt == "jsonl" and broken.any():
        _cut_in_half(matrix, keep, broken)
    return matrix.T[keep.T]


def _cut_in_half(matrix: np.ndarray, keep: np.ndarray, broken: np.ndarray) -> None:
    """Keep the first half of the characters of the broken lines (and their newline, the last
    byte): a record cut off mid-write, as `line[: len(line) // 2]`."""
    lines = np.flatnonzero(broken)
    kept = keep[:, lines]
    kept[-1] = False
    starts = kept & ((matrix[:, lines] & 0xC0) != 0x80)  # UTF-8: a byte that starts a character
    chars = np.cumsum(starts, axis=0)
    kept &= chars <= chars[-1] // 2
    kept[-1] = True
    keep[:, lines] = kept


# -- pieces of text ----------------------------------------------------------------------
def _pieces(spec: Spec, frame: dict[str, np.ndarray], fmt: str, n: int) -> list[_Piece]:
    if isinstance(spec, Lookup):
        return [_lookup(_table(spec.values, fmt), frame[spec.field])]
    if isinstance(spec, Number):
        values = frame[spec.field]
        if not spec.cents:
            return [_digits(values)]
        assert (values >= 0).all(), "negative prices are overrides, not frame values"
        return [_digits(values // 100), _lookup(_fractions(fmt), values % 100)]
    text = _raw(spec, frame, fmt, n)
    return [_literal('"', n), *text, _literal('"', n)] if fmt == "jsonl" else text


def _raw(spec, frame: dict[str, np.ndarray], fmt: str, n: int) -> list[_Piece]:
    """Computed text, unquoted (free of what CSV quotes and JSON escapes)."""
    if isinstance(spec, str):
        return [_literal(spec, n)]
    if isinstance(spec, Lookup):
        return [_lookup(_table(spec.values, "raw"), frame[spec.field])]
    if isinstance(spec, Id):
        return [_literal(spec.prefix, n), _digits(frame[spec.field], ID_DIGITS)]
    if isinstance(spec, Day):
        return [_dates(frame[spec.field])]
    if isinstance(spec, Time):
        seconds = frame[spec.field]
        time = [_literal("T", n), _lookup(_time_of_day(), seconds % 86_400), _literal("Z", n)] if fmt == "jsonl" \
            else [_literal(" ", n), _lookup(_time_of_day(), seconds % 86_400)]
        return [_dates(seconds // 86_400), *time]
    assert isinstance(spec, Join), spec
    return [piece for part in spec.parts for piece in _raw(part, frame, fmt, n)]


def _literal(text: str, n: int, where: np.ndarray | None = None) -> _Piece:
    """The same text on every line (or only where `where` is set)."""
    data = np.frombuffer(text.encode(), np.uint8)
    return _Piece(np.broadcast_to(data[:, None], (len(data), n)), len(data) if where is None else where * len(data))


def _lookup(table: tuple[np.ndarray, np.ndarray], codes: np.ndarray) -> _Piece:
    data, lengths = table
    return _Piece(data[:, codes], lengths[codes])


def _digits(values: np.ndarray, width: int = 1) -> _Piece:
    """Decimal digits of non-negative integers, zero-padded to `width`."""
    values = values.astype(np.int64)
    lengths = np.maximum(np.searchsorted(POW10, values, side="right"), width)
    longest = int(lengths.max(initial=width))
    # The j-th digit from the left is values // 10 ** (length - 1 - j) % 10. When all values have
    # one length (ids, small counts), the power is one number per digit: much faster.
    same = bool((lengths == longest).all())
    out = np.empty((longest, len(values)), np.uint8)
    for j in range(longest):
        power = POW10[longest - 1 - j] if same else POW10[np.maximum(lengths - 1 - j, 0)]
        out[j] = values // power % 10 + ord("0")
    return _Piece(out, longest if same else lengths)


def _dates(days: np.ndarray) -> _Piece:
    """ISO dates of days since the epoch (a batch spans a few days: a table of those)."""
    unique, where = np.unique(days, return_inverse=True)
    return _lookup(_encoded([(date(1970, 1, 1) + timedelta(days=int(d))).isoformat() for d in unique]), where)


def _encode(spec: Spec, value, fmt: str) -> str:
    """The text of one raw value in a column, as the csv and json modules would write it."""
    if fmt == "csv":
        return "" if value is None else _csv_field(str(value))
    if isinstance(spec, Number) and spec.cents and value is not None:
        value = float(value)  # prices are JSON numbers, as a PIM export would write them
    return json.dumps(value, ensure_ascii=False)


def _encoded(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Texts as a lookup table: their UTF-8 bytes, one padded matrix column each, and lengths."""
    raw = [t.encode() for t in texts]
    data = np.zeros((max(map(len, raw)), len(raw)), np.uint8)
    for i, b in enumerate(raw):
        data[: len(b), i] = np.frombuffer(b, np.uint8)
    return data, np.array([len(b) for b in raw])


@cache
def _table(values: tuple[str, ...], fmt: str) -> tuple[np.ndarray, np.ndarray]:
    if fmt == "raw":
        assert all(map(_plain, values)), values
        return _encoded(list(values))
    return _encoded([_encode(None, v, fmt) for v in values])


@cache
def _fractions(fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """The text after a price's whole number, by cents: ".07", ".5" (JSON, as repr(12.5)), ".50" (CSV)."""
    if fmt == "csv":
        return _encoded([f".{c:02d}" for c in range(100)])
    return _encoded([repr(float(f"0.{c:02d}"))[1:] for c in range(100)])


@cache
def _time_of_day() -> tuple[np.ndarray, np.ndarray]:
    return _encoded([f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)])


def _csv_field(value: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([value])
    return buf.getvalue()


def _plain(text: str) -> bool:
    """Written as is both by csv (minimal quoting) and by json.dumps(ensure_ascii=False)."""
    return not any(c in ',"\\' or c < " " for c in text)
