"""Which landing files a dataset reads and the batch (a day) each belongs to: a path pattern
under the dataset's landing path (a spec's `source.files`). Pure: no Spark, no settings.

- `{date}` (YYYY-MM-DD), or `{yyyy}`, `{mm}` and `{dd}` anywhere in the path, name the day:
  `{date}/**` (the default: day folders), `orders_{yyyy}{mm}{dd}.csv`, `{yyyy}/{mm}/{dd}/*.csv`,
  `dt={date}/**`;
- a pattern naming no day (`*.csv`, `**`: a drop folder) takes arrival order: a file belongs to
  the batch of the run that first finds it (lakehouse.landing), which the file log then holds.
  Not its modification time, which copies, `mv` and unpacking keep or reset;
- `*` is any part of one name, `?` one character of it, `**/` any folders (none too) and a
  final `/**` any file below.

A file the pattern does not match, or whose date is not a real day (2026-02-30), belongs to
no batch: discovery reports it, never passes over it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date

DEFAULT = "{date}/**"
ARRIVAL = "arrival"  # batch_of a file that a pattern naming no day takes: its run's day (lakehouse.landing)
_PARTS = {"date": r"\d{4}-\d{2}-\d{2}", "yyyy": r"\d{4}", "mm": r"\d{2}", "dd": r"\d{2}"}
_TOKEN = re.compile(r"\*\*/|\*\*$|\*|\?|\{([^}]*)\}|[{}]")


@dataclass(frozen=True)
class FilePattern:
    text: str
    regex: str  # Python's, with a group per date part
    java_regex: str  # the same for Spark SQL's regexp functions (Java names groups otherwise)

    def batch_of(self, relative: str) -> str | None:
        """The batch of the file at `relative` under the landing path: the day its path names
        (ARRIVAL for a pattern naming none); None if the pattern does not take it."""
        match = re.fullmatch(self.regex, relative)
        if not match:
            return None
        if not self.names_day:
            return ARRIVAL
        parts = match.groupdict()
        day = parts.get("date") or f"{parts['yyyy']}-{parts['mm']}-{parts['dd']}"
        try:
            date.fromisoformat(day)
        except ValueError:  # 2026-02-30
            return None
        return day

    @property
    def names_day(self) -> bool:
        """Whether a file's path names its batch; otherwise it takes the day it arrives."""
        return "(?P<" in self.regex

    @property
    def is_day_folders(self) -> bool:
        """The first folder under the landing path is the batch (an empty one is reported)."""
        return self.text == DEFAULT


@functools.cache  # a spec's pattern is asked for by every listing and lookup of its dataset
def compile_pattern(text: str) -> FilePattern:
    """Raises ValueError saying what is wrong with the pattern."""
    parts = text.split("/")
    if not text or text.startswith("/") or "\\" in text or ":" in text or any(
            part in ("", ".", "..") for part in parts):
        raise ValueError(f"{text!r} must be a relative path pattern under the landing path (names separated by "
                         "/, no '.', '..', ':' or '\\')")
    if any(part.startswith((".", "_")) for part in parts):
        raise ValueError(f"{text!r}: names starting with '.' or '_' are markers (_SUCCESS, .crc), never listed")
    if any("**" in part and part != "**" for part in parts):
        raise ValueError(f"{text!r}: '**' is a whole folder name (**/) or the whole last name (/**)")
    python, java, seen, at = [], [], [], 0
    for token in _TOKEN.finditer(text):
        literal = re.escape(text[at:token.start()])
        python.append(literal)
        java.append(literal)
        at = token.end()
        piece = token.group(0)
        if piece == "**/":
            python.append("(?:[^/]+/)*"), java.append("(?:[^/]+/)*")
        elif piece == "**":  # any file below: its names may hold any character but /, as * does
            python.append("[^/]+(?:/[^/]+)*"), java.append("[^/]+(?:/[^/]+)*")
        elif piece == "*":
            python.append("[^/]*"), java.append("[^/]*")
        elif piece == "?":
            python.append("[^/]"), java.append("[^/]")
        elif token.group(1) in _PARTS and token.group(1) not in seen:
            name = token.group(1)
            seen.append(name)
            python.append(f"(?P<{name}>{_PARTS[name]})"), java.append(f"(?:{_PARTS[name]})")
        elif token.group(1) in _PARTS:
            raise ValueError(f"{text!r}: {{{token.group(1)}}} appears twice")
        else:
            raise ValueError(f"{text!r}: unknown placeholder {piece} (use {{date}}, or {{yyyy}}, {{mm}} and {{dd}}); "
                             "'**' is a whole folder (**/) or the end of the pattern")
    python.append(re.escape(text[at:]))
    java.append(re.escape(text[at:]))
    if sorted(seen) not in ([], ["date"], ["dd", "mm", "yyyy"]):
        found = f" (found {', '.join('{' + s + '}' for s in seen)})" if seen else ""
        raise ValueError(f"{text!r}: name the day with {{date}}, or with all of {{yyyy}}, {{mm}} and {{dd}}{found}, "
                         "or none of them (arrival order)")
    return FilePattern(text, "".join(python), "".join(java))
