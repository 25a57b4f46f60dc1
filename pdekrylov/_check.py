"""Argument checks shared by the typed specs (problem sections, `TrainConfig`).

Each raises `TypeError` (wrong kind of value) or `ValueError` (a value out of range)
with a message that starts with the argument's name, so that the problem-file reader can
prefix the file and section and the CLI can print it as one line.
"""

import math
from collections.abc import Sequence


def check_choice(name: str, value, choices) -> str:
    """`value` if it is one of `choices` (any container of names), else `ValueError`."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")
    return value


def check_int(name: str, value, low: int | None = None) -> int:
    """`value` if it is an int (not a bool) `>= low`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value}")
    return value


def check_number(name: str, value, *, positive: bool = False, low=None, high=None) -> float:
    """`value` as a float if it is a finite real number within the bounds given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{name}: expected a value >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name}: expected a value <= {high}, got {value!r}")
    return value


def check_tolerance(name: str, value) -> float:
    """`value` as a float if it is a relative tolerance: a number in `(0, 1)`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{name}: expected a number in (0, 1), got {value!r}")
    return float(value)


def check_sequence(name: str, values, check, *, length: int | None = None, **bounds) -> tuple:
    """`values` as a tuple, every item passed through `check(name, item, **bounds)`."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name}: expected a list, got {values!r}")
    if length is not None and len(values) != length:
        raise ValueError(f"{name}: expected {length} values, got {len(values)}")
    return tuple(check(name, item, **bounds) for item in values)
