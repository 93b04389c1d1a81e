"""Which landing files a dataset reads and the batch (a day) each belongs to: a path pattern
under the dataset's landing path (a spec's `source.files`). Pure: no Spark, no settings.

- `{date}` (YYYY-MM-DD), or `{yyyy}`, `{mm}` and `{dd}` anywhere in the path, name the day:
  `{date}/**` (the default: day folders), `orders_{yyyy}{mm}{dd}.csv`, `{yyyy}/{mm}/{dd}/*.csv`,
  `dt={date}/**`;
- with no date in the pattern, a file belongs to the day it arrived (its modification time, in
  UTC): files land in arrival order, as a drop folder delivers them (`*.csv`);
- `*` is any part of one name, `?` one character of it, `**/` any folders (none too) and a
  final `**` any file below.

A file the pattern does not match, or whose date is not a real day (2026-02-30), belongs to
no batch: discovery reports it, never passes over it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

DEFAULT = "{date}/**"
_PARTS = {"date": r"\d{4}-\d{2}-\d{2}", "yyyy": r"\d{4}", "mm": r"\d{2}", "dd": r"\d{2}"}
_TOKEN = re.compile(r"\*\*/|\*\*$|\*|\?|\{([^}]*)\}|[{}]")


@dataclass(frozen=True)
class FilePattern:
    text: str
    regex: str  # Python's, with a group per date part
    java_regex: str  # the same for Spark SQL's regexp functions (Java names groups otherwise)
    dated: bool

    def batch_of(self, relative: str, modified_ms: int) -> str | None:
        """The batch of the file at `relative` under the landing path: the day its path names,
        or the day it arrived when the pattern names none; None if the pattern does not take it."""
        match = re.fullmatch(self.regex, relative)
        if not match:
            return None
        if not self.dated:
            return datetime.fromtimestamp(modified_ms / 1000, UTC).date().isoformat()
        parts = match.groupdict()
        day = parts.get("date") or f"{parts['yyyy']}-{parts['mm']}-{parts['dd']}"
        try:
            date.fromisoformat(day)
        except ValueError:  # 2026-02-30
            return None
        return day

    @property
    def is_day_folders(self) -> bool:
        """The first folder under the landing path is the batch (an empty one is reported)."""
        return self.text == DEFAULT


def compile_pattern(text: str) -> FilePattern:
    """Raises ValueError saying what is wrong with the pattern."""
    if not text or text.startswith("/") or "\\" in text or ":" in text or any(
            part in ("", ".", "..") for part in text.split("/")):
        raise ValueError(f"{text!r} must be a relative path pattern under the landing path (names separated by "
                         "/, no '.', '..', ':' or '\\')")
    python, java, seen, at = [], [], [], 0
    for token in _TOKEN.finditer(text):
        literal = re.escape(text[at:token.start()])
        python.append(literal)
        java.append(literal)
        at = token.end()
        piece = token.group(0)
        if piece == "**/":
            python.append("(?:[^/]+/)*"), java.append("(?:[^/]+/)*")
        elif piece == "**":
            python.append(".+"), java.append(".+")
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
    if seen and sorted(seen) not in (["date"], ["dd", "mm", "yyyy"]):
        raise ValueError(f"{text!r}: name the day with {{date}}, or with all of {{yyyy}}, {{mm}} and {{dd}} "
                         f"(found {', '.join('{' + s + '}' for s in seen)})")
    return FilePattern(text, "".join(python), "".join(java), bool(seen))
