"""Waiting on a condition with a generous deadline, never on wall-clock time: work done by another
process (the worker, a peer server) finishes when it finishes, and a test only asserts the outcome."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], *, seconds: float, explain: Callable[[], str] = str) -> T:
    """Return the first truthy value of `condition()`; fail with `explain()` after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met in {seconds} s\n{explain()}")
        time.sleep(0.2)
