"""Shared command-line pieces: the one-line error boundary and argparse helpers.

Entry modules parse flags and call the core inside `user_errors()`, so a problem with the user's
data ends the program with one line on stderr (exit status 2) instead of a traceback.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from .errors import DataError


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    try:
        yield
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text}")
    return value
