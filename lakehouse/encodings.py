"""The character sets landing text may be in (a spec's `source.encoding`), by the name Python
knows them and the one Java, which decodes the lines, knows the same table by. Pure.

An explicit table, not Python's name passed to Java: several names mean another table there
(Python's cp932 is Microsoft's Japanese code page, Java's cp932 an IBM one that lands
`10～20` as `10〜20`). Each one is read line by line, so its line break and comma are the
ASCII bytes (no UTF-16 or UTF-32).
"""

from __future__ import annotations

import codecs

JAVA_NAMES = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8", "ascii": "US-ASCII",
    **{f"iso8859-{n}": f"ISO-8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 15)},
    **{f"cp125{n}": f"windows-125{n}" for n in range(9)},
    "cp437": "IBM437", "cp850": "IBM850", "cp852": "IBM852", "cp866": "IBM866",
    "koi8-r": "KOI8-R", "koi8-u": "KOI8-U", "mac-roman": "x-MacRoman",
    "cp932": "windows-31j", "shift_jis": "Shift_JIS", "euc_jp": "EUC-JP",
    "cp949": "x-windows-949", "euc_kr": "EUC-KR",
    "gbk": "GBK", "gb18030": "GB18030", "gb2312": "GB2312",
    "cp950": "x-windows-950", "big5": "Big5", "big5hkscs": "Big5-HKSCS",
    "cp874": "x-windows-874",
}


def canonical(encoding: str) -> str:
    """Python's name of the encoding; ValueError if it is none this table reads."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = None
    if name not in JAVA_NAMES:
        raise ValueError(f"unknown or unsupported encoding {encoding!r}: use one of UTF-8, ISO-8859-1 (latin-1), "
                         "windows-1252 (cp1252) and the other windows-125x, Shift_JIS, cp932, EUC-JP, EUC-KR, "
                         "cp949, GBK, GB18030, Big5, cp950, KOI8-R, ... (an ASCII-compatible character set)")
    return name


def java_charset(encoding: str) -> str:
    return JAVA_NAMES[canonical(encoding)]


def is_utf8(encoding: str) -> bool:
    return java_charset(encoding) == "UTF-8"
