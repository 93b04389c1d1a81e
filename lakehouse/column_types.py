"""The column types a spec may declare, and a rule's bound or value in a column's type.
Pure: specs validate with it, and every judge of a rule (lakehouse.rules) compares in it."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

SIMPLE_TYPES = {"string", "int", "bigint", "double", "boolean", "date", "timestamp"}
DECIMAL = re.compile(r"^decimal\((\d{1,2}),(\d{1,2})\)$")
INTEGER_RANGES = {"int": (-2**31, 2**31 - 1), "bigint": (-2**63, 2**63 - 1)}


def is_numeric(column_type: str) -> bool:
    return column_type in (*INTEGER_RANGES, "double") or bool(DECIMAL.match(column_type))


def _places(number: Decimal) -> int:
    """Decimal places without trailing zeros: 9999.990 has 2."""
    with localcontext() as context:
        context.prec = 100  # more digits than any column holds: normalize() must not round
        return -min(number.normalize().as_tuple().exponent, 0)


def in_column_type(value: str | Decimal, column_type: str) -> str | Decimal:
    """A rule's bound or accepted value as the column holds it: an exact Decimal for a numeric
    column (whole for int and bigint), the text for any other. Raises ValueError saying why
    the column's type cannot hold it: a bound must mean what the spec says, so it is never
    rounded into the type."""
    if not is_numeric(column_type):
        return str(value)
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value} is not a finite number")
    decimal = DECIMAL.match(column_type)
    if decimal:
        precision, scale = int(decimal[1]), int(decimal[2])
        if _places(number) > scale:
            raise ValueError(f"{value} has more decimal places than the scale of {column_type} ({scale})")
        if abs(number) >= 10 ** (precision - scale):
            raise ValueError(f"{value} has more digits before the point than {column_type} holds ({precision - scale})")
        return number
    if column_type in INTEGER_RANGES:
        low, high = INTEGER_RANGES[column_type]
        if number != number.to_integral_value():
            raise ValueError(f"{value} is not a whole number, and {column_type} holds only whole numbers")
        if not low <= number <= high:
            raise ValueError(f"{value} is outside the range of {column_type}")
        return Decimal(int(number))
    return number  # double: compared as the nearest double, as Spark casts the router's literal
