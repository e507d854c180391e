"""Helpers for the package's step-by-step generators (the ``iter_*`` functions)."""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

Result = TypeVar("Result")


def run_to_end(steps: Generator[object, None, Result]) -> Result:
    """Exhaust a generator, discarding what it yields, and return its return value: the
    synchronous form of an ``iter_*`` function (e.g. ``deconvolve`` of ``iter_deconvolve``)."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value
