"""Argument types for the operator commands: a bad value is argparse's usage error naming the
option (exit status 2), never a traceback."""

import argparse
import datetime


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number above 0, not {value!r}")
    return number


def iso_date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date like 2024-01-31, not {value!r}") from None
